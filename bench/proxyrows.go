package main

// unary/grpc-proxy/N: the fair "one hop" anchor for a gateway in front of a
// remote backend. A grpc-go server forwards every call, its bytes as they
// are (no decoding) and its metadata, over one ClientConn to the
// unary/grpc rows' grpc-go server: what the cheapest gRPC proxy costs.

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func init() {
	for i, callers := range []int{1, 16} {
		register(contender{name: fmt.Sprintf("unary/grpc-proxy/%d", callers), unit: "calls/s", order: 514 + i,
			run: func(r *round) (float64, error) { return grpcProxyUnary(r, callers) }})
	}
}

// rawBytes is a message passed through a proxy undecoded.
type rawBytes []byte

// rawCodec hands message bytes over as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*rawBytes)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T is not *rawBytes", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*rawBytes)
	if !ok {
		return fmt.Errorf("rawCodec: %T is not *rawBytes", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// grpcProxyUnary: the unary/grpc calls, through a forwarding proxy.
func grpcProxyUnary(r *round, callers int) (float64, error) {
	back, err := startGRPC("tcp", 1, grpcDefaults)
	if err != nil {
		return 0, err
	}
	proxy := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		var in, out rawBytes
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		ctx := ss.Context()
		md, _ := metadata.FromIncomingContext(ctx)
		if err := back.cc.Invoke(metadata.NewOutgoingContext(ctx, md), method, &in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
			return err
		}
		return ss.SendMsg(&out)
	}))
	l, err := listenTCP()
	if err != nil {
		return 0, errors.Join(err, back.close())
	}
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(l) }()
	cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(), grpcDefaults.dialOptions()...)
	if err != nil {
		proxy.Stop()
		return 0, errors.Join(err, <-served, back.close())
	}
	ctx := context.Background()
	req := wrapperspb.String(echoJSON)
	method := "/" + grpcServiceName + "/Echo"
	v, err := r.calls(callers, func() error {
		var resp wrapperspb.StringValue
		if err := cc.Invoke(ctx, method, req, &resp, grpc.WaitForReady(true)); err != nil {
			return err
		}
		if resp.Value != echoJSON {
			return fmt.Errorf("echo answered %q", resp.Value)
		}
		return nil
	})
	cc.Close()
	proxy.Stop()
	if serr := <-served; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
		err = errors.Join(err, serr)
	}
	return v, errors.Join(err, back.close())
}
