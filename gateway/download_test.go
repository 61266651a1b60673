package gateway

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A stream that ends short of the length it announced fails on every
// face: curl exits non-zero over HTTP/1.1 and HTTP/1.0 (the Content-Length
// is not met), a gRPC client gets DATA_LOSS. (The native face:
// native.TestStreamShortOfItsLength.)
func TestShortStreamFailsEverywhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		u := e.http.URL + "/native.Blob/Short?size=3000000"
		for _, proto := range []string{"--http1.1", "--http1.0"} {
			out, stderr, exit := curl(t, nil, nil, proto, "-D", "/dev/stderr", u)
			if exit == 0 || int64(len(out)) >= 3000000 || !strings.Contains(stderr, "Content-Length: 3000000") {
				t.Errorf("curl %s: exit %d with %d bytes; stderr %s", proto, exit, len(out), stderr)
			}
		}
		d := newDyn(t, e.conn)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st := d.stream(ctx, "native.Blob/Short")
		if err := st.SendMsg(d.in("native.Blob/Short", `{"size":"3000000"}`)); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		md, err := st.Header()
		if err != nil || strings.Join(md.Get("x-content-length"), ",") != "3000000" {
			t.Errorf("gRPC header metadata %v, %v; want x-content-length 3000000", md, err)
		}
		var n int
		for {
			m := d.msg(d.method("native.Blob/Short").Output(), "")
			if err = st.RecvMsg(m); err != nil {
				break
			}
			n += len(field(m, "data").Bytes())
		}
		if status.Code(err) != codes.DataLoss || err == io.EOF || n >= 3000000 {
			t.Errorf("gRPC: %d bytes, then %v; want DATA_LOSS", n, err)
		}
	})
}
