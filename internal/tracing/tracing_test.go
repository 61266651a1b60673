package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// At the edge a caller's sampled flag decides nothing: with ratio 0 no
// call is recorded, whatever the caller says; a backend follows its
// caller; spans within a process follow their parent.
func TestSampler(t *testing.T) {
	const sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	for _, c := range []struct {
		name     string
		ratio    float64
		edge     bool
		parent   string
		recorded int
	}{
		{"edge, ratio 0, caller sampled", 0, true, sampled, 0},
		{"edge, ratio 1, caller not sampled", 1, true, unsampled, 2},
		{"edge, ratio 0, no caller", 0, true, "", 0},
		{"edge, ratio 1, no caller", 1, true, "", 2},
		{"backend, ratio 0, caller sampled", 0, false, sampled, 2},
		{"backend, ratio 1, caller not sampled", 1, false, unsampled, 0},
	} {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(Sampler(c.ratio, c.edge)))
		ctx := context.Background()
		if c.parent != "" {
			ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": c.parent})
		}
		ctx, s := tp.Tracer("t").Start(ctx, "server")
		_, child := tp.Tracer("t").Start(ctx, "child")
		child.End()
		s.End()
		if n := len(exp.GetSpans()); n != c.recorded {
			t.Errorf("%s: %d spans recorded; want %d", c.name, n, c.recorded)
		}
		tp.Shutdown(context.Background())
	}
}
