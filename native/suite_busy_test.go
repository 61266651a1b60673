package native_test

// Busy connections: the call suite again, each case on a connection that
// carries other calls at the same time. Beside the case's own calls run a
// download its reader has stopped reading (a slow consumer holding its
// whole stream window) and a loop of downloads, uploads and small calls.
// The client's windows are small, so flow control works throughout: every
// case's assertions must hold while its frames interleave with the others',
// the stalled stream must stop nobody but itself, and the background calls
// must all end well, byte for byte.
//
// Cases about the connection itself (remote: teardown, a vanishing peer,
// going away) assert on its frames and its end, which other calls would
// change; they run on quiet connections only.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// Windows of a busy client: the stalled stream takes a quarter of the
// connection's window, and every larger stream waits for credit many times.
const (
	busyStreamWindow = 256 << 10
	busyConnWindow   = 1 << 20
	busyStalledSize  = 4 << 20 // the stalled download, read at the end
	busyLoopSize     = 1 << 20 // each download and upload of the loop
)

// busyFactory wraps mk: the fixture's connection carries the background
// calls for as long as the case runs; cleanup checks them.
func busyFactory(mk factory) factory {
	return func(t *testing.T, srv *native.Server, opts ...fixtureOption) *fixture {
		t.Helper()
		registerBusy(t, srv)
		opts = append([]fixtureOption{clientOptions(native.WithStreamWindow(busyStreamWindow), native.WithConnWindow(busyConnWindow))}, opts...)
		f := mk(t, srv, opts...)
		b := startBusy(t, f.caller)
		t.Cleanup(b.stop) // runs before the fixture's cleanup, which closes the client
		return f
	}
}

// registerBusy registers the background calls' endpoints on srv.
func registerBusy(t *testing.T, srv *native.Server) {
	t.Helper()
	mustRegister(t, srv, "Busy.Get", func(ctx context.Context, req *blobReq, resp *io.Reader) error {
		*resp = bytes.NewReader(payload(req.Size, req.Seed))
		return nil
	})
	mustRegister(t, srv, "Busy.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
		h := sha256.New()
		n, err := io.Copy(h, body)
		resp.N, resp.Sum = n, h.Sum(nil)
		return err
	})
	mustRegister(t, srv, "Busy.Echo", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		resp.Msg, resp.N = req.Msg, req.N+1
		return nil
	})
}

// busy is the background of one case.
type busy struct {
	t       *testing.T
	c       native.Caller
	stalled io.ReadCloser
	quit    chan struct{}
	done    chan struct{}
	rounds  atomic.Int64
	err     error // of the loop, read after done
}

// startBusy opens the stalled download (its response has begun: the
// server is sending it) and starts the loop.
func startBusy(t *testing.T, c native.Caller) *busy {
	t.Helper()
	b := &busy{t: t, c: c, quit: make(chan struct{}), done: make(chan struct{})}
	if err := c.Call(context.Background(), "Busy.Get", &blobReq{Size: busyStalledSize, Seed: 99}, &b.stalled); err != nil {
		t.Fatalf("busy: stalled download: %v", err)
	}
	go b.loop()
	return b
}

// loop makes background calls until quit, at least one round.
func (b *busy) loop() {
	defer close(b.done)
	for i := 0; ; i++ {
		if err := b.round(i); err != nil {
			b.err = fmt.Errorf("round %d: %w", i, err)
			return
		}
		b.rounds.Add(1)
		select {
		case <-b.quit:
			return
		default:
		}
	}
}

// round is one download, one upload and one small call, each checked.
func (b *busy) round(i int) error {
	ctx := context.Background()
	seed := uint64(1000 + i)
	var rc io.ReadCloser
	if err := b.c.Call(ctx, "Busy.Get", &blobReq{Size: busyLoopSize, Seed: seed}, &rc); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, payload(busyLoopSize, seed)) {
		return fmt.Errorf("download: %d bytes, %v", len(got), err)
	}
	up := payload(busyLoopSize, seed+1)
	var pr putResp
	if err := b.c.Call(ctx, "Busy.Put", bytes.NewReader(up), &pr); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if sum := sha256.Sum256(up); pr.N != int64(len(up)) || !bytes.Equal(pr.Sum, sum[:]) {
		return fmt.Errorf("upload: the server read %d bytes of %d, or other ones", pr.N, len(up))
	}
	var er echoResp
	if err := b.c.Call(ctx, "Busy.Echo", &echoReq{Msg: "bg", N: i}, &er); err != nil || er.N != i+1 {
		return fmt.Errorf("small call: %+v, %v", er, err)
	}
	return nil
}

// stop ends the loop, then reads the stalled download to its end: all of
// it arrives, though it waited for the whole case.
func (b *busy) stop() {
	t := b.t
	close(b.quit)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Errorf("busy: the background calls did not end within 30s of the case (%d rounds done)", b.rounds.Load())
		return
	}
	if b.err != nil {
		t.Errorf("busy: background calls beside the case: %v", b.err)
	}
	got, err := io.ReadAll(b.stalled)
	b.stalled.Close()
	if err != nil || !bytes.Equal(got, payload(busyStalledSize, 99)) {
		t.Errorf("busy: the stalled download, read after the case: %d bytes of %d, %v", len(got), busyStalledSize, err)
	}
}

// busyTargets are the transports again, each connection busy.
func busyTargets() []suiteTarget {
	var ts []suiteTarget
	for _, tr := range transports {
		ts = append(ts, suiteTarget{name: tr.name + "+busy", busy: true, mk: busyFactory(remoteFactory(tr))})
	}
	return ts
}
