package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

type msTick struct {
	Seq  int64  `json:"seq"`
	Text string `json:"text,omitempty"`
}

type msWatch struct {
	Count int    `json:"count"`
	Fail  int    `json:"fail"` // fail after this many, if > 0
	Name  string `json:"name"`
}

type msSum struct {
	N   int    `json:"n"`
	Sum int64  `json:"sum"`
	Log string `json:"log"`
}

type msAppend struct {
	Log string `json:"log"`
}

// msEnv is a gateway over a backend with endpoints of every kind of stream
// of messages; canceled receives the name of each call whose context the
// handler saw end.
type msEnv struct {
	*env
	d        *dyn
	canceled chan string
}

func registerMessageStreams(t testing.TB, srv *native.Server, canceled chan<- string) {
	reg := func(name string, fn any) {
		t.Helper()
		if err := srv.Register(name, fn); err != nil {
			t.Fatal(err)
		}
	}
	reg("Msg.Watch", func(ctx context.Context, req *msWatch, out *native.Sender[msTick]) error {
		for i := 0; req.Count == 0 || i < req.Count; i++ {
			if req.Fail > 0 && i == req.Fail {
				return native.Errorf(native.CodeAborted, "watch %s stopped after %d ticks", req.Name, i)
			}
			if err := out.Send(&msTick{Seq: int64(i), Text: req.Name}); err != nil {
				canceled <- req.Name
				return err
			}
			if req.Count == 0 {
				select {
				case <-ctx.Done():
					canceled <- req.Name
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		}
		native.SetTrailer(ctx, native.Metadata{"x-sent": {fmt.Sprint(req.Count)}})
		return nil
	})
	registerRESTMessageStreams(t, srv)
	reg("Msg.Sum", func(in *native.Receiver[msTick], resp *msSum) error { return sumTicks(in, resp) })
	reg("Msg.Append", func(req *msAppend, in *native.Receiver[msTick], resp *msSum) error {
		resp.Log = req.Log
		return sumTicks(in, resp)
	})
	reg("Msg.Echo", func(in *native.Receiver[msTick], out *native.Sender[msTick]) error {
		for {
			m, err := in.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if m.Text == "fail" {
				return native.Errorf(native.CodeFailedPrecondition, "echo refuses %q after seq %d", m.Text, m.Seq)
			}
			if err := out.Send(m); err != nil {
				return err
			}
		}
	})
	reg("Msg.Words", func(in *native.Receiver[string], out *native.Sender[string]) error {
		for {
			m, err := in.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := out.Send(new(strings.ToUpper(*m))); err != nil {
				return err
			}
		}
	})
}

// sumTicks receives ticks to the stream's end, counting and summing them.
func sumTicks(in *native.Receiver[msTick], resp *msSum) error {
	for {
		m, err := in.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		resp.N++
		resp.Sum += m.Seq
	}
}

// eachMessageBackend runs fn over a local and a remote backend, with a
// gateway made with opts.
func eachMessageBackend(t *testing.T, fn func(t *testing.T, e *msEnv), opts ...Option) {
	for _, kind := range backendKinds {
		t.Run(kind, func(t *testing.T) {
			srv := native.NewServer()
			e := &msEnv{env: &env{name: kind, srv: srv}, canceled: make(chan string, 16)}
			registerMessageStreams(t, srv, e.canceled)
			var backend Backend = Local(srv)
			if kind == "remote" {
				backend = Remote(dialPool(serveNative(t, srv)))
				t.Cleanup(func() { backend.Close() })
			}
			g, err := New(context.Background(), backend, opts...)
			if err != nil {
				t.Fatal(err)
			}
			e.gw = g
			e.addr, e.conn = serveGRPC(t, g)
			e.d = newDyn(t, e.conn)
			// HTTP/1.1 and HTTP/2 without TLS: Connect's bidi streams
			// need HTTP/2.
			e.http = httptest.NewUnstartedServer(g.HTTPHandler())
			e.http.Config.Protocols = new(http.Protocols)
			e.http.Config.Protocols.SetHTTP1(true)
			e.http.Config.Protocols.SetUnencryptedHTTP2(true)
			e.http.Start()
			t.Cleanup(e.http.Close)
			fn(t, e)
		})
	}
}

func (e *msEnv) out(name string) *dynamicpb.Message {
	return dynamicpb.NewMessage(e.d.method(name).Output())
}

// recvTicks receives ticks until the stream ends, returning their seqs and
// the final error (nil for a clean end).
func (e *msEnv) recvTicks(st grpc.ClientStream, name string) ([]int64, error) {
	var seqs []int64
	for {
		m := e.out(name)
		if err := st.RecvMsg(m); err != nil {
			if err == io.EOF {
				return seqs, nil
			}
			return seqs, err
		}
		seqs = append(seqs, field(m, "seq").Int())
	}
}

func TestGRPCMessageStreamDescriptors(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		for name, want := range map[string][2]bool{
			"native.Msg/Watch": {false, true}, "native.Msg/Sum": {true, false},
			"native.Msg/Append": {true, false}, "native.Msg/Echo": {true, true}, "native.Msg/Words": {true, true},
		} {
			md := e.d.method(name)
			if got := [2]bool{md.IsStreamingClient(), md.IsStreamingServer()}; got != want {
				t.Errorf("%s streams (client, server) %v, want %v", name, got, want)
			}
		}
		// The messages are the native message types themselves, or a
		// wrapper of a bare value.
		if got := e.d.method("native.Msg/Echo").Output().Fields().ByJSONName("seq"); got == nil || got.Kind() != protoreflect.Int64Kind {
			t.Errorf("Echo's output has seq %v", got)
		}
		if v := e.d.method("native.Msg/Words").Input().Fields().ByName("value"); v == nil || v.Kind() != protoreflect.StringKind {
			t.Errorf("Words' input value field %v", v)
		}
		in := e.d.method("native.Msg/Append").Input()
		if in.Name() != "MsgAppendInput" || in.Fields().ByName("request") == nil || in.Fields().ByName("message") == nil {
			t.Errorf("Append's input %s has fields %v", in.FullName(), in.Fields())
		}
	})
}

