package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/framegate/framegate/native"
)

// Streams of small messages (issue 17): a server stream of ~100-byte
// messages on one connection over TCP loopback. native sends EchoMsg as a
// JSON message (Sender, Receiver); grpc-go sends a StringValue holding the
// same JSON text, as the unary rows do, and its client receives each into a
// new message, as a generated client's Recv does. Both receivers check
// each message. The grpc-decoded row also decodes each StringValue's JSON
// into an EchoMsg: what native's Receiver hands its caller.

func init() {
	register(contender{name: "messages/native/tcp", unit: "msgs/s", order: 560, run: nativeMessages})
	register(contender{name: "messages/grpc/tcp", unit: "msgs/s", order: 561, run: func(r *round) (float64, error) { return grpcMessages(r, false) }})
	register(contender{name: "messages/grpc-decoded/tcp", unit: "msgs/s", order: 562, run: func(r *round) (float64, error) { return grpcMessages(r, true) }})
	registerRatio(ratio{name: "messages native/grpc tcp", num: "messages/native/tcp", den: "messages/grpc/tcp", target: atLeast(2)})
	// The same work product on both sides: grpc-go's receiver also decodes
	// each message's JSON text into an EchoMsg, as native's Receiver does.
	registerRatio(ratio{name: "messages native/grpc-decoded tcp", num: "messages/native/tcp", den: "messages/grpc-decoded/tcp"})
}

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

// grpcMessagesDesc is the grpc-go side: Watch streams Int64Value.Value
// copies of a StringValue holding echoJSON.
var grpcMessagesDesc = grpc.ServiceDesc{
	ServiceName: "framegate.bench.Messages",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			var req wrapperspb.Int64Value
			if err := ss.RecvMsg(&req); err != nil {
				return err
			}
			msg := wrapperspb.String(echoJSON)
			for range req.Value {
				if err := ss.SendMsg(msg); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}

var grpcWatchStream = &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}

func grpcMessages(r *round, decode bool) (float64, error) {
	gs, err := startGRPC("tcp", 1, grpcDefaults)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	v, err := r.messages(func(n int) error {
		cs, err := gs.cc.NewStream(ctx, grpcWatchStream, "/framegate.bench.Messages/Watch", grpc.WaitForReady(true))
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
			m := new(wrapperspb.StringValue)
			err := cs.RecvMsg(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if decode {
				var e EchoMsg
				if err := json.Unmarshal([]byte(m.Value), &e); err != nil {
					return err
				}
				if err := checkEcho(&e); err != nil {
					return err
				}
			} else if m.Value != echoJSON {
				return fmt.Errorf("received %q", m.Value)
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
