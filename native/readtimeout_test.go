package native_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// WithReadTimeout: a peer silent in the middle of a frame, or of a request
// stream it has not finished, loses the connection after the timeout, with
// an error that says so and without the test closing anything; a peer that
// is merely idle between calls keeps it.
func TestReadTimeout(t *testing.T) {
	const d = 200 * time.Millisecond
	js, stream := native.BodyJSON, native.BodyStream
	pre := clientPreface(native.ProtocolVersion)
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"inside a frame header", cat(pre, hHeader(1, "Echo.Unary", js, js)[:6])},
		{"inside a HEADER payload", cat(pre, hHeader(1, "Echo.Unary", js, js)[:20])},
		{"between the frames of a request stream", cat(pre, hHeader(1, "Blob.Put", stream, js), hData(1, []byte("abc")))},
		{"inside a DATA payload", cat(pre, hHeader(1, "Blob.Put", stream, js), hData(1, make([]byte, 100))[:40])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t, native.WithReadTimeout(d))
			handlerErr := make(chan error, 1)
			mustRegister(t, srv, "Blob.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
				_, err := io.Copy(io.Discard, body)
				handlerErr <- err
				return err
			})
			c, s, err := tcpConns(t)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			serveErr := startServeConn(t, srv, s)
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			readServerPreface(t, c)
			err = serveErr(t) // the test never closes c before this returns
			if native.CodeOf(err) != native.CodeDeadlineExceeded || !strings.Contains(err.Error(), "read timeout: the peer sent nothing for 200ms") {
				t.Fatalf("ServeConn = %v (%v), want a read timeout", err, native.CodeOf(err))
			}
			if strings.Contains(tc.name, "stream") || strings.Contains(tc.name, "DATA") {
				if err := <-handlerErr; err == nil {
					t.Error("the handler read its cut request stream to a clean end")
				}
			}
		})
	}

	t.Run("idle between calls", func(t *testing.T) {
		srv, _ := newServer(t, native.WithReadTimeout(d))
		c, s, err := tcpConns(t)
		if err != nil {
			t.Fatal(err)
		}
		serveErr := startServeConn(t, srv, s)
		client, err := native.NewClient(c)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			var resp echoResp
			if err := client.Call(context.Background(), "Echo.Unary", &echoReq{Msg: "x"}, &resp); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			time.Sleep(3 * d) // idle: no frame is due
		}
		if err := client.Close(); err != nil {
			t.Fatal(err)
		}
		if err := serveErr(t); err != nil {
			t.Fatalf("ServeConn = %v after a clean close", err)
		}
	})
}
