package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/framegate/framegate/bench/internal/benchpb"
	"github.com/framegate/framegate/native"
)

// Streams of small messages (issue 17): a server stream of ~100-byte
// messages on one connection over TCP loopback, each end with its default
// settings. native sends EchoMsg as a JSON message (Sender, Receiver) and
// its caller receives each into a new EchoMsg. grpc-go sends the same
// message as protobuf (benchpb.EchoMsg, generated code, the same field
// values), and its client receives each into a new message, as a generated
// client's Recv does. Both receivers check each message.
//
// Two more grpc-go rows carry the JSON text in a StringValue instead: the
// same bytes as native's on the wire, handed to the caller as text
// (grpc-string), or decoded into an EchoMsg as native's Receiver does
// (grpc-decoded).

func init() {
	register(contender{name: "messages/native/tcp", unit: "msgs/s", order: 560, run: nativeMessages})
	register(contender{name: "messages/grpc/tcp", unit: "msgs/s", order: 561, run: func(r *round) (float64, error) { return grpcMessages(r, grpcProto) }})
	register(contender{name: "messages/grpc-string/tcp", unit: "msgs/s", order: 562, run: func(r *round) (float64, error) { return grpcMessages(r, grpcText) }})
	register(contender{name: "messages/grpc-decoded/tcp", unit: "msgs/s", order: 563, run: func(r *round) (float64, error) { return grpcMessages(r, grpcTextDecoded) }})
	registerRatio(ratio{name: "messages native/grpc tcp", num: "messages/native/tcp", den: "messages/grpc/tcp", target: atLeast(2)})
	registerRatio(ratio{name: "messages native/grpc-string tcp", num: "messages/native/tcp", den: "messages/grpc-string/tcp"})
	registerRatio(ratio{name: "messages native/grpc-decoded tcp", num: "messages/native/tcp", den: "messages/grpc-decoded/tcp"})
}

// grpcMessageKind is what the grpc-go message rows send and receive.
type grpcMessageKind int

const (
	grpcProto       grpcMessageKind = iota // benchpb.EchoMsg
	grpcText                               // a StringValue holding echoJSON
	grpcTextDecoded                        // the same, its JSON decoded into an EchoMsg
)

// grpcPlain is grpc-go exactly as shipped on both ends: a stream of small
// messages needs no knob (grpcDefaults raises the receive limit for bulk
// messages).
var grpcPlain = grpcSettings{name: "plain"}

// messagesPerCall is how many messages one stream carries in the timed part.
const messagesPerCall = 100_000

// messages runs stream(n), which must receive n messages end to end, after
// one untimed warm-up, until cfg.minTime has passed (at least 3 streams),
// and returns messages per second. It records the heap allocations and the
// process's CPU time (both ends) per message.
func (r *round) messages(stream func(n int) error) (float64, error) {
	if err := stream(10_000); err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	d := max(r.cfg.minTime, 500*time.Millisecond)
	allocs0, cpu0, t0 := heapAllocs(), cpuTime(), time.Now()
	total := 0
	for i := 0; i < 3 || time.Since(t0) < d; i++ {
		if err := stream(messagesPerCall); err != nil {
			return 0, err
		}
		total += messagesPerCall
	}
	el := time.Since(t0)
	r.record("allocs", "allocs/msg", float64(heapAllocs()-allocs0)/float64(total))
	r.record("cpu", "ns/msg", float64(cpuTime()-cpu0)/float64(total))
	return float64(total) / el.Seconds(), nil
}

func nativeMessages(r *round) (float64, error) {
	ns, err := startNative("tcp")
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	v, err := r.messages(func(n int) error {
		var rx native.Receiver[EchoMsg]
		if err := ns.client.Call(ctx, "Bench.Watch", &streamRequest{N: int64(n)}, &rx); err != nil {
			return err
		}
		got := 0
		for {
			m, err := rx.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if err := checkEcho(m); err != nil {
				return err
			}
			got++
		}
		if got != n {
			return fmt.Errorf("received %d messages, want %d", got, n)
		}
		return nil
	})
	return v, errors.Join(err, ns.close())
}

// benchWatch is Bench.Watch: req.N copies of echoRequest.
func benchWatch(ctx context.Context, req *streamRequest, out *native.Sender[EchoMsg]) error {
	for range req.N {
		if err := out.Send(&echoRequest); err != nil {
			return err
		}
	}
	return nil
}

// echoProto is echoRequest as protobuf.
var echoProto = &benchpb.EchoMsg{Id: echoRequest.ID, Name: echoRequest.Name, Tags: echoRequest.Tags, Size: echoRequest.Size, Owner: echoRequest.Owner}

// grpcMessagesDesc is the grpc-go side: Watch streams Int64Value.Value
// copies of echoProto, WatchText of a StringValue holding echoJSON.
var grpcMessagesDesc = grpc.ServiceDesc{
	ServiceName: "framegate.bench.Messages",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Watch", ServerStreams: true, Handler: grpcWatch(echoProto)},
		{StreamName: "WatchText", ServerStreams: true, Handler: grpcWatch(wrapperspb.String(echoJSON))},
	},
}

// grpcWatch is a handler that streams copies of msg.
func grpcWatch(msg proto.Message) grpc.StreamHandler {
	return func(_ any, ss grpc.ServerStream) error {
		var req wrapperspb.Int64Value
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		for range req.Value {
			if err := ss.SendMsg(msg); err != nil {
				return err
			}
		}
		return nil
	}
}

var grpcWatchStream = &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}

func grpcMessages(r *round, kind grpcMessageKind) (float64, error) {
	gs, err := startGRPC("tcp", 1, grpcPlain)
	if err != nil {
		return 0, err
	}
	method := "/framegate.bench.Messages/Watch"
	if kind != grpcProto {
		method += "Text"
	}
	ctx := context.Background()
	v, err := r.messages(func(n int) error {
		cs, err := gs.cc.NewStream(ctx, grpcWatchStream, method, grpc.WaitForReady(true))
		if err != nil {
			return err
		}
		if err := cs.SendMsg(wrapperspb.Int64(int64(n))); err != nil {
			return err
		}
		if err := cs.CloseSend(); err != nil {
			return err
		}
		got := 0
		for {
			if err := grpcRecvEcho(cs, kind); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			got++
		}
		if got != n {
			return fmt.Errorf("received %d messages, want %d", got, n)
		}
		return nil
	})
	return v, errors.Join(err, gs.close())
}

// grpcRecvEcho receives the next message of kind into a new message, as a
// generated client's Recv does, and checks it as checkEcho does.
func grpcRecvEcho(cs grpc.ClientStream, kind grpcMessageKind) error {
	if kind == grpcProto {
		m := new(benchpb.EchoMsg)
		if err := cs.RecvMsg(m); err != nil {
			return err
		}
		return checkEcho(&EchoMsg{ID: m.GetId(), Name: m.GetName(), Tags: m.GetTags()})
	}
	m := new(wrapperspb.StringValue)
	if err := cs.RecvMsg(m); err != nil {
		return err
	}
	if kind == grpcText {
		if m.Value != echoJSON {
			return fmt.Errorf("received %q", m.Value)
		}
		return nil
	}
	var e EchoMsg
	if err := json.Unmarshal([]byte(m.Value), &e); err != nil {
		return err
	}
	return checkEcho(&e)
}
