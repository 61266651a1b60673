package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
)

// Connect rows: the unary gateway row through the gateway's HTTP handler
// in the Connect protocol (application/proto over HTTP/1.1, connect-go's
// client, pooled keep-alive connections), beside unary/gateway-grpc/N:
// what a browser's connect-web client or buf curl costs the gateway
// against a gRPC client.
//
//	unary/gateway-connect/N  Bench.Echo (~100 bytes) from N callers
//
// Measured on the 2-core machine, 5 rounds: 0.78x (0.77-0.81) of
// unary/gateway-grpc/1 and 0.56x (0.55-0.57) of unary/gateway-grpc/16;
// with 16 callers each call in flight holds an HTTP/1.1 connection of its
// own, where gRPC multiplexes them on one.

func init() {
	for i, callers := range []int{1, 16} {
		name := fmt.Sprintf("unary/gateway-connect/%d", callers)
		register(contender{name: name, unit: "calls/s", order: 520 + i,
			run: func(r *round) (float64, error) { return gatewayConnectUnary(r, callers) }})
		registerRatio(ratio{name: fmt.Sprintf("unary gateway-connect/gateway-grpc %d", callers), num: name, den: fmt.Sprintf("unary/gateway-grpc/%d", callers)})
	}
}

// gatewayConnectUnary: Bench.Echo through the gateway's HTTP handler as
// Connect unary calls, the request and answer as wire bytes (rawCodec), as
// gatewayUnary sends them over gRPC.
func gatewayConnectUnary(r *round, callers int) (float64, error) {
	return gatewayUnaryWith(r, callers, gatewaySetup{server: grpcDefaults, client: grpcDefaults}, func(gs *gatewaySession) (func(rawBytes) (rawBytes, error), error) {
		c := connect.NewClient[rawBytes, rawBytes](gs.hc, gs.httpBase+fullMethod(gs.echo), connect.WithCodec(rawCodec{}))
		return func(req rawBytes) (rawBytes, error) {
			res, err := c.CallUnary(context.Background(), connect.NewRequest(&req))
			if err != nil {
				return nil, err
			}
			return *res.Msg, nil
		}, nil
	})
}
