package gateway

// Tests of the remote-backend supervisor against native servers on real TCP
// sockets that are stopped and started again on the same address. The
// package's TestMain (main_test.go) runs goleak over everything; each test
// also checks its own goroutines with goleak.VerifyNone.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/native"
)

type rtEcho struct {
	Text string `json:"text"`
}

// rtServer is a native server on a TCP address that can be stopped and
// started again on the same address.
type rtServer struct {
	t    *testing.T
	addr string
	srv  *native.Server
	wg   sync.WaitGroup
	// release unblocks the Rt.Block stream handler.
	release chan struct{}
}

// startRT serves the test endpoints, plus extra ones, on addr ("" picks a
// free port).
func startRT(t *testing.T, addr string, extra ...string) *rtServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for i := 0; ; i++ { // the old listener's port may take a moment to free
		if l, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &rtServer{t: t, addr: l.Addr().String(), srv: native.NewServer(), release: make(chan struct{})}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.srv.Register("Rt.Echo", func(req *rtEcho, resp *rtEcho) error { *resp = *req; return nil }))
	must(s.srv.Register("Rt.Bytes", func(ctx context.Context, req *rtEcho, out *io.Reader) error {
		*out = strings.NewReader(strings.Repeat(req.Text, 1000))
		return nil
	}))
	release := s.release
	must(s.srv.Register("Rt.Block", func(ctx context.Context, req *rtEcho, out *io.Reader) error {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(req.Text))
			select {
			case <-release:
				pw.Close()
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
			}
		}()
		*out = pr
		return nil
	}))
	for _, name := range extra {
		must(s.srv.Register(name, func(req *rtEcho, resp *rtEcho) error { *resp = *req; return nil }))
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(l)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop closes the server at once, as a killed process would.
func (s *rtServer) stop() {
	s.srv.Close()
	s.wg.Wait()
}

// checkLeaks fails t if goroutines started during it are still running once
// it and its cleanups are done (call it first: cleanups run last-in first-out).
func checkLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func tcpDial(addr string) DialFunc {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// countingDial is tcpDial that counts the transports not closed yet.
func countingDial(addr string) (DialFunc, *atomic.Int64) {
	var live atomic.Int64
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, err := tcpDial(addr)(ctx)
		if err != nil {
			return nil, err
		}
		live.Add(1)
		return &countedConn{ReadWriteCloser: c, live: &live}, nil
	}, &live
}

type countedConn struct {
	io.ReadWriteCloser
	live *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.ReadWriteCloser.Close()
	c.once.Do(func() { c.live.Add(-1) })
	return err
}

func fastOptions(addr string) RemoteOptions {
	return RemoteOptions{Name: addr, PoolSize: 4, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, ProbeInterval: -1}
}

func servingStatus(t *testing.T, g *Gateway) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := g.Health().Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

func endpointNamesOf(g *Gateway) []string {
	var out []string
	for _, ep := range g.Schema().Endpoints {
		out = append(out, ep.Name)
	}
	return out
}

// waitFor polls cond until it holds or d passes, and returns how long it
// took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func echo(ctx context.Context, c native.Caller, text string) error {
	var out rtEcho
	if err := c.Call(ctx, "Rt.Echo", &rtEcho{Text: text}, &out); err != nil {
		return err
	}
	if out.Text != text {
		return errors.New("echo: got " + out.Text)
	}
	return nil
}

