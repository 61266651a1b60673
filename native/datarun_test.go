package native_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// TestStreamAbortedMidRunKeepsTheWire: downloads on a connection shared
// with small calls, aborted by their callers while their DATA flows, leave
// the connection whole: the small calls go on, and a download after them
// arrives byte for byte. On a socket the DATA goes out in runs of frames
// (datarun.go), and an RST must wait for the end of the frame being
// written: a frame cut short makes the peer take the next frame's bytes
// for its payload.
func TestStreamAbortedMidRunKeepsTheWire(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			registerPositional(t, srv)
			f := remoteFactory(tr)(t, srv)
			abortThenReadExact(t, f, 20, 3<<20+12345, 4<<20, "Positional.Get")
		})
	}
}

// abortThenReadExact makes small calls on f throughout (the connection is
// shared: a socket's DATA goes in runs), aborts n downloads of methods
// after reading after bytes of each (abortDownloads), then downloads exact
// bytes of Positional.Get and checks each.
func abortThenReadExact(t *testing.T, f *fixture, n int, after int64, exact int, methods ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopCalls := callsBeside(ctx, f)
	abortDownloads(t, ctx, f, n, after, methods...)
	readExact(t, ctx, f, exact)
	if err := stopCalls(); err != nil {
		t.Fatal(err)
	}
}

// abortDownloads starts n endless downloads of methods in turn, one at a
// time, and aborts each after reading after bytes of it.
func abortDownloads(t *testing.T, ctx context.Context, f *fixture, n int, after int64, methods ...string) {
	t.Helper()
	for i := range n {
		method := methods[i%len(methods)]
		dctx, abort := context.WithCancel(ctx)
		var rc io.ReadCloser
		if err := f.caller.Call(dctx, method, &echoReq{N: 1 << 40}, &rc); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if _, err := io.CopyN(io.Discard, rc, after); err != nil {
			t.Fatalf("%s: download %d: %v", method, i, err)
		}
		abort()
		rc.Close()
	}
}

// callsBeside makes small calls on f until the function it returns is
// called, which returns their error.
func callsBeside(ctx context.Context, f *fixture) (stop func() error) {
	stopped := make(chan struct{})
	called := make(chan error, 1)
	go func() { called <- callUntil(ctx, f, stopped) }()
	return func() error {
		close(stopped)
		return <-called
	}
}

// callUntil makes small calls on f until stop closes.
func callUntil(ctx context.Context, f *fixture, stop chan struct{}) error {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		var resp echoResp
		if err := f.caller.Call(ctx, "Echo.Unary", &echoReq{Msg: "x", N: n}, &resp); err != nil {
			return fmt.Errorf("call %d: %w", n, err)
		}
		if resp.N != 2*n {
			return fmt.Errorf("call %d answered %+v", n, resp)
		}
	}
}

// readExact downloads size bytes of Positional.Get and checks each.
func readExact(t *testing.T, ctx context.Context, f *fixture, size int) {
	t.Helper()
	var rc io.ReadCloser
	if err := f.caller.Call(ctx, "Positional.Get", &echoReq{N: size}, &rc); err != nil {
		t.Fatalf("Positional.Get: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if len(b) != size {
		t.Fatalf("downloaded %d bytes, want %d", len(b), size)
	}
	for i, c := range b {
		if want := positionalByte(int64(i)); c != want {
			t.Fatalf("byte %d is %#x, want %#x", i, c, want)
		}
	}
}

// TestAbortedStreamsGiveTheirCreditBack: a stream aborted while its sender
// holds connection credit it has not used gives that credit back. Each
// abort of a download written in runs leaves its sender holding the credit
// of a run's unwritten frames; kept, the 25 below take a 4 MiB connection
// window whole and the last download waits for credit for ever.
func TestAbortedStreamsGiveTheirCreditBack(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			registerPositional(t, srv)
			// A file goes out with sendfile(2) on a socket, 4 MiB a frame.
			// Its sender takes credit a frame at a time and is mostly
			// waiting for more when the RST comes: the refund after a
			// credit taken just before is a race this rarely meets.
			path := filepath.Join(t.TempDir(), "big")
			if err := os.WriteFile(path, make([]byte, 64<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			mustRegister(t, srv, "File.Get", func(req *echoReq, resp *io.Reader) error {
				f, err := os.Open(path)
				*resp = f
				return err
			})
			f := remoteFactory(tr)(t, srv, clientOptions(native.WithConnWindow(4<<20), native.WithStreamWindow(4<<20)))
			abortThenReadExact(t, f, 50, 1<<20+54321, 16<<20, "Positional.Get", "File.Get")
		})
	}
}
