package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestOTLPTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4318":          "http://collector:4318/v1/traces",
		"http://collector:4318/":         "http://collector:4318/v1/traces",
		"https://otel.example.com/in/tr": "https://otel.example.com/in/tr",
		"collector:4318":                 "",
		"grpc://collector:4317":          "",
		"http://":                        "",
		"http://[::1":                    "",
	} {
		got, err := otlpTracesURL(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("otlpTracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Tracing off installs nothing.
func TestTracingOff(t *testing.T) {
	tr, err := startTracing(&traceFlags{sampleRatio: 1}, "x", true, slog.New(slog.DiscardHandler))
	if tr != nil || err != nil {
		t.Fatalf("startTracing without an endpoint = %v, %v; want nil, nil", tr, err)
	}
	var h http.Handler = new(http.ServeMux)
	if tr.grpcOptions() != nil || tr.nativeOptions() != nil || tr.restHandler(h, nil) != h {
		t.Fatal("tracing off added options")
	}
	for _, bad := range []traceFlags{{otlpEndpoint: "http://c:4318", sampleRatio: 1.5}, {otlpEndpoint: "http://c:4318", sampleRatio: -1}, {otlpEndpoint: "c:4318", sampleRatio: 1}} {
		if _, err := startTracing(&bad, "x", true, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("startTracing(%+v) accepted", bad)
		}
	}
}

// At the edge a caller's sampled flag decides nothing: with ratio 0 no
// call is recorded, whatever the caller says; a backend follows its
// caller; spans within a process follow their parent.
func TestTraceSampler(t *testing.T) {
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
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(traceSampler(c.ratio, c.edge)))
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
