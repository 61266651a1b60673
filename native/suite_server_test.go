package native_test

// Server lifecycle: going away with a stream in flight, Serve and
// Shutdown, a forced shutdown, and Shutdown racing a connection's
// handshake.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/framegate/framegate/native"
)

var serverCases = []suiteCase{
	{name: "ShutdownWithStream", remote: true, run: testShutdownWithStream},
	{name: "ShutdownForced", remote: true, run: testShutdownForced},
}

func testShutdownWithStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	first, rest := payload(1<<20, 1), payload(2<<20, 2)
	gate := make(chan struct{})
	mustRegister(t, srv, "Blob.Gated", func(ctx context.Context, resp *io.Reader) error {
		*resp = &gateReader{ctx: ctx, data: first, gate: gate, rest: rest}
		return nil
	})
	var cl, sl *frameLog
	f := mk(t, srv, logConns(&cl, &sl))
	var rc io.ReadCloser
	if err := f.caller.Call(context.Background(), "Blob.Gated", nil, &rc); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(first))
	if _, err := io.ReadFull(rc, got); err != nil {
		t.Fatal(err)
	}
	// A listener served by the same server tells when Shutdown has begun.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdownErr <- srv.Shutdown(ctx)
	}()
	if err := waitFor(t, serveErr, 5*time.Second, "Serve to return"); !errors.Is(err, native.ErrServerClosed) {
		t.Fatalf("Serve = %v, want ErrServerClosed", err)
	}
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v while a stream was in flight", err)
	default:
	}
	close(gate)
	tail, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(tail, rest) {
		t.Fatalf("rest of the stream: %d bytes, %v", len(tail), err)
	}
	wantCode(t, f.caller.Call(context.Background(), "Echo.Unary", &echoReq{}, nil), native.CodeUnavailable)
	if err := waitFor(t, shutdownErr, 10*time.Second, "Shutdown"); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := f.serveResult(t); err != nil {
		t.Fatalf("ServeConn = %v after going away", err)
	}
	// The server's CLOSE went out at once, while the stream was in
	// flight; the client read both, and acknowledged once the stream ended.
	read, wrote := cl.frames()
	if indexOf(read, native.TypeTrailer) < 0 || indexOf(read, native.TypeClose) < 0 {
		t.Fatalf("client read %v: want a TRAILER and a CLOSE", read)
	}
	if indexOf(wrote, native.TypeCloseAck) < 0 {
		t.Fatalf("client wrote %v: want CLOSE_ACK", wrote)
	}
	// CLOSE carries the last call id the server served: the stream's.
	if p := cl.readPayloads(native.TypeClose); len(p) != 1 || binary.BigEndian.Uint32(p[0]) != 1 {
		t.Fatalf("CLOSE payloads %x, want one with call id 1", p)
	}
	if err := f.client.Close(); err != nil {
		t.Fatalf("Close after going away = %v", err)
	}
	// A server that was shut down serves no more.
	a, b := net.Pipe()
	defer b.Close()
	if err := srv.ServeConn(a); !errors.Is(err, native.ErrServerClosed) {
		t.Fatalf("ServeConn after Shutdown = %v", err)
	}
}

// TestServeShutdown serves a listener of each kind, then shuts down.
func TestServeShutdown(t *testing.T) {
	eachListener(t, func(t *testing.T, tr transport) {
		srv, _ := newServer(t)
		l, dial := tr.listen(t)
		serveErr := make(chan error, 1)
		go func() { serveErr <- srv.Serve(l) }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var clients []*native.Client
		for range 3 {
			c, err := dial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
			checkEcho(t, c, len(clients))
		}
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if err := waitFor(t, serveErr, 5*time.Second, "Serve"); !errors.Is(err, native.ErrServerClosed) {
			t.Fatalf("Serve = %v, want ErrServerClosed", err)
		}
		for _, c := range clients {
			wantCode(t, c.Call(ctx, "Echo.Unary", &echoReq{}, nil), native.CodeUnavailable)
			if err := c.Close(); err != nil {
				t.Fatalf("Close after going away = %v", err)
			}
		}
		if _, err := dial(ctx); err == nil {
			t.Fatal("dial after Shutdown succeeded")
		}
		l2, _ := tr.listen(t)
		if err := srv.Serve(l2); !errors.Is(err, native.ErrServerClosed) {
			t.Fatalf("Serve after Shutdown = %v", err)
		}
	})
}

