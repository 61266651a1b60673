package native_test

// Handlers that block, as on I/O, do not hold a connection's reading: the
// server runs only quick handlers inline on its reader goroutine
// (inline.go), so calls to a handler that blocks run side by side.

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// TestBlockingHandlersRunTogether: once a handler has blocked, k calls to
// it on one connection are all in the handler at once, each waiting for
// the others. The reading is never lent here (WithLendAfter of an hour): a
// handler run inline would keep the other calls unread until it gave up
// waiting, and every call would see fewer than k in the handler. Before
// inline.go chose, the first of them did so (and with the default lending,
// one call started per 1-2 ms).
func TestBlockingHandlersRunTogether(t *testing.T) {
	const k = 16
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, native.WithLendAfter(time.Hour))
			var in atomic.Int32
			all, over := make(chan struct{}), make(chan struct{})
			var giveUp sync.Once
			mustRegister(t, srv, "Block.Wait", func(ctx context.Context, req *echoReq, resp *echoResp) error {
				if req.N < 0 {
					time.Sleep(2 * time.Millisecond) // a call that blocks, as on I/O
					return nil
				}
				if in.Add(1) == k {
					close(all)
				}
				select {
				case <-all:
				case <-over:
				case <-time.After(5 * time.Second): // generous, for a loaded machine
					giveUp.Do(func() { close(over) })
				}
				resp.N = int(in.Load())
				return nil
			})
			f := remoteFactory(tr)(t, srv)
			ctx := context.Background()
			for range 2 { // two: one long call may be the machine's
				if err := f.caller.Call(ctx, "Block.Wait", &echoReq{N: -1}, &echoResp{}); err != nil {
					t.Fatalf("first calls: %v", err)
				}
			}
			var wg sync.WaitGroup
			got, errs := make([]int, k), make([]error, k)
			for i := range k {
				wg.Go(func() {
					var resp echoResp
					errs[i] = f.caller.Call(ctx, "Block.Wait", &echoReq{N: i}, &resp)
					got[i] = resp.N
				})
			}
			wg.Wait()
			for i := range k {
				if errs[i] != nil {
					t.Fatalf("call %d: %v", i, errs[i])
				}
				if got[i] != k {
					t.Errorf("call %d saw %d of the %d calls in the handler: a handler that blocked held the reading", i, got[i], k)
				}
			}
			checkEcho(t, f.caller, 1)
			if err := f.client.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := f.serveResult(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
		})
	}
}

// TestLendingWaitsLongerAlone: a quick handler that blocks while run
// inline keeps its connection unread for the lending period, which is
// lendAfter on a connection whose calls overlap and ten times that on one
// whose calls come one at a time (inline.go). A second caller's call is
// read once the role is lent: after 200 ms at the earliest alone, well
// before that beside an open upload.
func TestLendingWaitsLongerAlone(t *testing.T) {
	const lend = 20 * time.Millisecond // alone: 200-400 ms
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "alone", true: "shared"}[shared]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, native.WithLendAfter(lend))
			held, release := make(chan struct{}), make(chan struct{})
			mustRegister(t, srv, "Lend.Hold", func(ctx context.Context, req *echoReq, resp *echoResp) error {
				close(held)
				<-release
				return nil
			})
			mustRegister(t, srv, "Lend.Put", func(ctx context.Context, body io.Reader, resp *echoResp) error {
				_, err := io.Copy(io.Discard, body)
				return err
			})
			f := remoteFactory(transports[2])(t, srv) // tcp
			ctx := context.Background()
			upload := make(chan error, 1)
			pr, pw := io.Pipe()
			if shared {
				go func() { upload <- f.caller.Call(ctx, "Lend.Put", pr, &echoResp{}) }()
				if _, err := pw.Write([]byte("open")); err != nil {
					t.Fatal(err)
				}
			}
			holding := make(chan error, 1)
			go func() { holding <- f.caller.Call(ctx, "Lend.Hold", &echoReq{}, &echoResp{}) }()
			<-held
			start := time.Now()
			checkEcho(t, f.caller, 1)
			took := time.Since(start)
			close(release)
			if err := <-holding; err != nil {
				t.Fatalf("Lend.Hold: %v", err)
			}
			if shared {
				pw.Close()
				if err := <-upload; err != nil {
					t.Fatalf("Lend.Put: %v", err)
				}
			}
			switch {
			case !shared && took < 10*lend:
				t.Errorf("alone, a call beside a blocked inline handler was answered after %v, before the lending period of %v", took, 10*lend)
			case shared && took >= 10*lend:
				t.Errorf("beside an upload, a call beside a blocked inline handler was answered after %v, want under %v", took, 10*lend)
			}
			if err := f.client.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := f.serveResult(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
		})
	}
}
