package nativeotel_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/framegate/framegate/native"
	"github.com/framegate/framegate/native/nativeotel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type req struct {
	Name string `json:"name"`
}

type resp struct {
	TraceParent string `json:"traceparent"`
	Other       string `json:"other"`
	Span        string `json:"span"` // the span the handler runs in
}

// tracing is a tracer provider recording into memory, and the hook on it.
func tracing(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider, native.CallHook) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return exp, tp, nativeotel.NewHook(nativeotel.WithTracerProvider(tp), nativeotel.WithPropagator(propagation.TraceContext{}))
}

func newServer(t *testing.T, hook native.CallHook) *native.Server {
	srv := native.NewServer(native.WithCallHook(hook))
	err := srv.Register("Trace.Get", func(ctx context.Context, r *req, out *resp) error {
		md := native.IncomingMetadata(ctx)
		out.TraceParent, out.Other = md.Get("traceparent"), md.Get("x-other")
		out.Span = trace.SpanContextFromContext(ctx).SpanID().String()
		if r.Name == "fail" {
			return native.Errorf(native.CodeInternal, "broken")
		}
		if r.Name == "missing" {
			return native.Errorf(native.CodeNotFound, "no such thing")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("Trace.Read", func(ctx context.Context, r *req, out *io.Reader) error {
		*out = strings.NewReader(r.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// dial connects a client with hook to srv over a pipe. stop closes it
// and waits for the server to end the connection, its calls' spans
// ended.
func dial(t *testing.T, srv *native.Server, hook native.CallHook) (c *native.Client, stop func()) {
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(sc); close(done) }()
	c, err := native.NewClient(cc, native.WithCallHook(hook))
	if err != nil {
		t.Fatal(err)
	}
	stop = func() { c.Close(); <-done }
	t.Cleanup(stop)
	return c, stop
}

// byName returns the spans by name, failing unless there are want.
func byName(t *testing.T, exp *tracetest.InMemoryExporter, want int) map[string]tracetest.SpanStub {
	t.Helper()
	spans := exp.GetSpans()
	m := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		m[s.Name] = s
	}
	if len(spans) != want || len(m) != want {
		t.Fatalf("%d spans %v; want %d with distinct names", len(spans), spans, want)
	}
	return m
}

func attr(s tracetest.SpanStub, k attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.Emit()
		}
	}
	return ""
}

// A call over a connection: the server's span is the child of the
// caller's, in the caller's trace; what the caller sent under traceparent
// itself is replaced, other metadata passes.
func TestServerSpanJoinsCallersTrace(t *testing.T) {
	exp, tp, hook := tracing(t)
	c, stop := dial(t, newServer(t, hook), hook)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	forged := "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
	var out resp
	err := c.Call(ctx, "Trace.Get", &req{}, &out, native.WithMetadata(native.Metadata{"traceparent": {forged}, "x-other": {"kept"}}))
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	stop()
	spans := byName(t, exp, 2)
	srvSpan, caller := spans["Trace.Get"], spans["caller"]
	if srvSpan.Name != "Trace.Get" || srvSpan.SpanKind != trace.SpanKindServer {
		t.Errorf("server span %q kind %v; want Trace.Get, server", srvSpan.Name, srvSpan.SpanKind)
	}
	if srvSpan.SpanContext.TraceID() != caller.SpanContext.TraceID() || srvSpan.Parent.SpanID() != caller.SpanContext.SpanID() || !srvSpan.Parent.IsRemote() {
		t.Errorf("server span in trace %s with parent %s (remote %v); want trace %s, parent %s", srvSpan.SpanContext.TraceID(), srvSpan.Parent.SpanID(),
			srvSpan.Parent.IsRemote(), caller.SpanContext.TraceID(), caller.SpanContext.SpanID())
	}
	want := "00-" + caller.SpanContext.TraceID().String() + "-" + caller.SpanContext.SpanID().String() + "-01"
	if out.TraceParent != want || out.Other != "kept" {
		t.Errorf("the handler saw traceparent %q, x-other %q; want %q (the caller's forged one replaced) and kept", out.TraceParent, out.Other, want)
	}
	if out.Span != srvSpan.SpanContext.SpanID().String() {
		t.Errorf("the handler ran in span %s; want the server span %s", out.Span, srvSpan.SpanContext.SpanID())
	}
	for k, v := range map[attribute.Key]string{"rpc.system.name": "framegate_native", "rpc.method": "Trace.Get", "rpc.response.status_code": "OK", "network.peer.address": "pipe"} {
		if got := attr(srvSpan, k); got != v {
			t.Errorf("attribute %s = %q, want %q", k, got, v)
		}
	}
	if srvSpan.Status.Code != otelcodes.Unset {
		t.Errorf("status %v; want unset", srvSpan.Status)
	}
}

// A server error marks the span; a client error (NOT_FOUND) does not; a
// stream's span ends with the stream.
func TestServerSpanOutcome(t *testing.T) {
	exp, _, hook := tracing(t)
	c, stop := dial(t, newServer(t, hook), hook)
	ctx := context.Background()
	if err := c.Call(ctx, "Trace.Get", &req{Name: "fail"}, &resp{}); native.CodeOf(err) != native.CodeInternal {
		t.Fatalf("fail: %v", err)
	}
	if err := c.Call(ctx, "Trace.Get", &req{Name: "missing"}, &resp{}); native.CodeOf(err) != native.CodeNotFound {
		t.Fatalf("missing: %v", err)
	}
	var rc io.ReadCloser
	if err := c.Call(ctx, "Trace.Read", &req{Name: "streamed"}, &rc); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if string(b) != "streamed" || err != nil {
		t.Fatalf("stream %q, %v", b, err)
	}
	stop()
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans; want 3", len(spans))
	}
	want := map[string]struct {
		name   string
		status otelcodes.Code
	}{"Internal": {"Trace.Get", otelcodes.Error}, "NotFound": {"Trace.Get", otelcodes.Unset}, "OK": {"Trace.Read", otelcodes.Unset}}
	for _, s := range spans {
		code := attr(s, "rpc.response.status_code")
		w, ok := want[code]
		if !ok || s.Name != w.name || s.Status.Code != w.status {
			t.Errorf("span %s: code %q status %v; want one of %v", s.Name, code, s.Status, want)
		}
		delete(want, code)
		if s.Parent.IsValid() {
			t.Errorf("span %s has parent %v; the call had no trace", s.Name, s.Parent)
		}
	}
}

// In process (LocalClient) the server's span is the child of the span in
// the caller's context.
func TestLocalCallSpan(t *testing.T) {
	exp, tp, hook := tracing(t)
	lc := native.NewLocalClient(newServer(t, hook))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	var out resp
	err := lc.Call(ctx, "Trace.Get", &req{}, &out)
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Parent.SpanID() != spans[1].SpanContext.SpanID() || spans[0].Parent.IsRemote() {
		t.Fatalf("spans %v; want Trace.Get, the local child of caller", spans)
	}
	if attr(spans[0], "network.peer.address") != "local" {
		t.Errorf("peer %q; want local", attr(spans[0], "network.peer.address"))
	}
}

// Without a trace in the caller's context the client hook sends nothing
// under traceparent, not even what the caller put there.
func TestNoTraceSendsNone(t *testing.T) {
	_, _, hook := tracing(t)
	c, _ := dial(t, newServer(t, nil), hook)
	var out resp
	forged := "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
	if err := c.Call(context.Background(), "Trace.Get", &req{}, &out, native.WithMetadata(native.Metadata{"traceparent": {forged}})); err != nil {
		t.Fatal(err)
	}
	if out.TraceParent != "" {
		t.Errorf("the server got traceparent %q; want none", out.TraceParent)
	}
}