// testShutdownForced shuts down with a handler that waits for its ctx
// before reading its request stream: when Shutdown's ctx expires the
// handler's ctx is cancelled and the connection ends.
func testShutdownForced(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	started := make(chan struct{})
	cause := make(chan error, 1)
	mustRegister(t, srv, "Blob.Wait", func(ctx context.Context, body io.Reader, resp *putResp) error {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	})
	f := mk(t, srv)
	callErr := make(chan error, 1)
	go func() {
		callErr <- f.caller.Call(context.Background(), "Blob.Wait", bytes.NewReader(payload(4<<20, 1)), &putResp{})
	}()
	waitFor(t, started, 5*time.Second, "the handler to start")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(ctx) }()
	if err := waitFor(t, shutdownErr, 5*time.Second, "a forced Shutdown to return"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled")
	wantCode(t, waitFor(t, callErr, 5*time.Second, "the call to fail"), native.CodeUnavailable)
	if err := f.serveResult(t); err == nil {
		t.Fatal("ServeConn = nil for a connection closed by force")
	}
}

// TestShutdownDuringHandshake shuts down while a connection waits for the
// client's preface: the server's first bytes must still be its preface,
// and the connection then goes away cleanly.
func TestShutdownDuringHandshake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _ := newServer(t)
		c, s := net.Pipe()
		defer c.Close()
		serveErr := make(chan error, 1)
		go func() { serveErr <- srv.ServeConn(s) }()
		synctest.Wait() // the server waits for the client's preface
		shutdownErr := make(chan error, 1)
		go func() { shutdownErr <- srv.Shutdown(context.Background()) }()
		synctest.Wait() // Shutdown waits for the connection
		select {
		case err := <-shutdownErr:
			t.Fatalf("Shutdown returned %v before the connection ended", err)
		default:
		}
		go c.Write(clientPreface(native.ProtocolVersion))
		var pre [native.PrefaceLen]byte
		if _, err := io.ReadFull(c, pre[:]); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(pre[:], []byte(prefaceMagic)) {
			t.Fatalf("server's first bytes %q, want its preface", pre)
		}
		h, p := readFrame(t, c)
		if h.Type != native.TypeClose || len(p) != 4 || binary.BigEndian.Uint32(p) != 0 {
			t.Fatalf("after the preface: %v %x, want CLOSE with call id 0 (no call served)", h, p)
		}
		go c.Write(frame(native.FrameHeader{Type: native.TypeCloseAck}, nil))
		if err := <-serveErr; err != nil {
			t.Fatalf("ServeConn = %v after a clean going-away", err)
		}
		if err := <-shutdownErr; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	})
}

// Raw frames, for tests that speak the protocol by hand.

// prefaceMagic opens every preface (PROTOCOL.md).
const prefaceMagic = "FGRPC\r\n"

// clientPreface is a preface announcing version and the default frame
// limit.
func clientPreface(version uint8) []byte {
	return prefaceWith(version, native.DefaultMaxFramePayload)
}

// prefaceWith is a preface announcing the frame payload limit max, and
// the default concurrency and windows.
func prefaceWith(version uint8, max uint32) []byte {
	b := append([]byte(prefaceMagic), version)
	for _, v := range []uint32{max, native.DefaultMaxConcurrentCalls, native.DefaultStreamWindow, native.DefaultConnWindow} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// frame encodes one frame.
func frame(h native.FrameHeader, payload []byte) []byte {
	b := make([]byte, native.FrameHeaderLen, native.FrameHeaderLen+len(payload))
	b[0], b[1] = byte(h.Type), byte(h.Flags)
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[8:], h.Call)
	return append(b, payload...)
}

// readFrame reads one frame.
func readFrame(t *testing.T, r io.Reader) (native.FrameHeader, []byte) {
	t.Helper()
	var b [native.FrameHeaderLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		t.Fatalf("reading a frame header: %v", err)
	}
	h := native.FrameHeader{
		Type: native.FrameType(b[0]), Flags: native.Flags(b[1]),
		Length: binary.BigEndian.Uint32(b[4:]), Call: binary.BigEndian.Uint32(b[8:]),
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatalf("reading the payload of %v: %v", h, err)
	}
	return h, p
}
