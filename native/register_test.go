package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

type regT struct{ A int }

// TestRegisterRefuses checks every handler form Register refuses: the
// error names the problem and shows the form that works.
func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	const form = "a handler looks like func([ctx context.Context,] [req *Req,] [body io.Reader | in *native.Receiver[In],] resp *Resp | body *io.Reader | out *native.Sender[Out]) error"
	ok := func(ctx context.Context, req *regT, resp *regT) error { return nil }
	cases := []struct {
		name string
		fn   any
		want []string
	}{
		{"not a function", 42, []string{"handler is not a function"}},
		{"nil", nil, []string{"handler is not a function"}},
		{"nil function", (func(*regT) error)(nil), []string{"handler is a nil function"}},
		{"variadic", func(resp *regT, more ...int) error { return nil }, []string{"must not be variadic"}},
		{"no result", func(resp *regT) {}, []string{"must return exactly one value of type error", "it returns nothing"}},
		{"two results", func(resp *regT) (int, error) { return 0, nil }, []string{"must return exactly one value of type error", "it returns (int, error)"}},
		{"non-error result", func(resp *regT) bool { return false }, []string{"must return exactly one value of type error", "it returns bool"}},
		{"ctx not first", func(req *regT, ctx context.Context, resp *regT) error { return nil }, []string{"context.Context must be the first parameter, it is parameter 2"}},
		{"no parameters", func() error { return nil }, []string{"no response parameter", "add a last parameter resp *T (JSON), body *io.Reader (stream) or out *native.Sender[T] (messages)"}},
		{"only ctx", func(ctx context.Context) error { return nil }, []string{"no response parameter"}},
		{"response not a pointer", func(req *regT, resp regT) error { return nil }, []string{"must be a pointer (*T, *io.Reader or *native.Sender[T]), it is native_test.regT"}},
		{"response a map", func(resp map[string]int) error { return nil }, []string{"must be a pointer"}},
		{"other reader interface", func(resp *io.ReadSeeker) error { return nil }, []string{"a stream response must be *io.Reader or *io.ReadCloser, not *io.ReadSeeker"}},
		{"two JSON requests", func(a *regT, b *regT, resp *regT) error { return nil }, []string{"with two request parameters the second must be io.Reader (the request stream) or *native.Receiver[T] (messages), it is *native_test.regT"}},
		{"Sender by value", func(out native.Sender[regT]) error { return nil }, []string{"a stream of messages is sent through a pointer: *native.Sender[", "regT], not native.Sender["}},
		{"Receiver by value", func(in native.Receiver[regT], resp *regT) error { return nil }, []string{"a stream of messages is received through a pointer: *native.Receiver[", "regT], not native.Receiver["}},
		{"Receiver as response", func(in *native.Receiver[regT]) error { return nil }, []string{"the last parameter is the response", "a handler sends its messages with *native.Sender[T]"}},
		{"Sender as request", func(out *native.Sender[regT], resp *regT) error { return nil }, []string{"only the last parameter (the response) may", "receives messages with *native.Receiver[T]"}},
		{"message of a channel", func(out *native.Sender[chan int]) error { return nil }, []string{"response messages:", "chan int cannot be encoded as JSON"}},
		{"message an interface", func(in *native.Receiver[fmt.Stringer], resp *regT) error { return nil }, []string{"request messages: the message type is the interface fmt.Stringer"}},
		{"stream before JSON", func(body io.Reader, req *regT, resp *regT) error { return nil }, []string{"the second must be io.Reader"}},
		{"two streams", func(a, b io.Reader, resp *regT) error { return nil }, []string{"io.Reader must be the last request parameter"}},
		{"*io.Reader request", func(req *io.Reader, resp *regT) error { return nil }, []string{"*io.Reader is a response type; a request stream is a plain io.Reader parameter"}},
		{"interface request", func(req fmt.Stringer, resp *regT) error { return nil }, []string{"the request parameter is the interface fmt.Stringer", "use a concrete type"}},
		{"too many parameters", func(ctx context.Context, a, b *regT, c io.Reader, resp *regT) error { return nil }, []string{"too many parameters (5)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := native.NewServer()
			err := srv.Register("Svc.M", c.fn)
			if err == nil {
				t.Fatalf("Register accepted %T", c.fn)
			}
			msg := err.Error()
			for _, w := range append(c.want, `Register("Svc.M"`, form) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not say %q", msg, w)
				}
			}
			// A refused handler leaves the name free.
			if err := srv.Register("Svc.M", ok); err != nil {
				t.Fatalf("Register after a refusal: %v", err)
			}
		})
	}
}