func TestRemoteSupervisorReconnects(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	s := startRT(t, "")
	rb := NewRemoteBackend(tcpDial(s.addr), fastOptions(s.addr))
	defer rb.Close()
	g, err := New(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	if got := endpointNamesOf(g); !slices.Equal(got, []string{"Rt.Block", "Rt.Bytes", "Rt.Echo"}) {
		t.Fatalf("endpoints %v", got)
	}
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v", st)
	}
	if err := echo(ctx, rb, "hi"); err != nil {
		t.Fatal(err)
	}

	// The backend goes away with no call in flight: the supervisor sees
	// the transports end.
	s.stop()
	took := waitFor(t, 5*time.Second, "the backend to be seen down", func() bool { return !rb.Status().Up })
	t.Logf("down detected in %v", took)
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while down %v", st)
	}
	start := time.Now()
	err = echo(ctx, rb, "x")
	if native.CodeOf(err) != native.CodeUnavailable {
		t.Fatalf("call while down: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a call while down took %v; want it to fail fast", d)
	}
	if st := rb.Status(); st.Err == nil || st.Up {
		t.Errorf("status while down: %+v", st)
	}

	// It comes back with one more endpoint.
	s2 := startRT(t, s.addr, "Rt.Extra")
	took = waitFor(t, 5*time.Second, "the backend to be back", func() bool { return rb.Status().Up })
	t.Logf("reconnected in %v", took)
	if got := endpointNamesOf(g); !slices.Contains(got, "Rt.Extra") {
		t.Fatalf("endpoints after return %v", got)
	}
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after return %v", st)
	}
	if err := echo(ctx, rb, "again"); err != nil {
		t.Fatal(err)
	}
	if n := rb.Status().Reconnects; n != 1 {
		t.Errorf("reconnects %d, want 1", n)
	}

	// And back without it.
	s2.stop()
	waitFor(t, 5*time.Second, "the backend to be seen down", func() bool { return !rb.Status().Up })
	startRT(t, s.addr)
	waitFor(t, 5*time.Second, "the backend to be back", func() bool { return rb.Status().Up })
	if got := endpointNamesOf(g); slices.Contains(got, "Rt.Extra") {
		t.Fatalf("endpoints after second return %v", got)
	}
}

func TestRemoteStartsDown(t *testing.T) {
	checkLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rb := NewRemoteBackend(tcpDial(addr), fastOptions(addr))
	defer rb.Close()
	g, err := New(context.Background(), rb)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.Schema().Endpoints); n != 0 {
		t.Fatalf("%d endpoints while the backend is down", n)
	}
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health %v", st)
	}
	if err := echo(context.Background(), rb, "x"); native.CodeOf(err) != native.CodeUnavailable || !strings.Contains(err.Error(), addr) {
		t.Fatalf("call while down: %v", err)
	}
	startRT(t, addr)
	waitFor(t, 5*time.Second, "the backend to come up", func() bool { return rb.Status().Up })
	if n := len(g.Schema().Endpoints); n != 3 {
		t.Fatalf("%d endpoints after the backend came up", n)
	}
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v", st)
	}
	if err := echo(context.Background(), rb, "x"); err != nil {
		t.Fatal(err)
	}
	if n := rb.Status().Reconnects; n != 0 {
		t.Errorf("reconnects %d, want 0 (the first connection is not a reconnect)", n)
	}
}

// A stream cut by the backend's death ends with an error, never io.EOF,
// and the supervisor notices.
func TestRemoteStreamBrokenMidway(t *testing.T) {
	checkLeaks(t)
	s := startRT(t, "")
	dial, live := countingDial(s.addr)
	rb := NewRemoteBackend(dial, fastOptions(s.addr))
	defer rb.Close()
	if _, err := New(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	// native.Pool drops the broken connection from the reader goroutine
	// after the stream reports the error; Pool.Close must not run before
	// (sync.WaitGroup Add racing Wait in native.Pool): wait for every
	// transport to be closed first.
	defer waitFor(t, 5*time.Second, "every transport to be closed", func() bool { return live.Load() == 0 })
	var rc io.ReadCloser
	if err := rb.Call(context.Background(), "Rt.Block", &rtEcho{Text: "first"}, &rc); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first bytes %q, %v", buf, err)
	}
	s.stop()
	rest, err := io.ReadAll(rc)
	if err == nil {
		t.Fatalf("stream ended cleanly after %d more bytes; want an error", len(rest))
	}
	if native.CodeOf(err) != native.CodeUnavailable {
		t.Errorf("stream error %v, want Unavailable", err)
	}
	waitFor(t, 5*time.Second, "the backend to be seen down", func() bool { return !rb.Status().Up })
}

