package native_test

// Handlers that block, as on I/O, do not hold a connection's reading: the
// server runs only quick handlers inline on its reader goroutine
// (inline.go), so calls to a handler that blocks run side by side.

import (
	"context"
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
