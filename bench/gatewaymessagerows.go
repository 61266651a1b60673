package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Streams of small messages through the gateway (issue 17): Bench.Watch, a
// native server stream of EchoMsg, in process. Over gRPC, the gateway
// serves it as the server stream native.Bench/Watch of the EchoMsg message;
// the client
// receives each message's wire bytes (rawCodec) and compares them with the
// first, which it decodes and checks field by field, as the unary gateway
// rows do: the row measures the gateway, not a dynamicpb client.

func init() {
	register(contender{name: "messages/gateway-grpc/tcp", unit: "msgs/s", order: 563, run: gatewayMessages})
	register(contender{name: "messages/gateway-sse/tcp", unit: "msgs/s", order: 564, run: gatewaySSEMessages})
	registerRatio(ratio{name: "messages gateway-grpc/grpc tcp", num: "messages/gateway-grpc/tcp", den: "messages/grpc/tcp"})
	registerRatio(ratio{name: "messages gateway-sse/grpc tcp", num: "messages/gateway-sse/tcp", den: "messages/grpc/tcp"})
}

// gatewaySSEMessages is Bench.Watch through the gateway's REST front door
// as Server-Sent Events (GET, Accept: text/event-stream, HTTP/1.1 over
// loopback TCP), in process. The client reads each event's data line and
// compares it with the first, which it decodes and checks; the stream must
// end with the end event.
func gatewaySSEMessages(r *round) (float64, error) {
	gs, err := startGatewayWith(gatewaySetup{server: grpcDefaults, client: grpcDefaults})
	if err != nil {
		return 0, err
	}
	var want []byte
	v, err := r.messages(func(n int) error {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/%s/Watch?n=%d", gs.httpBase, gatewayService, n), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := gs.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return fmt.Errorf("GET Watch: %s: %s", resp.Status, b)
		}
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		got, ended := 0, false
		for !ended {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return fmt.Errorf("after %d events: %w", got, err)
			}
			switch {
			case bytes.HasPrefix(line, []byte("data: ")):
				data := line[len("data: ") : len(line)-1]
				if want == nil {
					var m EchoMsg
					if err := json.Unmarshal(data, &m); err != nil {
						return fmt.Errorf("event %q: %w", data, err)
					}
					if err := checkEcho(&m); err != nil {
						return err
					}
					want = append([]byte(nil), data...)
				} else if !bytes.Equal(data, want) {
					return fmt.Errorf("event %q, want %q", data, want)
				}
				got++
			case bytes.Equal(line, []byte("event: end\n")):
				ended = true
			case bytes.HasPrefix(line, []byte("event: ")):
				rest, _ := br.ReadString('\n')
				return fmt.Errorf("after %d events: %s%s", got, line, rest)
			}
		}
		if got != n {
			return fmt.Errorf("received %d events, want %d", got, n)
		}
		_, err = io.Copy(io.Discard, br)
		return err
	})
	return v, errors.Join(err, gs.close())
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
