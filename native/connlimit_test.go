package native_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// connEvents records a server's connection events.
type connEvents struct {
	mu sync.Mutex
	ev []native.ConnEvent
}

func (r *connEvents) observe(ev native.ConnEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev = append(r.ev, ev)
}

func (r *connEvents) count(k native.ConnEventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.ev {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// At the connection limit, connections that hold a place without a call
// (they sent only the preface, or nothing yet) make room for a new one: the
// one idle the longest is closed, through CLOSE once it has spoken the
// protocol, and a real call gets through.
func TestMaxConnsEvictsIdle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		preface bool
	}{{"preface only", true}, {"nothing sent", false}} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 3
			var events connEvents
			srv, _ := newServer(t, native.WithMaxConns(limit), native.WithConnObserver(events.observe))
			addr := liveServer(t, srv)
			var idle []net.Conn
			for range limit {
				if tc.preface {
					idle = append(idle, openRaw(t, addr))
				} else {
					idle = append(idle, rawConn(t, addr))
				}
			}
			waitUntil(t, "the idle connections registered", func() bool { return srv.Stats().Conns == limit })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := native.Dial(ctx, "tcp", addr)
			if err != nil {
				t.Fatalf("a new connection with %d idle ones at the limit: %v", limit, err)
			}
			defer c.Close()
			checkEcho(t, c, 1)
			if tc.preface {
				if h, _ := readFrame(t, idle[0]); h.Type != native.TypeClose {
					t.Errorf("the oldest idle connection got %v, want CLOSE", h)
				}
			} else {
				// Accepted in an order the test does not see: one of
				// them, closed before its handshake.
				closed := 0
				for _, ic := range idle {
					ic.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := ic.Read(make([]byte, 1)); err == io.EOF {
						closed++
					}
				}
				if closed != 1 {
					t.Errorf("%d of the connections in their handshake closed, want 1", closed)
				}
			}
			if n := events.count(native.ConnEvicted); n != 1 {
				t.Errorf("%d evictions, want 1", n)
			}
			if n := events.count(native.ConnRefused); n != 0 {
				t.Errorf("%d refusals, want 0", n)
			}
		})
	}
}

// When every connection has a call in flight, a new one is refused (closed
// before the handshake) and reported; once the calls end, it gets in.
func TestMaxConnsRefusesWhenAllBusy(t *testing.T) {
	const limit = 2
	var events connEvents
	srv, _ := newServer(t, native.WithMaxConns(limit), native.WithConnObserver(events.observe))
	release := make(chan struct{})
	mustRegister(t, srv, "Block.Wait", func(ctx context.Context, resp *echoResp) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	addr := liveServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range limit {
		c, err := native.Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Call(ctx, "Block.Wait", nil, &echoResp{}); err != nil {
				t.Errorf("held call: %v", err)
			}
		}()
	}
	waitUntil(t, "both calls in flight", func() bool { return srv.Stats().Calls == limit })
	if c, err := native.Dial(ctx, "tcp", addr); err == nil {
		err = c.Call(ctx, "Echo.Unary", &echoReq{}, &echoResp{})
		c.Close()
		if err == nil {
			t.Fatal("a connection over the limit was served while every connection had a call in flight")
		}
	} else {
		wantCode(t, err, native.CodeUnavailable)
	}
	if n := events.count(native.ConnRefused); n != 1 {
		t.Errorf("%d refusals, want 1", n)
	}
	close(release)
	wg.Wait()
	c, err := native.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkEcho(t, c, 1)
}

// waitUntil polls cond every millisecond for up to 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// WithMaxServerCalls bounds the calls of all connections together: past it
// a call is refused at once, on any connection, and reported; a call that
// ends gives its place back, as does one cut short by its connection's end.
func TestMaxServerCalls(t *testing.T) {
	t.Parallel()
	var events connEvents
	srv, _ := newServer(t, native.WithMaxServerCalls(2), native.WithConnObserver(events.observe))
	// A Slow.Wait call with N = i waits for gates[i] or its end.
	gates := []chan struct{}{make(chan struct{}), make(chan struct{})}
	started := make(chan struct{}, 4)
	mustRegister(t, srv, "Slow.Wait", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		started <- struct{}{}
		select {
		case <-gates[req.N]:
		case <-ctx.Done():
		}
		return nil
	})
	addr := liveServer(t, srv)
	dial := func() *native.Client {
		c, err := native.Dial(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	held := make(chan error, 2)
	for _, c := range []*native.Client{a, b} {
		go func() { held <- c.Call(context.Background(), "Slow.Wait", &echoReq{}, &echoResp{}) }()
		<-started
	}
	for _, c := range []*native.Client{a, b} {
		err := c.Call(context.Background(), "Echo.Unary", &echoReq{}, &echoResp{})
		wantCode(t, err, native.CodeResourceExhausted, "too many calls on this server at once (the limit is 2)")
	}
	if n := events.count(native.CallRefused); n != 2 {
		t.Errorf("%d CallRefused events, want 2", n)
	}
	if st := srv.Stats(); st.Calls != 2 {
		t.Errorf("Stats().Calls = %d, want the 2 held", st.Calls)
	}
	close(gates[0])
	for range 2 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	checkEcho(t, a, 1)
	checkEcho(t, b, 2)

	// A call cut short by its connection's end gives its place back too.
	c := dial()
	cut := make(chan error, 1)
	go func() { cut <- c.Call(context.Background(), "Slow.Wait", &echoReq{N: 1}, &echoResp{}) }()
	<-started
	go func() { held <- a.Call(context.Background(), "Slow.Wait", &echoReq{N: 1}, &echoResp{}) }()
	<-started
	wantCode(t, b.Call(context.Background(), "Echo.Unary", &echoReq{}, &echoResp{}), native.CodeResourceExhausted)
	c.Close() // its call ends the connection's way
	<-cut
	waitUntil(t, "the cut call's place is free", func() bool {
		return b.Call(context.Background(), "Echo.Unary", &echoReq{}, &echoResp{}) == nil
	})
	close(gates[1])
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
