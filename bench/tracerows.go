package main

import (
	"context"
	"fmt"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/framegate/framegate/internal/tracing"
)

// Tracing rows: the gateway rows with the instrumentation gw serve and gw
// backend install with -otlp-endpoint (internal/tracing: otelgrpc on the
// gRPC server, otelhttp on the REST handler, nativeotel on the native
// client and server), every span recorded (always-sample) and batched to
// an exporter that drops them. Each ratio "trace on/off ..." is the row
// with tracing over the row without, measured in the same round: tracing
// off installs nothing, so the rows without are the cost of "off".
//
//	unary/gateway-grpc/N/traced    unary/gateway-grpc/N, traced
//	unary/gateway-remote/N/traced  unary/gateway-remote/N, traced (a span
//	                               in the gateway and one in the backend)
//	gateway/grpc/tcp/traced        gateway/grpc/tcp, traced
//	gateway/rest/tcp/traced        gateway/rest/tcp, traced

func init() {
	for i, callers := range []int{1, 16} {
		for j, remote := range []bool{false, true} {
			kind := "grpc"
			if remote {
				kind = "remote"
			}
			off := fmt.Sprintf("unary/gateway-%s/%d", kind, callers)
			register(contender{name: off + "/traced", unit: "calls/s", order: 514 + 2*j + i,
				run: func(r *round) (float64, error) {
					return gatewayUnary(r, callers, gatewaySetup{server: grpcDefaults, client: grpcDefaults, remote: remote, traced: true})
				}})
			registerRatio(ratio{name: "trace on/off unary gateway-" + kind + fmt.Sprintf(" %d", callers), num: off + "/traced", den: off})
		}
	}
	register(contender{name: "gateway/grpc/tcp/traced", unit: "GiB/s", order: 234,
		run: func(r *round) (float64, error) {
			return gatewayGRPCStreamWith(r, gatewaySetup{server: grpcBest, client: grpcBest, traced: true})
		}})
	register(contender{name: "gateway/rest/tcp/traced", unit: "GiB/s", order: 235,
		run: func(r *round) (float64, error) {
			return gatewayRESTStreamWith(r, gatewaySetup{server: grpcBest, client: grpcBest, traced: true})
		}})
	registerRatio(ratio{name: "trace on/off gateway/grpc tcp", num: "gateway/grpc/tcp/traced", den: "gateway/grpc/tcp"})
	registerRatio(ratio{name: "trace on/off gateway/rest tcp", num: "gateway/rest/tcp/traced", den: "gateway/rest/tcp"})
}

// benchTracing is the tracer provider and the instrumentation of a traced
// row, or nil and nil (tracing off, nothing installed).
func benchTracing(traced bool) (*sdktrace.TracerProvider, *tracing.Tracing, *droppedSpans) {
	if !traced {
		return nil, nil, nil
	}
	drop := &droppedSpans{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(drop))
	return tp, tracing.New(tp), drop
}

// droppedSpans is an exporter that counts the spans and drops them.
type droppedSpans struct{ n atomic.Int64 }

func (d *droppedSpans) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	d.n.Add(int64(len(spans)))
	return nil
}

func (d *droppedSpans) Shutdown(context.Context) error { return nil }
