package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

type smReq struct {
	Name string `json:"name"`
	N    int64  `json:"n"`
}
type smResp struct {
	Greeting string `json:"greeting"`
	N        int64  `json:"n"`
}

func TestSmokeGRPC(t *testing.T) {
	srv := native.NewServer()
	srv.Register("Greet.Hello", func(ctx context.Context, req *smReq, resp *smResp) error {
		resp.Greeting, resp.N = "hello "+req.Name, req.N+1
		return nil
	})
	srv.Register("Blob.Get", func(ctx context.Context, req *smReq, body *io.Reader) error {
		*body = bytes.NewReader(bytes.Repeat([]byte("y"), int(req.N)))
		return nil
	})
	srv.Register("Blob.Put", func(ctx context.Context, body io.Reader, resp *smResp) error {
		n, err := io.Copy(io.Discard, body)
		resp.N = n
		return err
	})
	g, err := New(context.Background(), Local(srv))
	if err != nil {
		t.Fatal(err)
	}
	gs := g.NewGRPCServer()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(l)
	defer gs.Stop()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	set := g.set.Load()
	m := set.lookup("/native.Greet/Hello")
	in := dynamicpb.NewMessage(m.in)
	in.Set(m.in.Fields().ByName("name"), protoreflect.ValueOfString("x"))
	in.Set(m.in.Fields().ByName("n"), protoreflect.ValueOfInt64(1<<60))
	out := dynamicpb.NewMessage(m.out)
	if err := cc.Invoke(context.Background(), "/native.Greet/Hello", in, out); err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	mg := set.lookup("/native.Blob/Get")
	st, err := cc.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true}, "/native.Blob/Get")
	if err != nil {
		t.Fatal(err)
	}
	in = dynamicpb.NewMessage(mg.in)
	in.Set(mg.in.Fields().ByName("n"), protoreflect.ValueOfInt64(3<<20+5))
	st.SendMsg(in)
	st.CloseSend()
	total := 0
	for {
		var hb httpbody.HttpBody
		if err := st.RecvMsg(&hb); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		total += len(hb.Data)
	}
	if total != 3<<20+5 {
		t.Fatal(total)
	}
	up, err := cc.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true}, "/native.Blob/Put")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		up.SendMsg(&httpbody.HttpBody{Data: make([]byte, 1000)})
	}
	up.CloseSend()
	mp := set.lookup("/native.Blob/Put")
	out = dynamicpb.NewMessage(mp.out)
	if err := up.RecvMsg(out); err != nil {
		t.Fatal(err)
	}
	t.Log(out)
}