func TestRegisterNames(t *testing.T) {
	t.Parallel()
	srv := native.NewServer()
	ok := func(resp *regT) error { return nil }
	for _, c := range []struct{ name, want string }{
		{"", "empty endpoint name"},
		{"native.Mine", `names starting with "native." are reserved`},
		{native.DescribeEndpoint, "reserved"},
		{"has space", "must not contain spaces or control characters"},
		{"tab\there", "must not contain spaces or control characters"},
		{strings.Repeat("x", 257), "longer than 256 bytes"},
	} {
		if err := srv.Register(c.name, ok); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Register(%.20q) = %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if err := srv.Register("Svc.M", ok); err != nil {
		t.Fatal(err)
	}
	err := srv.Register("Svc.M", func(resp *regT) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `"Svc.M"`) || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate Register = %v", err)
	}
	if err := srv.Register(strings.Repeat("y", 256), ok); err != nil {
		t.Fatalf("a 256-byte name: %v", err)
	}
}

// registerTargets are the Callers the register tests use: the local one and
// one remote.
var registerTargets = []struct {
	name string
	mk   factory
}{{"local", localFactory}, {"pipe", remoteFactory(transports[0])}, {"tcp", remoteFactory(transports[2])}}

func TestUnregister(t *testing.T) {
	t.Parallel()
	for _, tg := range registerTargets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			entered, release := make(chan struct{}), make(chan struct{})
			mustRegister(t, srv, "Svc.Slow", func(ctx context.Context, resp *echoResp) error {
				close(entered)
				<-release
				resp.Msg = "finished"
				return nil
			})
			f := tg.mk(t, srv)
			done := make(chan error, 1)
			var r echoResp
			go func() { done <- f.caller.Call(context.Background(), "Svc.Slow", nil, &r) }()
			waitFor(t, entered, 5*time.Second, "the handler")
			if !srv.Unregister("Svc.Slow") {
				t.Fatal("Unregister of a registered endpoint = false")
			}
			close(release)
			if err := waitFor(t, done, 5*time.Second, "the running call"); err != nil || r.Msg != "finished" {
				t.Fatalf("a call running during Unregister: %+v, %v", r, err)
			}
			wantCode(t, f.caller.Call(context.Background(), "Svc.Slow", nil, &echoResp{}), native.CodeUnimplemented)
			if srv.Unregister("Svc.Slow") {
				t.Fatal("second Unregister = true")
			}
			if srv.Unregister("Never.Registered") {
				t.Fatal("Unregister of an unknown endpoint = true")
			}
			mustRegister(t, srv, "Svc.Slow", func(resp *echoResp) error { resp.Msg = "again"; return nil })
			if err := f.caller.Call(context.Background(), "Svc.Slow", nil, &r); err != nil || r.Msg != "again" {
				t.Fatalf("after registering again: %+v, %v", r, err)
			}
		})
	}
}