func TestGRPCMessageServerStream(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		st := e.d.stream(context.Background(), "native.Msg/Watch")
		if err := st.SendMsg(e.d.in("native.Msg/Watch", `{"count":50,"name":"a"}`)); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		seqs, err := e.recvTicks(st, "native.Msg/Watch")
		if err != nil {
			t.Fatal(err)
		}
		if len(seqs) != 50 || seqs[0] != 0 || seqs[49] != 49 {
			t.Fatalf("got %d ticks %v", len(seqs), seqs)
		}
		if got := st.Trailer().Get("x-sent"); len(got) != 1 || got[0] != "50" {
			t.Errorf("trailer x-sent %v", got)
		}
	})
}

// An error after N messages reaches the client as that error, after the N
// messages: never a clean end.
func TestGRPCMessageErrorAfterN(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		st := e.d.stream(context.Background(), "native.Msg/Watch")
		if err := st.SendMsg(e.d.in("native.Msg/Watch", `{"count":50,"fail":7,"name":"b"}`)); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		seqs, err := e.recvTicks(st, "native.Msg/Watch")
		if len(seqs) != 7 {
			t.Errorf("got %d ticks before the error, want 7", len(seqs))
		}
		wantCode(t, err, codes.Aborted, "watch b stopped after 7 ticks")
	})
}

func TestGRPCMessageClientStreams(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		st := e.d.stream(context.Background(), "native.Msg/Sum")
		for i := range 10 {
			if err := st.SendMsg(e.d.in("native.Msg/Sum", fmt.Sprintf(`{"seq":"%d"}`, i+1))); err != nil {
				t.Fatal(err)
			}
		}
		st.CloseSend()
		got := e.out("native.Msg/Sum")
		if err := st.RecvMsg(got); err != nil {
			t.Fatal(err)
		}
		if n, sum := field(got, "n").Int(), field(got, "sum").Int(); n != 10 || sum != 55 {
			t.Errorf("Sum: n %d sum %d, want 10 55", n, sum)
		}

		// json+messages: the first message carries the request and may
		// carry a message; later ones carry only messages.
		st = e.d.stream(context.Background(), "native.Msg/Append")
		for _, js := range []string{`{"request":{"log":"L"},"message":{"seq":"5"}}`, `{"message":{"seq":"6"}}`, `{"message":{}}`} {
			if err := st.SendMsg(e.d.in("native.Msg/Append", js)); err != nil {
				t.Fatal(err)
			}
		}
		st.CloseSend()
		got = e.out("native.Msg/Append")
		if err := st.RecvMsg(got); err != nil {
			t.Fatal(err)
		}
		if n, sum, log := field(got, "n").Int(), field(got, "sum").Int(), field(got, "log").String(); n != 3 || sum != 11 || log != "L" {
			t.Errorf("Append: n %d sum %d log %q, want 3 11 L", n, sum, log)
		}

		st = e.d.stream(context.Background(), "native.Msg/Append")
		for _, js := range []string{`{"request":{"log":"L"}}`, `{"request":{"log":"again"},"message":{"seq":"1"}}`} {
			if err := st.SendMsg(e.d.in("native.Msg/Append", js)); err != nil {
				t.Fatal(err)
			}
		}
		st.CloseSend()
		wantCode(t, st.RecvMsg(e.out("native.Msg/Append")), codes.InvalidArgument, "only the first message may carry the request")
	})
}

