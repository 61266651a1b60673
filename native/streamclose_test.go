package native_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// stallingSource yields one chunk, then blocks until released, ignoring the
// handler's context: a server that does not answer an RST in time.
type stallingSource struct {
	first   []byte
	release chan struct{}
}

func (s *stallingSource) Read(p []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(p, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	<-s.release
	return 0, io.EOF
}

// A consumer reads a response stream's frame headers itself between DATA
// frames, so a Read may be blocked in the connection when the stream is
// closed. It must still return soon, with an error and never io.EOF: the
// server ends the response when the RST arrives, whether or not its handler
// heeds its context (and if the server said nothing, the client would give
// the connection up after WithAbortTimeout).
func TestCloseWhileWaitingForNextFrame(t *testing.T) {
	for _, stalled := range []bool{false, true} {
		name := map[bool]string{false: "server answers", true: "server stalls"}[stalled]
		t.Run(name, func(t *testing.T) {
			srv, _ := newServer(t)
			release := make(chan struct{})
			defer close(release)
			mustRegister(t, srv, "Slow.Get", func(ctx context.Context, req *echoReq, body *io.Reader) error {
				if stalled {
					*body = &stallingSource{first: make([]byte, 1000), release: release}
					return nil
				}
				r, w := io.Pipe()
				go func() {
					w.Write(make([]byte, 1000))
					<-ctx.Done() // the RST
					w.CloseWithError(ctx.Err())
				}()
				*body = r
				return nil
			})
			c, s, err := tcpConns(t)
			if err != nil {
				t.Fatal(err)
			}
			go srv.ServeConn(s)
			const abort = 300 * time.Millisecond
			client, err := native.NewClient(c, native.WithAbortTimeout(abort))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			var rc io.ReadCloser
			if err := client.Call(context.Background(), "Slow.Get", &echoReq{}, &rc); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			got := make(chan error, 1)
			go func() {
				_, err := rc.Read(make([]byte, 10))
				got <- err
			}()
			time.Sleep(50 * time.Millisecond) // let Read block on the next frame
			rc.Close()
			select {
			case err := <-got:
				if err == nil || err == io.EOF {
					t.Fatalf("Read after Close = %v, want an error", err)
				}
			case <-time.After(abort + 5*time.Second):
				t.Fatal("Read blocked after Close beyond the abort timeout")
			}
		})
	}
}
