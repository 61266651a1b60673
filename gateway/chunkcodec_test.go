package gateway

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Downloads are byte-exact whether the server's codec hands chunks over
// without a copy (NewGRPCServer) or is grpc-go's own (a server built
// around StreamHandler), with empty, small and multi-chunk streams.
func TestChunkHandOff(t *testing.T) {
	e := newEnv(t, "local", WithChunkSize(64<<10))
	own := grpc.NewServer(grpc.UnknownServiceHandler(e.gw.StreamHandler()))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go own.Serve(l)
	defer own.Stop()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := newDyn(t, e.conn)
	for name, conn := range map[string]*grpc.ClientConn{"chunkCodec": e.conn, "proto codec": cc} {
		d.conn = conn
		for _, size := range []int64{0, 1, 64 << 10, 300<<10 + 7} {
			in := d.in("native.Blob/Download", `{"size":"`+strconv.FormatInt(size, 10)+`","seed":"5","contentType":"text/x-t"}`)
			data, types, err := d.download(ctx, "native.Blob/Download", in)
			if err != nil || !bytes.Equal(data, fxData(5, size)) || len(types) == 0 || types[0] != "text/x-t" {
				t.Errorf("%s: %d bytes: got %d bytes, types %v, %v", name, size, len(data), types, err)
			}
			for _, ct := range types[1:] {
				if ct != "" {
					t.Errorf("%s: a later chunk carries content type %q", name, ct)
				}
			}
		}
	}
}
