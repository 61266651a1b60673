package native_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// The client's reader goroutine waits for the caller to take a call's last
// answer before it reads on, and the server's two goroutines take turns at
// reading. These tests race what could leave either waiting forever: a
// caller that gives up just as its answer arrives, and calls that switch
// between inline handlers and handlers reading a request stream.

// TestCancelRacesAnswer cancels calls at the moment their answers arrive:
// every call returns, and the connection goes on working and closes cleanly.
func TestCancelRacesAnswer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			f := remoteFactory(tr)(t, srv)
			var ok, gaveUp int
			for i := range 2000 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%50)*20*time.Microsecond)
				var resp echoResp
				err := f.caller.Call(ctx, "Echo.Unary", &echoReq{Msg: "x", N: i}, &resp)
				cancel()
				switch {
				case err == nil:
					if resp.N != 2*i {
						t.Fatalf("call %d answered %+v", i, resp)
					}
					ok++
				case native.CodeOf(err) == native.CodeDeadlineExceeded:
					gaveUp++
				default:
					t.Fatalf("call %d: %v", i, err)
				}
			}
			t.Logf("%d answered, %d gave up", ok, gaveUp)
			if gaveUp == 0 {
				t.Errorf("no call gave up: the race was not exercised")
			}
			checkEcho(t, f.caller, 7)
			if err := f.client.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := f.serveResult(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
		})
	}
}

// TestTurnsAcrossCallKinds alternates small calls, whose handlers run on
// the goroutine that read them, with calls whose handler reads a request
// stream while the other goroutine reads its frames, and with slow calls
// cancelled while they run: each answers, in any order of kinds.
func TestTurnsAcrossCallKinds(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			mustRegister(t, srv, "Turns.Count", func(ctx context.Context, body io.Reader, resp *putResp) error {
				n, err := io.Copy(io.Discard, body)
				resp.N = n
				return err
			})
			mustRegister(t, srv, "Turns.Wait", func(ctx context.Context, req *echoReq, resp *echoResp) error {
				<-ctx.Done()
				return context.Cause(ctx)
			})
			f := remoteFactory(tr)(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range 300 {
				switch i % 3 {
				case 0:
					checkEcho(t, f.caller, i)
				case 1:
					var resp putResp
					n := int64(i * 1000)
					if err := f.caller.Call(ctx, "Turns.Count", io.LimitReader(endlessReader{ctx}, n), &resp); err != nil {
						t.Fatalf("call %d: Turns.Count: %v", i, err)
					}
					if resp.N != n {
						t.Fatalf("call %d: Turns.Count read %d bytes, want %d", i, resp.N, n)
					}
				case 2:
					wctx, wcancel := context.WithTimeout(ctx, time.Duration(i%5)*200*time.Microsecond)
					err := f.caller.Call(wctx, "Turns.Wait", &echoReq{}, nil)
					wcancel()
					if native.CodeOf(err) != native.CodeDeadlineExceeded && native.CodeOf(err) != native.CodeCanceled {
						t.Fatalf("call %d: Turns.Wait = %v, want DeadlineExceeded", i, err)
					}
				}
			}
			if err := f.client.Close(); err != nil && !errors.Is(err, native.ErrClosed) {
				t.Fatalf("Close: %v", err)
			}
			if err := f.serveResult(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
		})
	}
}

// TestLentHandlersOverlap: a handler that runs long has the reading role
// lent away; its call is aborted and the next call's handler, on the other
// goroutine, runs long and is lent in turn while the first still runs. When
// each returns it must see that its own role was lent and not read: two
// goroutines reading one connection corrupt it (and -race reports it). The
// two calls go to two endpoints: an endpoint whose handler was lent runs
// its next calls on goroutines of their own (inline.go).
func TestLentHandlersOverlap(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			release := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
			held := make(chan int, 2)
			for n := range 2 {
				mustRegister(t, srv, fmt.Sprintf("Turns.Hold%d", n), func(ctx context.Context, req *echoReq, resp *echoResp) error {
					held <- req.N
					<-release[req.N] // deaf to ctx: it outlives its call
					return nil
				})
			}
			f := remoteFactory(tr)(t, srv)
			// Released once both handlers hold their goroutines and the
			// second one's role is lent. Until then no goroutine reads the
			// connection, so over a pipe the second call's RST write waits.
			time.AfterFunc(30*time.Millisecond, func() { close(release[0]) })
			time.AfterFunc(40*time.Millisecond, func() { close(release[1]) })
			for n := range 2 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
				err := f.caller.Call(ctx, fmt.Sprintf("Turns.Hold%d", n), &echoReq{N: n}, nil)
				cancel()
				if native.CodeOf(err) != native.CodeDeadlineExceeded {
					t.Fatalf("Turns.Hold %d = %v, want DeadlineExceeded", n, err)
				}
				if got := <-held; got != n {
					t.Fatalf("handler %d ran, want %d", got, n)
				}
			}
			for i := range 20 {
				checkEcho(t, f.caller, i)
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
