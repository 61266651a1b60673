// Package nativeotel traces native calls with OpenTelemetry: NewHook
// returns a native.CallHook that, on a client, writes the caller's trace
// context into the request metadata (W3C traceparent and tracestate by
// default) and, on a server, reads it and runs each call in a server span
// that is the caller's span's child, so that the spans of both processes
// make one trace:
//
//	hook := nativeotel.NewHook(nativeotel.WithTracerProvider(tp))
//	srv := native.NewServer(native.WithCallHook(hook))
//	pool := native.NewPool(dial, 4, native.WithCallHook(hook))
//
// A span is named after the endpoint ("Store.Read"), covers the call from
// the request's arrival to the end of its response (a response stream's
// last byte included), and carries rpc.system.name "framegate_native",
// rpc.method, network.peer.address and rpc.response.status_code; a call
// that fails with a code that means a server error (OpenTelemetry's rule
// for gRPC servers: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
// UNAVAILABLE, DATA_LOSS) has the span's status Error. The client hook
// starts no span of its own: the caller's span (a gateway's span of the
// call it serves) is the parent.
//
// Package native itself depends on no tracing library; this package is the
// only one that ties it to OpenTelemetry.
package nativeotel

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/framegate/framegate/native"
)

// ScopeName is the instrumentation scope of the spans this package starts.
const ScopeName = "github.com/framegate/framegate/native/nativeotel"

// systemName is the rpc.system.name of native calls.
var systemName = semconv.RPCSystemNameKey.String("framegate_native")

// Option configures NewHook.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets the provider of the server spans (default
// otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithPropagator sets how the trace context is written into and read from
// the metadata (default otel.GetTextMapPropagator()).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p != nil {
			c.prop = p
		}
	}
}

// NewHook returns the hook that traces native calls; give it to
// native.WithCallHook on clients and servers alike.
func NewHook(opts ...Option) native.CallHook {
	c := config{tp: otel.GetTracerProvider(), prop: otel.GetTextMapPropagator()}
	for _, o := range opts {
		o(&c)
	}
	return &hook{tracer: c.tp.Tracer(ScopeName), prop: c.prop, fields: c.prop.Fields()}
}

type hook struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	fields []string // the keys prop writes
}

// ClientCall replaces whatever the caller put under the propagator's keys
// (a gateway passes on its own client's headers) with ctx's trace context:
// nothing else goes under them.
func (h *hook) ClientCall(ctx context.Context, _ string, md native.Metadata) {
	for _, f := range h.fields {
		delete(md, f)
	}
	h.prop.Inject(ctx, Carrier(md))
}

// ServerCall starts the call's server span, the child of the trace context
// in its metadata, or of ctx's span for an in-process call without one.
func (h *hook) ServerCall(ctx context.Context) (context.Context, func(error)) {
	ctx = h.prop.Extract(ctx, Carrier(native.IncomingMetadata(ctx)))
	method := native.Method(ctx)
	attrs := []attribute.KeyValue{systemName, semconv.RPCMethod(method)}
	if peer := native.Peer(ctx); peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
	}
	ctx, span := h.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		code := native.CodeOf(err)
		span.SetAttributes(semconv.RPCResponseStatusCode(code.String()))
		if serverError(code) {
			span.SetStatus(otelcodes.Error, err.Error())
		}
		span.End()
	}
}

// serverError reports whether code says the server failed, as
// OpenTelemetry's semantic conventions decide for gRPC servers.
func serverError(code native.Code) bool {
	switch code {
	case native.CodeUnknown, native.CodeDeadlineExceeded, native.CodeUnimplemented,
		native.CodeInternal, native.CodeUnavailable, native.CodeDataLoss:
		return true
	}
	return false
}

// Carrier is native metadata as a propagation.TextMapCarrier, for code
// that injects or extracts a trace context itself.
type Carrier native.Metadata

var _ propagation.TextMapCarrier = Carrier(nil)

// Get returns the first value of key.
func (c Carrier) Get(key string) string { return native.Metadata(c).Get(key) }

// Set replaces the values of key with value. A nil Carrier ignores it.
func (c Carrier) Set(key, value string) {
	if c != nil {
		native.Metadata(c).Set(key, value)
	}
}

// Keys returns the keys present.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
