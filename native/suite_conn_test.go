package native_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var connCases = []suiteCase{
	{name: "TeardownOrder", remote: true, run: testTeardownOrder},
	{name: "PeerVanishesMidStream", remote: true, run: testPeerVanishes},
	{name: "CloseWithUnreadStream", remote: true, run: testCloseWithUnreadStream},
	{name: "CloseDuringCall", remote: true, run: testCloseDuringCall},
	{name: "Pool", remote: true, run: testPool},
	{name: "PoolEarlyFailure", remote: true, run: testPoolEarlyFailure},
}

func testTeardownOrder(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	var cl, sl *frameLog
	f := mk(t, srv, logConns(&cl, &sl))
	checkEcho(t, f.caller, 1)
	if err := f.client.Close(); err != nil {
		t.Fatalf("Client.Close = %v", err)
	}
	if err := f.serveResult(t); err != nil {
		t.Fatalf("ServeConn = %v after a clean close", err)
	}
	// The server closed its transport after writing CLOSE_ACK, and after
	// reading CLOSE.
	closed, read, wrote := sl.atClose()
	if !closed {
		t.Fatal("the server did not close its transport")
	}
	if len(wrote) == 0 || wrote[len(wrote)-1].Type != native.TypeCloseAck {
		t.Fatalf("server wrote %v before closing, want CLOSE_ACK last", wrote)
	}
	if len(read) == 0 || read[len(read)-1].Type != native.TypeClose {
		t.Fatalf("server read %v before closing, want CLOSE last", read)
	}
	// The client closed its transport after writing CLOSE and reading
	// CLOSE_ACK.
	closed, read, wrote = cl.atClose()
	if !closed {
		t.Fatal("the client did not close its transport")
	}
	if len(read) == 0 || read[len(read)-1].Type != native.TypeCloseAck {
		t.Fatalf("client read %v before closing, want CLOSE_ACK last", read)
	}
	if len(wrote) == 0 || wrote[len(wrote)-1].Type != native.TypeClose {
		t.Fatalf("client wrote %v before closing, want CLOSE last", wrote)
	}
	// Calls after Close fail; Close again is harmless.
	if err := f.client.Call(context.Background(), "Echo.Unary", &echoReq{}, nil); !errors.Is(err, native.ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if err := f.client.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// isConnBroken reports whether a stream's error says the connection broke.
func isConnBroken(err error) bool {
	return errors.Is(err, native.ErrTruncated) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, syscall.EPIPE)
}

func testPeerVanishes(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	first := payload(256<<10, 1)
	mustRegister(t, srv, "Blob.Stall", func(ctx context.Context, resp *io.Reader) error {
		*resp = &gateReader{ctx: ctx, data: first, gate: make(chan struct{})}
		return nil
	})
	f := mk(t, srv)
	var rc io.ReadCloser
	if err := f.caller.Call(context.Background(), "Blob.Stall", nil, &rc); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64<<10)
	if _, err := io.ReadFull(rc, got); err != nil {
		t.Fatal(err)
	}
	f.kill()
	rest, err := io.ReadAll(rc)
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("stream of a vanished peer ended with %v after %d more bytes", err, len(rest))
	}
	if native.CodeOf(err) != native.CodeUnavailable || !isConnBroken(err) {
		t.Fatalf("stream error %v (code %v), want CodeUnavailable and ErrTruncated or a connection error", err, native.CodeOf(err))
	}
	if !bytes.Equal(append(got, rest...), first[:len(got)+len(rest)]) {
		t.Fatal("bytes before the error differ from those sent")
	}
	start := time.Now()
	err = f.caller.Call(context.Background(), "Echo.Unary", &echoReq{}, nil)
	wantCode(t, err, native.CodeUnavailable)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("call on a broken connection took %v", el)
	}
	if err := f.serveResult(t); err == nil {
		t.Fatal("ServeConn = nil for a connection that broke")
	}
}

// testCloseWithUnreadStream closes the client while a response stream is
// open and unread: Close aborts the call and still closes cleanly.
func testCloseWithUnreadStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	cause, closed := registerEndless(t, srv)
	f := mk(t, srv)
	var rc io.ReadCloser
	if err := f.caller.Call(context.Background(), "Blob.Endless", nil, &rc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.client.Close() }()
	if err := waitFor(t, done, 4*time.Second, "Client.Close with an unread stream"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled")
	waitFor(t, closed, 5*time.Second, "the handler's stream to be closed")
	if _, err := rc.Read(make([]byte, 10)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Read after Close = %v, want an error", err)
	}
	if err := f.serveResult(t); err != nil {
		t.Fatalf("ServeConn = %v", err)
	}
}

