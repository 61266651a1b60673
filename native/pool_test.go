package native_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/framegate/framegate/native"
)

// TestPoolCloseDuringCalls closes a pool while calls are in flight: the
// calls complete, their connections are closed as they come back (after
// Close began waiting), Close returns, and nothing is left running. An
// earlier version counted these closes in a WaitGroup whose Add could race
// with Close's Wait.
func TestPoolCloseDuringCalls(t *testing.T) {
	srv := native.NewServer()
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	if err := srv.Register("Slow.Wait", func(ctx context.Context, req *int, resp *int) error {
		started <- struct{}{}
		<-release
		*resp = *req
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	const n = 4
	p := native.NewPool(func(ctx context.Context) (*native.Client, error) {
		return native.Dial(ctx, "tcp", l.Addr().String())
	}, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			var out int
			errs[i] = p.Call(context.Background(), "Slow.Wait", i, &out)
			if errs[i] == nil && out != i {
				t.Errorf("call %d answered %d", i, out)
			}
		})
	}
	for range n {
		<-started
	}
	closed := make(chan error)
	go func() { closed <- p.Close() }()
	close(release)
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if st := p.Stats(); st.Open != 0 || st.Idle != 0 {
		t.Errorf("after Close: %+v, want no connections", st)
	}
	var out int
	if err := p.Call(context.Background(), "Slow.Wait", 1, &out); native.CodeOf(err) != native.CodeOf(native.ErrClosed) {
		t.Errorf("call after Close = %v, want %v", err, native.ErrClosed)
	}
}

// Client lends the pool's connection without a call on it: work on it
// shares the connection with the calls. Removed, it is closed once its
// calls end, and the pool dials another.
func TestPoolClientRemove(t *testing.T) {
	srv, _ := newServer(t)
	dial, wait := pipeDialer(srv)
	p := native.NewPool(dial, 1)
	c, err := p.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkEcho(t, c, 1)
	checkEcho(t, p, 2)
	if st := p.Stats(); st.Dials != 1 || st.Open != 1 || st.Calls != 0 {
		t.Errorf("after a call on the lent connection and one through the pool: %+v, want 1 dial, 1 open, no call", st)
	}
	if again, err := p.Client(context.Background()); err != nil || again != c {
		t.Errorf("Client again = %p, %v; want the same connection %p", again, err, c)
	}
	p.Remove(c) // closed, as it has no call in flight
	waitUntil(t, "the removed connection closed", func() bool {
		return c.Call(context.Background(), "Echo.Unary", &echoReq{}, &echoResp{}) != nil
	})
	checkEcho(t, p, 3)
	if st := p.Stats(); st.Dials != 2 {
		t.Errorf("after Remove: %d dials, want 2", st.Dials)
	}
	p.Close()
	if _, err := p.Client(context.Background()); err != native.ErrClosed {
		t.Errorf("Client of a closed pool: %v, want ErrClosed", err)
	}
	wait()
}
