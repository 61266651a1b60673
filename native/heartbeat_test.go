package native_test

// Heartbeats: a peer that stops answering is declared dead by PING, on
// both sides, and its calls fail with UNAVAILABLE, never a clean end; a
// peer that is slow but answers PINGs lives. Time is synctest's, so the
// intervals are those of a real deployment without the wait.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/framegate/framegate/native"
)

const (
	pingEvery = 15 * time.Second
	pingWait  = 20 * time.Second
)

// freezable is a transport that can die silently, as a link whose cable
// was pulled or whose peer froze: after freeze, it neither delivers what
// arrives nor sends, and its reads and writes block until it is closed.
type freezable struct {
	net.Conn
	once   sync.Once
	frozen chan struct{}
	closed chan struct{}
	cmu    sync.Once
}

func newFreezable(c net.Conn) *freezable {
	return &freezable{Conn: c, frozen: make(chan struct{}), closed: make(chan struct{})}
}

func (f *freezable) freeze() { f.once.Do(func() { close(f.frozen) }) }

func (f *freezable) dead() error {
	<-f.closed
	return net.ErrClosed
}

func (f *freezable) isFrozen() bool {
	select {
	case <-f.frozen:
		return true
	default:
		return false
	}
}

func (f *freezable) Read(p []byte) (int, error) {
	if f.isFrozen() {
		return 0, f.dead()
	}
	n, err := f.Conn.Read(p)
	if f.isFrozen() {
		return 0, f.dead()
	}
	return n, err
}

func (f *freezable) Write(p []byte) (int, error) {
	if f.isFrozen() {
		return 0, f.dead()
	}
	return f.Conn.Write(p)
}

func (f *freezable) Close() error {
	f.cmu.Do(func() { close(f.closed) })
	return f.Conn.Close()
}

// A server that freezes in the middle of a response stream: the client
// sends a PING after one to two pingEvery of silence, declares the server dead
// pingWait later, and the stream's reader gets UNAVAILABLE naming the
// heartbeat, not an end. The server, hearing nothing either, declares the
// client dead the same way and cancels the handler.
func TestHeartbeatDeadPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hb := native.WithHeartbeat(pingEvery, pingWait)
		srv, _ := newServer(t, hb)
		first := payload(256<<10, 1)
		handlerDone := make(chan error, 1)
		mustRegister(t, srv, "Blob.Stall", func(ctx context.Context, resp *io.Reader) error {
			*resp = &gateReader{ctx: ctx, data: first, gate: make(chan struct{})}
			go func() { <-ctx.Done(); handlerDone <- context.Cause(ctx) }()
			return nil
		})
		cc, sc := net.Pipe()
		fs := newFreezable(sc)
		served := make(chan error, 1)
		go func() { served <- srv.ServeConn(fs) }()
		fc := newFreezable(cc)
		c, err := native.NewClient(fc, hb)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var rc io.ReadCloser
		if err := c.Call(context.Background(), "Blob.Stall", nil, &rc); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(first))
		if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("first part: %v", err)
		}
		start := time.Now()
		fs.freeze()
		fc.freeze()
		rest, err := io.ReadAll(rc)
		waited := time.Since(start)
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("stream of a dead peer ended with %v after %d more bytes", err, len(rest))
		}
		wantCode(t, err, native.CodeUnavailable, "heartbeat")
		// Silence is sampled once per interval: the PING goes out after one
		// to two intervals of it.
		if waited < pingEvery+pingWait || waited > 2*pingEvery+pingWait {
			t.Errorf("the dead server was detected after %v, want between %v and %v", waited, pingEvery+pingWait, 2*pingEvery+pingWait)
		}
		// Calls after the death fail at once, with the same cause.
		wantCode(t, c.Call(context.Background(), "Echo.Unary", &echoReq{}, nil), native.CodeUnavailable, "heartbeat")

		// The server's side: the handler is cancelled, ServeConn returns
		// the heartbeat's error.
		wantCode(t, <-handlerDone, native.CodeUnavailable, "heartbeat")
		wantCode(t, <-served, native.CodeUnavailable, "heartbeat")
	})
}

// A server that accepts a call and then says nothing (a process that froze
// while its socket stays open): a unary call fails with UNAVAILABLE once
// the heartbeat gives up, long before any call deadline.
func TestHeartbeatSilentServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cc, sc := net.Pipe()
		defer sc.Close()
		go func() {
			if serverHandshake(sc) != nil {
				return
			}
			io.Copy(io.Discard, sc) // reads the call and the PINGs; answers nothing
		}()
		c, err := native.NewClient(cc, native.WithHeartbeat(pingEvery, pingWait))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		err = c.Call(context.Background(), "Echo.Unary", &echoReq{Msg: "hi"}, &echoResp{})
		wantCode(t, err, native.CodeUnavailable, "heartbeat")
		if d := time.Since(start); d < pingEvery+pingWait || d > pingEvery+pingWait+time.Second {
			t.Errorf("failed after %v, want %v (a PING after %v of silence, then %v for an answer)", d, pingEvery+pingWait, pingEvery, pingWait)
		}
	})
}

// A peer that is slow but answers PINGs lives: a handler that takes ten
// heartbeat timeouts to answer, and a response stream read one chunk per
// twice the timeout (its sender waiting for credit meanwhile), both end
// well, though for minutes nothing but PINGs and their answers crossed.
func TestHeartbeatSlowPeerLives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hb := native.WithHeartbeat(pingEvery, pingWait)
		srv, _ := newServer(t, hb, native.WithStreamWindow(64<<10))
		mustRegister(t, srv, "Slow.Think", func(ctx context.Context, req *echoReq, resp *echoResp) error {
			select {
			case <-time.After(10 * pingWait):
			case <-ctx.Done():
				return ctx.Err()
			}
			resp.Msg = req.Msg
			return nil
		})
		registerBlobs(t, srv)
		cc, sc := net.Pipe()
		served := make(chan error, 1)
		go func() { served <- srv.ServeConn(sc) }()
		c, err := native.NewClient(cc, hb, native.WithStreamWindow(64<<10), native.WithConnWindow(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		var r echoResp
		if err := c.Call(context.Background(), "Slow.Think", &echoReq{Msg: "patience"}, &r); err != nil || r.Msg != "patience" {
			t.Fatalf("slow handler: %+v, %v", r, err)
		}
		const size = 512 << 10
		var rc io.ReadCloser
		if err := c.Call(context.Background(), "Blob.Get", &blobReq{Size: size, Seed: 7}, &rc); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		buf := make([]byte, 64<<10)
		for {
			time.Sleep(2 * pingWait)
			n, err := rc.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("slow reader, after %d bytes: %v", got.Len(), err)
			}
		}
		if !bytes.Equal(got.Bytes(), payload(size, 7)) {
			t.Fatalf("slow reader got %d bytes, not the stream", got.Len())
		}
		// Uploads too: the handler reads one chunk per twice the timeout.
		mustRegister(t, srv, "Slow.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
			for {
				time.Sleep(2 * pingWait)
				n, err := body.Read(buf)
				resp.N += int64(n)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
			}
		})
		var pr putResp
		if err := c.Call(context.Background(), "Slow.Put", bytes.NewReader(payload(size, 8)), &pr); err != nil || pr.N != size {
			t.Fatalf("slow upload: %+v, %v", pr, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Fatalf("ServeConn: %v", err)
		}
	})
}