// testCloseDuringCall closes the client while a unary call waits for its
// handler: Close aborts the call, the call fails, and the close handshake
// still completes.
func testCloseDuringCall(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	started := make(chan struct{})
	cause := make(chan error, 1)
	mustRegister(t, srv, "Block", func(ctx context.Context, resp *echoResp) error {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	})
	f := mk(t, srv)
	callErr := make(chan error, 1)
	go func() { callErr <- f.caller.Call(context.Background(), "Block", nil, &echoResp{}) }()
	waitFor(t, started, 5*time.Second, "the handler")
	closeErr := make(chan error, 1)
	go func() { closeErr <- f.client.Close() }()
	if err := waitFor(t, closeErr, 4*time.Second, "Close with a call in flight"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := waitFor(t, callErr, 4*time.Second, "the call to end"); err == nil {
		t.Fatal("a call aborted by Close succeeded")
	}
	waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled")
	if err := f.serveResult(t); err != nil {
		t.Fatalf("ServeConn = %v", err)
	}
}

// newPool returns a pool of size connections to srv made by mk.
func newPool(t *testing.T, mk factory, srv *native.Server, size int) *native.Pool {
	p := native.NewPool(func(ctx context.Context) (*native.Client, error) {
		return mk(t, srv).client, nil
	}, size)
	t.Cleanup(func() { p.Close() })
	return p
}

func testPool(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerBlobs(t, srv)
	p := newPool(t, mk, srv, 4)
	// A call's connection is back in the pool when the call returns (for a
	// stream: when it was read to its end), so sequential calls use one.
	for i := range 20 {
		if i%2 == 0 {
			checkEcho(t, p, i)
			continue
		}
		var rc io.ReadCloser
		if err := p.Call(context.Background(), "Blob.Get", &blobReq{Size: 100, Seed: 1}, &rc); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Dials != 1 || st.Open != 1 || st.Idle != 1 {
		t.Fatalf("stats %+v after sequential calls, want one connection, idle", st)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var maxOpen sync.Mutex
	most := 0
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				n := w*1000 + i
				var err error
				if i%10 == 0 {
					// A stream holds its connection until it is read.
					var rc io.ReadCloser
					if err = p.Call(context.Background(), "Blob.Get", &blobReq{Size: 1000 + n, Seed: uint64(n)}, &rc); err == nil {
						var b []byte
						b, err = io.ReadAll(rc)
						if err == nil && !bytes.Equal(b, payload(1000+n, uint64(n))) {
							err = fmt.Errorf("stream %d: wrong bytes", n)
						}
					}
				} else {
					var r echoResp
					err = p.Call(context.Background(), "Echo.Unary", &echoReq{Msg: fmt.Sprint(n), N: n}, &r)
					if err == nil && (r.Msg != fmt.Sprint(n) || r.N != 2*n) {
						err = fmt.Errorf("call %d got %+v", n, r)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				st := p.Stats()
				maxOpen.Lock()
				most = max(most, st.Open)
				maxOpen.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := p.Stats()
	if most > 4 || st.Open > 4 || st.Dials > 4 || st.Size != 4 {
		t.Fatalf("stats %+v, most open %d: want at most 4 connections", st, most)
	}
	if st.Open != st.Idle || st.Open < 1 {
		t.Fatalf("stats %+v after the calls: want every open connection idle", st)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Call(context.Background(), "Echo.Unary", &echoReq{}, nil); !errors.Is(err, native.ErrClosed) {
		t.Fatalf("call on a closed pool: %v", err)
	}
}

// testPoolEarlyFailure makes calls that fail before they are sent: each
// must give its connection back to the pool.
func testPoolEarlyFailure(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	p := newPool(t, mk, srv, 1)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := p.Call(ctx, "Echo.Unary", make(chan int), nil)
		cancel()
		wantCode(t, err, native.CodeInvalidArgument)
		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		if err := p.Call(ctx, "Echo.Unary", &echoReq{}, nil); native.CodeOf(err) != native.CodeCanceled {
			t.Fatalf("call with a cancelled ctx: %v", err)
		}
		checkEcho(t, p, i)
	}
	if st := p.Stats(); st.Open != 1 || st.Idle != 1 {
		t.Fatalf("stats %+v, want one idle connection", st)
	}
}
