package main

// Tracing of gw serve and gw backend with OpenTelemetry, off unless
// -otlp-endpoint is given. Then gw serve runs every gRPC call (otelgrpc's
// stats handler) and every REST call (otelhttp) in a server span, and the
// native calls it makes carry the span's W3C trace context in their
// metadata (nativeotel), where gw backend (or the embedded store) reads it
// and runs the call in a child span: one trace across the processes, sent
// over OTLP/HTTP. Off, nothing of this is installed: no span, no
// propagation, no cost.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc"

	"github.com/framegate/framegate/gateway"
	internaltracing "github.com/framegate/framegate/internal/tracing"
	"github.com/framegate/framegate/native"
)

// traceFlags are the tracing flags of gw serve and gw backend.
type traceFlags struct {
	otlpEndpoint string
	sampleRatio  float64
}

func (c *command) traceFlags(f *traceFlags) {
	c.fs.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "trace calls with OpenTelemetry and send the spans over OTLP/HTTP to this collector `url`\n"+
		"(http://collector:4318; /v1/traces is added to a URL without a path); the OTEL_EXPORTER_OTLP_*\n"+
		"variables set headers, TLS and timeouts, OTEL_SERVICE_NAME the service name. Empty: no tracing")
	c.fs.Float64Var(&f.sampleRatio, "trace-sample-ratio", 1, "with -otlp-endpoint, the `ratio` of traces recorded, from 0 to 1, decided on the trace id.\n"+
		"gw serve decides for its callers' traces too, whatever their sampled flag says; gw backend\n"+
		"follows its caller's decision")
}

// tracing is a process's tracer provider and its instrumentation
// (internal/tracing); a nil *tracing is tracing off, and its methods add
// nothing.
type tracing struct {
	tp *sdktrace.TracerProvider
	in *internaltracing.Tracing
}

// startTracing starts tracing if f asks for it: nil, nil otherwise.
// service is the default service name; edge says the process takes calls
// from outside (gw serve), whose sampled flag it does not obey.
func startTracing(f *traceFlags, service string, edge bool, log *slog.Logger) (*tracing, error) {
	if f.otlpEndpoint == "" {
		return nil, nil
	}
	endpoint, err := otlpTracesURL(f.otlpEndpoint)
	if err != nil {
		return nil, err
	}
	if !(f.sampleRatio >= 0 && f.sampleRatio <= 1) {
		return nil, fmt.Errorf("-trace-sample-ratio %v: want 0 to 1", f.sampleRatio)
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("-otlp-endpoint: %w", err)
	}
	res, err := resource.New(context.Background(),
		resource.WithAttributes(semconv.ServiceName(service)), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	// The exporter's errors (a collector that is down) are logged, not
	// printed by OpenTelemetry's default handler.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(internaltracing.Sampler(f.sampleRatio, edge)))
	t := &tracing{tp: tp, in: internaltracing.New(tp)}
	log.Info("tracing", "otlp_endpoint", endpoint, "sample_ratio", f.sampleRatio)
	return t, nil
}

// otlpTracesURL is the OTLP/HTTP traces URL of -otlp-endpoint: the
// collector's /v1/traces unless the URL has a path of its own.
func otlpTracesURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-otlp-endpoint %q: want http://host:port or https://host:port[/path]", s)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// instr is the instrumentation, nil when off.
func (t *tracing) instr() *internaltracing.Tracing {
	if t == nil {
		return nil
	}
	return t.in
}

// grpcOptions are the gRPC server's: a span per call.
func (t *tracing) grpcOptions() []grpc.ServerOption { return t.instr().GRPCServerOptions() }

// restHandler runs each request of g's REST front door h in a span.
func (t *tracing) restHandler(h http.Handler, g *gateway.Gateway) http.Handler {
	return t.instr().RESTHandler(h, g)
}

// nativeOptions are the native clients' and servers' options: the trace
// context crosses the native hop.
func (t *tracing) nativeOptions() []native.Option { return t.instr().NativeOptions() }

// shutdown sends the spans still buffered, for up to 5 seconds.
func (t *tracing) shutdown(log *slog.Logger) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("tracing: the last spans were not sent", "err", err)
	}
}