// The periodic probe picks up endpoints registered while the backend runs.
func TestRemoteProbeSeesNewEndpoints(t *testing.T) {
	checkLeaks(t)
	s := startRT(t, "")
	o := fastOptions(s.addr)
	o.ProbeInterval = 20 * time.Millisecond
	rb := NewRemoteBackend(tcpDial(s.addr), o)
	defer rb.Close()
	g, err := New(context.Background(), rb)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Register("Rt.Late", func(req *rtEcho, resp *rtEcho) error { return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Rt.Late to be mounted", func() bool { return slices.Contains(endpointNamesOf(g), "Rt.Late") })
	s.srv.Unregister("Rt.Late")
	waitFor(t, 5*time.Second, "Rt.Late to be unmounted", func() bool { return !slices.Contains(endpointNamesOf(g), "Rt.Late") })
	if !rb.Status().Up || rb.Status().Reconnects != 0 {
		t.Errorf("status %+v: a schema change is not a reconnect", rb.Status())
	}
}

// A hung backend (accepts, never answers) is seen down by the probe's
// timeout.
func TestRemoteHungBackend(t *testing.T) {
	checkLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	o := fastOptions(l.Addr().String())
	o.DialTimeout = 100 * time.Millisecond
	rb := NewRemoteBackend(tcpDial(l.Addr().String()), o)
	defer rb.Close()
	start := time.Now()
	g, err := New(context.Background(), rb)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("New took %v against a hung backend", d)
	}
	if rb.Status().Up || servingStatus(t, g) != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("a hung backend is up: %+v", rb.Status())
	}
}

func TestRemotePoolConcurrency(t *testing.T) {
	checkLeaks(t)
	s := startRT(t, "")
	rb := NewRemoteBackend(tcpDial(s.addr), fastOptions(s.addr))
	defer rb.Close()
	if _, err := New(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			var rc io.ReadCloser
			if err := rb.Call(context.Background(), "Rt.Bytes", &rtEcho{Text: "ab"}, &rc); err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err == nil && !bytes.Equal(b, bytes.Repeat([]byte("ab"), 1000)) {
				err = errors.New("wrong bytes")
			}
			if err != nil {
				errs <- err
			}
			_ = i
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := rb.PoolStats()
	if st.Size != 4 || st.Open > 4 || st.Dials > 4 {
		t.Errorf("pool stats %+v: want at most 4 connections", st)
	}
}

// After Drain, the supervisor no longer touches health: a server shutting
// down keeps NOT_SERVING even if the backend comes back.
func TestRemoteStop(t *testing.T) {
	checkLeaks(t)
	s := startRT(t, "")
	rb := NewRemoteBackend(tcpDial(s.addr), fastOptions(s.addr))
	defer rb.Close()
	g, err := New(context.Background(), rb)
	if err != nil {
		t.Fatal(err)
	}
	g.Drain()
	s.stop()
	startRT(t, s.addr)
	time.Sleep(100 * time.Millisecond)
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after Drain %v", st)
	}
	// Calls still go to the pool.
	if err := echo(context.Background(), rb, "after stop"); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffDelay(t *testing.T) {
	minD, maxD := 100*time.Millisecond, 5*time.Second
	for n, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000} {
		want *= time.Millisecond
		lo := backoffDelay(minD, maxD, n, 0)
		hi := backoffDelay(minD, maxD, n, 0.999999)
		if lo != time.Duration(float64(want)*0.8) {
			t.Errorf("attempt %d: low %v, want %v", n, lo, time.Duration(float64(want)*0.8))
		}
		if hi > maxD || hi < want {
			t.Errorf("attempt %d: high %v, want in [%v, %v]", n, hi, want, maxD)
		}
	}
	if d := backoffDelay(minD, maxD, 1000, 0.5); d != maxD {
		t.Errorf("attempt 1000: %v", d)
	}
}
