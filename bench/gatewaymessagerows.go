package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Streams of small messages through the gateway (issue 17): Bench.Watch, a
// native server stream of EchoMsg, served by the gateway as the gRPC server
// stream native.Bench/Watch of the EchoMsg message, in process. The client
// receives each message's wire bytes (rawCodec) and compares them with the
// first, which it decodes and checks field by field, as the unary gateway
// rows do: the row measures the gateway, not a dynamicpb client.

func init() {
	register(contender{name: "messages/gateway-grpc/tcp", unit: "msgs/s", order: 563, run: gatewayMessages})
	registerRatio(ratio{name: "messages gateway-grpc/grpc tcp", num: "messages/gateway-grpc/tcp", den: "messages/grpc/tcp"})
}

func gatewayMessages(r *round) (float64, error) {
	gs, err := startGatewayWith(gatewaySetup{server: grpcDefaults, client: grpcDefaults})
	if err != nil {
		return 0, err
	}
	v, err := gs.watchMessages(r)
	return v, errors.Join(err, gs.close())
}

// watchMessages measures Bench.Watch through the gateway's gRPC server.
func (gs *gatewaySession) watchMessages(r *round) (float64, error) {
	sd := gs.echo.Parent().(protoreflect.ServiceDescriptor)
	watch := sd.Methods().ByName("Watch")
	if watch == nil || !watch.IsStreamingServer() {
		return 0, fmt.Errorf("gateway service %s lacks the server stream Watch", sd.FullName())
	}
	req := dynamicpb.NewMessage(watch.Input())
	nField := watch.Input().Fields().ByJSONName("n")
	out := watch.Output()
	idF, nameF := out.Fields().ByJSONName("id"), out.Fields().ByJSONName("name")
	if nField == nil || idF == nil || nameF == nil {
		return 0, fmt.Errorf("gateway method %s: unexpected shape (%s -> %s)", watch.FullName(), watch.Input().FullName(), out.FullName())
	}
	method := fullMethod(watch)
	var want []byte
	return r.messages(func(n int) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := gs.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(true))
		if err != nil {
			return err
		}
		req.Set(nField, protoreflect.ValueOfInt64(int64(n)))
		wire, err := proto.Marshal(req)
		if err != nil {
			return err
		}
		if err := st.SendMsg((*rawBytes)(&wire)); err != nil {
			return err
		}
		if err := st.CloseSend(); err != nil {
			return err
		}
		got := 0
		for {
			var m rawBytes
			if err := st.RecvMsg(&m); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			if want == nil {
				msg := dynamicpb.NewMessage(out)
				if err := proto.Unmarshal(m, msg); err != nil || msg.Get(idF).Int() != echoRequest.ID || msg.Get(nameF).String() != echoRequest.Name {
					return fmt.Errorf("Watch sent %v (%v)", msg, err)
				}
				want = append([]byte(nil), m...)
			} else if !bytes.Equal(m, want) {
				return fmt.Errorf("Watch sent %x, want %x", []byte(m), want)
			}
			got++
		}
		if got != n {
			return fmt.Errorf("received %d messages, want %d", got, n)
		}
		return nil
	})
}