// Bidi is interleaved: each reply comes back before the next message is
// sent.
func TestGRPCMessageBidiPingPong(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		st := e.d.stream(context.Background(), "native.Msg/Echo")
		for i := range 20 {
			if err := st.SendMsg(e.d.in("native.Msg/Echo", fmt.Sprintf(`{"seq":"%d","text":"ping"}`, i))); err != nil {
				t.Fatal(err)
			}
			got := e.out("native.Msg/Echo")
			if err := st.RecvMsg(got); err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			if seq, text := field(got, "seq").Int(), field(got, "text").String(); seq != int64(i) || text != "ping" {
				t.Fatalf("reply %d: seq %d text %q", i, seq, text)
			}
		}
		st.CloseSend()
		if err := st.RecvMsg(e.out("native.Msg/Echo")); err != io.EOF {
			t.Fatalf("after CloseSend: %v, want io.EOF", err)
		}

		// Bare values travel in a wrapper.
		st = e.d.stream(context.Background(), "native.Msg/Words")
		st.SendMsg(e.d.in("native.Msg/Words", `{"value":"hi"}`))
		got := e.out("native.Msg/Words")
		if err := st.RecvMsg(got); err != nil || field(got, "value").String() != "HI" {
			t.Fatalf("Words: %v %v", got, err)
		}
		st.CloseSend()

		// The handler's error after N messages ends the stream with it.
		st = e.d.stream(context.Background(), "native.Msg/Echo")
		st.SendMsg(e.d.in("native.Msg/Echo", `{"seq":"1"}`))
		st.SendMsg(e.d.in("native.Msg/Echo", `{"seq":"2","text":"fail"}`))
		seqs, err := e.recvTicks(st, "native.Msg/Echo")
		if len(seqs) != 1 {
			t.Errorf("got %v before the error", seqs)
		}
		wantCode(t, err, codes.FailedPrecondition, `echo refuses "fail" after seq 2`)
	})
}

// A client that goes away ends the handler's stream.
func TestGRPCMessageClientCancels(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := e.d.stream(ctx, "native.Msg/Watch")
		st.SendMsg(e.d.in("native.Msg/Watch", `{"name":"forever"}`))
		st.CloseSend()
		for range 3 {
			if err := st.RecvMsg(e.out("native.Msg/Watch")); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		select {
		case name := <-e.canceled:
			if name != "forever" {
				t.Errorf("canceled %q", name)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not see the call end")
		}
	})
}

// A client message the schema does not know is refused, naming the field.
func TestGRPCMessageUnknownField(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		st := e.d.stream(context.Background(), "native.Msg/Echo")
		in := e.d.in("native.Msg/Echo", `{"seq":"1"}`)
		in.SetUnknown(protoreflect.RawFields{0xf8, 0x06, 0x01}) // field 111, varint 1
		st.SendMsg(in)
		st.CloseSend()
		_, err := e.recvTicks(st, "native.Msg/Echo")
		wantCode(t, err, codes.InvalidArgument, "111")
	})
}

// A gRPC client that reads nothing holds the handler's Send back (gRPC's
// flow control, then the native stream's), and its going ends the handler.
func TestGRPCMessageSlowConsumer(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		testSlowConsumer(t, e, func(ctx context.Context, req string) func() {
			st := e.d.stream(ctx, "native.Msg/Flood")
			if err := st.SendMsg(e.d.in("native.Msg/Flood", req)); err != nil {
				t.Fatal(err)
			}
			st.CloseSend()
			return func() {}
		})
	})
}
