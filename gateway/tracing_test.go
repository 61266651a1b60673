package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/framegate/framegate/native"
	"github.com/framegate/framegate/native/nativeotel"
)

// With nativeotel's hook on the remote backend's clients, the backend
// receives the trace context of the span the gateway serves the call in,
// whatever the allowlist: the caller's own traceparent header is replaced
// when the allowlist passes it, and the gateway's is sent when it does not.
func TestTraceContextCrossesTheNativeHop(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	hook := nativeotel.NewHook(nativeotel.WithTracerProvider(tp), nativeotel.WithPropagator(propagation.TraceContext{}))

	srv := native.NewServer()
	type seen struct {
		TraceParent []string `json:"traceparent"`
		RequestID   string   `json:"request_id"`
	}
	if err := srv.Register("Trace.Seen", func(ctx context.Context, _ *struct{}, out *seen) error {
		md := native.IncomingMetadata(ctx)
		out.TraceParent, out.RequestID = md.Values("traceparent"), md.Get("x-request-id")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	addr := serveNative(t, srv)
	forged := "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
	for _, allow := range [][]string{DefaultMetadataAllowlist, {"x-request-id"}} {
		// Close closes the backend: a pool each.
		g, err := New(context.Background(), Remote(dialPool(addr, native.WithCallHook(hook))), WithMetadataAllowlist(allow...))
		if err != nil {
			t.Fatal(err)
		}
		ctx, span := tp.Tracer("test").Start(context.Background(), "gateway span")
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/native.Trace/Seen", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Traceparent", forged)
		req.Header.Set("X-Request-Id", "r1")
		rec := httptest.NewRecorder()
		g.HTTPHandler().ServeHTTP(rec, req)
		span.End()
		var got seen
		if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil {
			t.Fatalf("allowlist %q: %d %s (%v)", allow, rec.Code, rec.Body, err)
		}
		sc := trace.SpanContextFromContext(ctx)
		want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
		if len(got.TraceParent) != 1 || got.TraceParent[0] != want || got.RequestID != "r1" {
			t.Errorf("allowlist %q: the backend saw traceparent %q, x-request-id %q; want [%s] (the gateway's span) and r1", allow, got.TraceParent, got.RequestID, want)
		}
		g.Close()
	}
}
