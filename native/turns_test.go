package native_test

import (
	"context"
	"errors"
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