// TestSeedForm checks net/rpc's handler form, func(req *T, resp *U) error.
func TestSeedForm(t *testing.T) {
	t.Parallel()
	for _, tg := range registerTargets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			srv := native.NewServer()
			mustRegister(t, srv, "Arith.Multiply", func(req *struct{ A, B int }, resp *int) error {
				if req.A < 0 {
					return native.Errorf(native.CodeOutOfRange, "negative %d", req.A)
				}
				*resp = req.A * req.B
				return nil
			})
			f := tg.mk(t, srv)
			var got int
			if err := f.caller.Call(context.Background(), "Arith.Multiply", struct{ A, B int }{6, 7}, &got); err != nil || got != 42 {
				t.Fatalf("Multiply = %d, %v", got, err)
			}
			wantCode(t, f.caller.Call(context.Background(), "Arith.Multiply", struct{ A, B int }{-1, 7}, &got), native.CodeOutOfRange, "negative -1")
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	for _, tg := range registerTargets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			registerBlobs(t, srv)
			f := tg.mk(t, srv)
			var got native.Schema
			if err := f.caller.Call(context.Background(), native.DescribeEndpoint, nil, &got); err != nil {
				t.Fatal(err)
			}
			if got.Protocol != native.ProtocolVersion {
				t.Fatalf("Describe: protocol %d, want %d", got.Protocol, native.ProtocolVersion)
			}
			want, err := srv.Schema()
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(&got)
			wb, _ := json.Marshal(want)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("Describe answered\n%s\nServer.Schema is\n%s", gb, wb)
			}
			// Once schemas are built (schemabuild.go), they list exactly
			// the registered endpoints, never the control ones.
			if len(got.Endpoints) > 0 {
				var names []string
				for _, e := range got.Endpoints {
					names = append(names, e.Name)
				}
				if n := strings.Join(names, ","); n != "Blob.Get,Blob.Put,Blob.PutNamed,Echo.Unary" {
					t.Fatalf("Describe lists %s", n)
				}
			}
			var rc io.ReadCloser
			wantCode(t, f.caller.Call(context.Background(), native.DescribeEndpoint, nil, &rc), native.CodeInvalidArgument)
		})
	}
}

// closeTracker is a response stream that records whether it was read to
// its end before it was closed.
type closeTracker struct {
	r      io.Reader
	mu     sync.Mutex
	eof    bool
	closed chan bool // receives eof at Close
	once   sync.Once
}

func newCloseTracker(r io.Reader) *closeTracker {
	return &closeTracker{r: r, closed: make(chan bool, 1)}
}

func (c *closeTracker) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.mu.Lock()
		c.eof = true
		c.mu.Unlock()
	}
	return n, err
}

func (c *closeTracker) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed <- c.eof
		c.mu.Unlock()
	})
	return nil
}

// TestResponseStreamClosed checks that a response stream that is an
// io.Closer is closed once it was sent, when the caller gives up early, and
// when the handler fails.
func TestResponseStreamClosed(t *testing.T) {
	t.Parallel()
	for _, tg := range registerTargets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			streams := make(chan *closeTracker, 1)
			mustRegister(t, srv, "Blob.Tracked", func(ctx context.Context, req *blobReq, resp *io.Reader) error {
				var src io.Reader = endlessReader{ctx}
				if req.Size >= 0 {
					src = bytes.NewReader(payload(req.Size, 1))
				}
				tr := newCloseTracker(src)
				streams <- tr
				*resp = tr
				if req.Seed == 1 {
					return native.Errorf(native.CodeFailedPrecondition, "changed my mind")
				}
				return nil
			})
			f := tg.mk(t, srv)
			ctx := context.Background()

			// Read to the end: closed after the source's EOF.
			var rc io.ReadCloser
			if err := f.caller.Call(ctx, "Blob.Tracked", &blobReq{Size: 2 << 20}, &rc); err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(rc); err != nil || len(b) != 2<<20 {
				t.Fatalf("read %d bytes, %v", len(b), err)
			}
			tr := <-streams
			if eof := waitFor(t, tr.closed, 5*time.Second, "a sent stream to be closed"); !eof {
				t.Fatal("stream closed before it was read to its end")
			}

			// Closed early by the caller.
			if err := f.caller.Call(ctx, "Blob.Tracked", &blobReq{Size: -1}, &rc); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			waitFor(t, (<-streams).closed, 5*time.Second, "an abandoned stream to be closed")

			// Set by a handler that then fails.
			wantCode(t, f.caller.Call(ctx, "Blob.Tracked", &blobReq{Size: 10, Seed: 1}, &rc), native.CodeFailedPrecondition, "changed my mind")
			waitFor(t, (<-streams).closed, 5*time.Second, "the stream of a failed handler to be closed")
			checkEcho(t, f.caller, 1)
		})
	}
}
