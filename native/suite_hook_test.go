package native_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var hookCases = []suiteCase{
	{name: "HookCarriesContext", run: testHookCarriesContext},
	{name: "HookSeesOutcome", run: testHookSeesOutcome},
	{name: "HookEndsWithStream", run: testHookEndsWithStream},
}

// traceKey is the caller's "trace" in a context; spanKey is the server
// hook's, which handlers read.
type (
	traceKey struct{}
	spanKey  struct{}
)

// fakeTracer is a CallHook that propagates a string, as a trace context
// would: the client's hook writes the caller's into the metadata, the
// server's reads it (or, in process, the caller's context) and starts a
// "span" the handler sees. Each call's end is sent on ends.
type fakeTracer struct{ ends chan hookEnd }

type hookEnd struct {
	method, span string
	err          error
}

func newFakeTracer() *fakeTracer { return &fakeTracer{ends: make(chan hookEnd, 16)} }

func (h *fakeTracer) ClientCall(ctx context.Context, method string, md native.Metadata) {
	if tr, _ := ctx.Value(traceKey{}).(string); tr != "" {
		md.Set("x-trace", tr+">"+method)
	}
}

func (h *fakeTracer) ServerCall(ctx context.Context) (context.Context, func(error)) {
	parent := native.IncomingMetadata(ctx).Get("x-trace")
	if parent == "" { // in process: the caller's context itself
		tr, _ := ctx.Value(traceKey{}).(string)
		parent = tr + ">" + native.Method(ctx)
	}
	span := parent + ">server"
	method := native.Method(ctx)
	return context.WithValue(ctx, spanKey{}, span), func(err error) {
		if !strings.HasPrefix(method, "Busy.") { // the busy targets' own calls
			h.ends <- hookEnd{method: method, span: span, err: err}
		}
	}
}

// end waits for the next call's end.
func (h *fakeTracer) end(t *testing.T) hookEnd {
	t.Helper()
	return waitFor(t, h.ends, 5*time.Second, "the hook's end of the call")
}

// noMoreEnds checks that no call ended beyond those taken.
func (h *fakeTracer) noMoreEnds(t *testing.T) {
	t.Helper()
	select {
	case e := <-h.ends:
		t.Errorf("an extra end: %+v", e)
	default:
	}
}

// hookFixture is a server and a caller that both run h.
func hookFixture(t *testing.T, mk factory, h native.CallHook) (*native.Server, func() *fixture) {
	srv, _ := newServer(t, native.WithCallHook(h))
	return srv, func() *fixture { return mk(t, srv, clientOptions(native.WithCallHook(h))) }
}

// The client's hook adds to the request metadata beside the caller's own,
// and the server's hook gives the handler its context.
func testHookCarriesContext(t *testing.T, mk factory) {
	h := newFakeTracer()
	srv, fx := hookFixture(t, mk, h)
	mustRegister(t, srv, "Span.Get", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		resp.Msg, _ = ctx.Value(spanKey{}).(string)
		resp.MD = native.IncomingMetadata(ctx)
		return nil
	})
	f := fx()
	ctx := context.WithValue(context.Background(), traceKey{}, "t1")
	var r echoResp
	if err := f.caller.Call(ctx, "Span.Get", &echoReq{}, &r, native.WithMetadata(native.Metadata{"x-app": {"a"}})); err != nil {
		t.Fatal(err)
	}
	if r.Msg != "t1>Span.Get>server" {
		t.Errorf("the handler's span %q; want t1>Span.Get>server", r.Msg)
	}
	if got := r.MD.Get("x-app"); got != "a" {
		t.Errorf("the caller's metadata x-app = %q, want a (all: %v)", got, r.MD)
	}
	if e := h.end(t); e.err != nil || e.span != r.Msg || e.method != "Span.Get" {
		t.Errorf("end %+v; want Span.Get's span with no error", e)
	}
	// No trace in the context: the hook adds nothing.
	r = echoResp{}
	if err := f.caller.Call(context.Background(), "Span.Get", &echoReq{}, &r); err != nil {
		t.Fatal(err)
	}
	if !f.local() && len(r.MD) != 0 {
		t.Errorf("metadata %v; want none", r.MD)
	}
	h.end(t)
	h.noMoreEnds(t)
}

// The end sees the error the caller sees; a call refused before its
// handler is not seen.
func testHookSeesOutcome(t *testing.T, mk factory) {
	h := newFakeTracer()
	srv, fx := hookFixture(t, mk, h)
	mustRegister(t, srv, "Span.Fail", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		return native.Errorf(native.CodeNotFound, "no %s", req.Msg)
	})
	f := fx()
	err := f.caller.Call(context.Background(), "Span.Fail", &echoReq{Msg: "x"}, &echoResp{})
	wantCode(t, err, native.CodeNotFound, "no x")
	if e := h.end(t); native.CodeOf(e.err) != native.CodeNotFound || e.method != "Span.Fail" {
		t.Errorf("end %+v; want Span.Fail with NotFound", e)
	}
	// A request the server refuses to decode fails in the hook's call.
	err = f.caller.Call(context.Background(), "Span.Fail", map[string]any{"nope": 1}, &echoResp{})
	wantCode(t, err, native.CodeInvalidArgument)
	if e := h.end(t); native.CodeOf(e.err) != native.CodeInvalidArgument {
		t.Errorf("end %+v; want InvalidArgument", e)
	}
	err = f.caller.Call(context.Background(), "Span.Missing", nil, nil)
	wantCode(t, err, native.CodeUnimplemented)
	checkEcho(t, f.caller, 1) // a call after it, whose end comes after any of the refused one's
	if e := h.end(t); e.method != "Echo.Unary" {
		t.Errorf("end %+v; want Echo.Unary's (the refused call has none)", e)
	}
	h.noMoreEnds(t)
}

// A call with a response stream ends when its stream does: read to its
// end, or closed early by the caller.
func testHookEndsWithStream(t *testing.T, mk factory) {
	h := newFakeTracer()
	srv, fx := hookFixture(t, mk, h)
	mustRegister(t, srv, "Span.Read", func(ctx context.Context, req *echoReq, out *io.Reader) error {
		if req.N < 0 {
			*out = endlessReader{ctx}
			return nil
		}
		*out = strings.NewReader(strings.Repeat("s", req.N))
		return nil
	})
	f := fx()
	var rc io.ReadCloser
	if err := f.caller.Call(context.Background(), "Span.Read", &echoReq{N: 3 << 20}, &rc); err != nil {
		t.Fatal(err)
	}
	var early *hookEnd
	select {
	case e := <-h.ends:
		if f.local() {
			t.Fatalf("the call ended (%+v) before its stream was read", e)
		}
		early = &e // a remote server may have sent it all into the windows
	default:
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != 3<<20 {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if early == nil {
		e := h.end(t)
		early = &e
	}
	if e := *early; e.err != nil || e.method != "Span.Read" {
		t.Errorf("end %+v; want Span.Read with no error", e)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.caller.Call(ctx, "Span.Read", &echoReq{N: -1}, &rc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if e := h.end(t); e.err == nil || errors.Is(e.err, io.EOF) {
		t.Errorf("end %+v of a stream closed early; want an error", e)
	}
	h.noMoreEnds(t)
}
