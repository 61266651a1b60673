// Package tracing is the OpenTelemetry instrumentation of a gateway
// process, shared by gw and the benchmarks: a server span for each gRPC
// call (otelgrpc's stats handler) and each REST request (otelhttp), and
// the native hook (nativeotel) that carries the span's W3C trace context
// to the backend and runs the backend's calls in child spans. The process
// owns the TracerProvider (its exporter, its shutdown); a nil *Tracing is
// tracing off and adds nothing.
package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
	"github.com/framegate/framegate/native/nativeotel"
)

// Tracing instruments a process's servers and native clients with one
// TracerProvider.
type Tracing struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
	hook native.CallHook
}

// New returns the instrumentation that records into tp. The trace context
// travels as W3C traceparent and tracestate only: a caller's baggage is
// not passed on.
func New(tp trace.TracerProvider) *Tracing {
	t := &Tracing{tp: tp, prop: propagation.TraceContext{}}
	t.hook = nativeotel.NewHook(nativeotel.WithTracerProvider(tp), nativeotel.WithPropagator(t.prop))
	return t
}

// Sampler records ratio of the traces by their id. At the edge (a process
// that takes calls from outside) a caller's sampled flag does not decide:
// a client cannot make the gateway record every call it sends. Elsewhere
// the caller's decision is followed. A span whose parent is in the process
// follows its parent, so that a trace is recorded whole.
func Sampler(ratio float64, edge bool) sdktrace.Sampler {
	byID := sdktrace.TraceIDRatioBased(ratio)
	if !edge {
		return sdktrace.ParentBased(byID)
	}
	return sdktrace.ParentBased(byID, sdktrace.WithRemoteParentSampled(byID), sdktrace.WithRemoteParentNotSampled(byID))
}

// GRPCServerOptions run each call of a gRPC server in a span, health
// checks left out (probes would fill the traces).
func (t *Tracing) GRPCServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(t.tp),
		otelgrpc.WithPropagators(t.prop), otelgrpc.WithFilter(filters.Not(filters.HealthCheck()))))}
}

// RESTHandler runs each request h serves (g's REST front door) in a span
// named after its method and, for a path g serves, its path ("POST
// /native.Store/List"): any other path a client sends stays out of the
// name.
func (t *Tracing) RESTHandler(h http.Handler, g *gateway.Gateway) http.Handler {
	if t == nil {
		return h
	}
	name := func(_ string, r *http.Request) string {
		if _, ok := g.EndpointOf(r.URL.Path); ok {
			return r.Method + " " + r.URL.Path
		}
		return r.Method
	}
	return otelhttp.NewHandler(h, "rest", otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop),
		otelhttp.WithSpanNameFormatter(name))
}

// NativeOptions are the options of native clients and servers: the trace
// context crosses the native hop, and a server runs each call in a span.
func (t *Tracing) NativeOptions() []native.Option {
	if t == nil {
		return nil
	}
	return []native.Option{native.WithCallHook(t.hook)}
}
