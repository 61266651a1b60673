package native

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
)

type sReq struct{ Name string }
type sResp struct{ Greeting string }

func TestSmoke(t *testing.T) {
	srv := NewServer()
	if err := srv.Register("Greet.Hello", func(ctx context.Context, req *sReq, resp *sResp) error {
		resp.Greeting = "hello " + req.Name
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	srv.Register("Blob.Get", func(ctx context.Context, req *sReq, body *io.Reader) error {
		*body = bytes.NewReader(bytes.Repeat([]byte("x"), 5<<20))
		return nil
	})
	srv.Register("Blob.Put", func(ctx context.Context, body io.Reader, resp *sResp) error {
		n, err := io.Copy(io.Discard, body)
		resp.Greeting = string(rune('0' + n%10))
		return err
	})
	a, b := net.Pipe()
	done := make(chan error)
	go func() { done <- srv.ServeConn(a) }()
	c, err := NewClient(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		var r sResp
		if err := c.Call(ctx, "Greet.Hello", &sReq{Name: "x"}, &r); err != nil || r.Greeting != "hello x" {
			t.Fatal(err, r)
		}
	}
	var rc io.ReadCloser
	if err := c.Call(ctx, "Blob.Get", &sReq{}, &rc); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n != 5<<20 {
		t.Fatal(n, err)
	}
	var r sResp
	if err := c.Call(ctx, "Blob.Put", bytes.NewReader(make([]byte, 3<<20+3)), &r); err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if err := c.Call(ctx, "Nope", nil, &r); CodeOf(err) != CodeUnimplemented {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
