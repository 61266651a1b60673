package native_test

// Call suite cases of streams of messages: server streams, client streams
// and bidi, over every transport and LocalClient.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var messageCases = []suiteCase{
	{name: "MessagesServerStream", run: testMessagesServerStream},
	{name: "MessagesClientStream", run: testMessagesClientStream},
	{name: "MessagesPingPong", run: testMessagesPingPong},
	{name: "MessagesSlowConsumer", run: testMessagesSlowConsumer},
	{name: "MessagesErrorAfterN", run: testMessagesErrorAfterN},
	{name: "MessagesHandlerEndsBidi", run: testMessagesHandlerEndsBidi},
	{name: "MessagesTooLarge", run: testMessagesTooLarge},
	{name: "MessagesTooLargeReceived", run: testMessagesTooLargeReceived},
	{name: "MessagesWithByteStreams", run: testMessagesWithByteStreams},
	{name: "MessagesDeadline", run: testMessagesDeadline},
	{name: "MessagesHandlerClosesReceiver", run: testMessagesHandlerClosesReceiver},
	{name: "MessagesPeerVanishes", remote: true, run: testMessagesPeerVanishes},
	{name: "MessagesCloseClientDuringBidi", remote: true, run: testMessagesCloseClientDuringBidi},
	{name: "MessagesPool", remote: true, run: testMessagesPool},
	{name: "MessagesDecodeRules", run: testMessagesDecodeRules},
}

type tick struct {
	Seq  int    `json:"seq"`
	Text string `json:"text,omitempty"`
}

type watchReq struct {
	Count int    `json:"count"`
	Fail  int    `json:"fail"` // fail after this many, if > 0
	Pad   int    `json:"pad"`
	Name  string `json:"name"`
}

type sumResp struct {
	N   int    `json:"n"`
	Sum int    `json:"sum"`
	Tag string `json:"tag"`
}

// registerTicks registers Ticks.Watch, a server stream of req.Count ticks
// that fails after req.Fail of them if set.
func registerTicks(t *testing.T, srv *native.Server) {
	mustRegister(t, srv, "Ticks.Watch", func(ctx context.Context, req *watchReq, out *native.Sender[tick]) error {
		pad := strings.Repeat("x", req.Pad)
		for i := range req.Count {
			if req.Fail > 0 && i == req.Fail {
				return native.Errorf(native.CodeAborted, "watch %s stopped after %d ticks", req.Name, i)
			}
			if err := out.Send(&tick{Seq: i, Text: pad}); err != nil {
				return err
			}
		}
		native.SetTrailer(ctx, native.Metadata{"x-sent": {fmt.Sprint(req.Count)}})
		return nil
	})
}

// recvAll receives until the stream ends, checking the sequence.
func recvAll(t *testing.T, rx *native.Receiver[tick]) (int, error) {
	t.Helper()
	for n := 0; ; n++ {
		m, err := rx.Recv()
		if err != nil {
			return n, err
		}
		if m.Seq != n {
			t.Fatalf("message %d has seq %d", n, m.Seq)
		}
	}
}

func testMessagesServerStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerTicks(t, srv)
	f := mk(t, srv)
	for _, count := range []int{0, 1, 1000} {
		var rx native.Receiver[tick]
		var tr native.Metadata
		if err := f.caller.Call(context.Background(), "Ticks.Watch", &watchReq{Count: count}, &rx, native.Trailer(&tr)); err != nil {
			t.Fatal(err)
		}
		n, err := recvAll(t, &rx)
		if err != io.EOF || n != count {
			t.Fatalf("count %d: received %d messages, then %v; want io.EOF", count, n, err)
		}
		if _, err := rx.Recv(); err != io.EOF {
			t.Fatalf("Recv after the end: %v, want io.EOF again", err)
		}
		if tr.Get("x-sent") != fmt.Sprint(count) {
			t.Fatalf("trailer %v", tr)
		}
	}
	// An endpoint that is not a stream of messages is refused by Call.
	var rx native.Receiver[tick]
	wantCode(t, f.caller.Call(context.Background(), "Echo.Unary", &echoReq{}, &rx), native.CodeInvalidArgument, "answers json", "expects messages")
	checkEcho(t, f.caller, 1)
}

func testMessagesClientStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Ticks.Sum", func(req *watchReq, in *native.Receiver[tick], resp *sumResp) error {
		for {
			m, err := in.Recv()
			if err == io.EOF {
				resp.Tag = req.Name
				return nil
			}
			if err != nil {
				return err
			}
			resp.N++
			resp.Sum += m.Seq
		}
	})
	f := mk(t, srv)
	var tx native.Sender[tick]
	var resp sumResp
	if err := f.caller.Call(context.Background(), "Ticks.Sum", native.StreamRequest{JSON: &watchReq{Name: "t1"}, Messages: &tx}, &resp); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if err := tx.Send(&tick{Seq: i}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if resp != (sumResp{N: 500, Sum: 499 * 500 / 2, Tag: "t1"}) {
		t.Fatalf("response %+v", resp)
	}
	if err := tx.Send(&tick{}); err == nil {
		t.Fatal("Send after Close succeeded")
	}
	// Messages that are not a Sender are refused before anything is sent.
	wantCode(t, f.caller.Call(context.Background(), "Ticks.Sum", native.StreamRequest{JSON: &watchReq{}, Messages: tx}, &resp),
		native.CodeInvalidArgument, "must be a *native.Sender[T]")
	checkEcho(t, f.caller, 1)
}

// registerPingPong registers Ticks.Echo, a bidi endpoint answering each
// message with its seq plus one, until the caller ends its stream.
func registerPingPong(t *testing.T, srv *native.Server) {
	mustRegister(t, srv, "Ticks.Echo", func(in *native.Receiver[tick], out *native.Sender[tick]) error {
		for {
			m, err := in.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if m.Text == "fail" {
				return native.Errorf(native.CodeFailedPrecondition, "echo refused message %d", m.Seq)
			}
			if err := out.Send(&tick{Seq: m.Seq + 1, Text: m.Text}); err != nil {
				return err
			}
		}
	})
}

// openEcho opens a bidi call of Ticks.Echo.
func openEcho(t *testing.T, f *fixture) (*native.Sender[tick], *native.Receiver[tick]) {
	t.Helper()
	var tx native.Sender[tick]
	var rx native.Receiver[tick]
	if err := f.caller.Call(context.Background(), "Ticks.Echo", &tx, &rx); err != nil {
		t.Fatal(err)
	}
	return &tx, &rx
}

func testMessagesPingPong(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerPingPong(t, srv)
	f := mk(t, srv)
	tx, rx := openEcho(t, f)
	seq := 0
	for range 200 {
		if err := tx.Send(&tick{Seq: seq, Text: "ping"}); err != nil {
			t.Fatal(err)
		}
		m, err := rx.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != seq+1 || m.Text != "ping" {
			t.Fatalf("sent %d, received %+v", seq, m)
		}
		seq = m.Seq + 1
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := rx.Recv(); err != io.EOF {
		t.Fatalf("Recv after Close: %v %v, want io.EOF", m, err)
	}
	checkEcho(t, f.caller, 1)
}

// testMessagesSlowConsumer checks that a handler sending to a caller that
// does not read blocks in Send once the window and the buffers are full,
// holding a bounded number of messages, and that every message then
// arrives in order.
func testMessagesSlowConsumer(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	const total, size = 3000, 1000
	var sent atomic.Int64
	mustRegister(t, srv, "Ticks.Flood", func(out *native.Sender[tick]) error {
		pad := strings.Repeat("y", size)
		for i := range total {
			if err := out.Send(&tick{Seq: i, Text: pad}); err != nil {
				return err
			}
			sent.Add(1)
		}
		return nil
	})
	f := mk(t, srv, clientOptions(native.WithStreamWindow(64<<10)))
	var rx native.Receiver[tick]
	if err := f.caller.Call(context.Background(), "Ticks.Flood", nil, &rx); err != nil {
		t.Fatal(err)
	}
	// Wait until the handler stops making progress: it is blocked in Send.
	last, still := int64(-1), 0
	for deadline := time.Now().Add(10 * time.Second); still < 5; {
		if time.Now().After(deadline) {
			t.Fatalf("the handler never blocked: %d messages sent", sent.Load())
		}
		time.Sleep(10 * time.Millisecond)
		if n := sent.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	// The window (64 KiB), the Sender's buffer (64 KiB) and one frame
	// being written (64 KiB) hold about 200 messages of 1 KiB; on a busy
	// connection the connection window is shared, never larger.
	if last >= 400 {
		t.Fatalf("the handler sent %d messages of %d bytes to a caller that reads none", last, size)
	}
	n, err := recvAll(t, &rx)
	if err != io.EOF || n != total {
		t.Fatalf("received %d messages, then %v", n, err)
	}
	checkEcho(t, f.caller, 1)
}

func testMessagesErrorAfterN(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerTicks(t, srv)
	f := mk(t, srv)
	for _, n := range []int{1, 3, 700} {
		var rx native.Receiver[tick]
		if err := f.caller.Call(context.Background(), "Ticks.Watch", &watchReq{Count: 1000, Fail: n, Name: "w", Pad: 100}, &rx); err != nil {
			t.Fatal(err)
		}
		got, err := recvAll(t, &rx)
		if got != n {
			t.Fatalf("received %d messages before the error, want %d", got, n)
		}
		wantCode(t, err, native.CodeAborted, fmt.Sprintf("watch w stopped after %d ticks", n))
		_, again := rx.Recv()
		wantCode(t, again, native.CodeAborted) // sticky
	}
	checkEcho(t, f.caller, 1)
}

// testMessagesHandlerEndsBidi checks a bidi handler that fails while the
// caller still sends: the caller's Send stops with io.EOF, and Recv has the
// handler's error.
func testMessagesHandlerEndsBidi(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerPingPong(t, srv)
	f := mk(t, srv)
	tx, rx := openEcho(t, f)
	for i := range 3 {
		if err := tx.Send(&tick{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Send(&tick{Seq: 3, Text: "fail"}); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 1; ; i++ {
		var m *tick
		if m, err = rx.Recv(); err != nil {
			if i != 4 {
				t.Fatalf("%d replies before the error, want 3", i-1)
			}
			break
		}
		if m.Seq != i {
			t.Fatalf("reply %d has seq %d", i, m.Seq)
		}
	}
	wantCode(t, err, native.CodeFailedPrecondition, "echo refused message 3")
	var serr error
	for i := 0; serr == nil && i < 100000; i++ {
		serr = tx.Send(&tick{Seq: 100})
	}
	if serr != io.EOF {
		t.Fatalf("Send after the handler failed: %v, want io.EOF", serr)
	}
	if err := tx.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkEcho(t, f.caller, 1)
}

// testMessagesWithByteStreams checks the mixed forms: messages in and a
// byte stream out, and a byte stream in and messages out.
func testMessagesWithByteStreams(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Ticks.Join", func(in *native.Receiver[tick], out *io.Reader) error {
		var b strings.Builder
		for {
			m, err := in.Recv()
			if err == io.EOF {
				*out = strings.NewReader(b.String())
				return nil
			}
			if err != nil {
				return err
			}
			b.WriteString(m.Text)
		}
	})
	mustRegister(t, srv, "Ticks.Split", func(body io.Reader, out *native.Sender[tick]) error {
		data, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		for i, w := range strings.Fields(string(data)) {
			if err := out.Send(&tick{Seq: i, Text: w}); err != nil {
				return err
			}
		}
		return nil
	})
	f := mk(t, srv)
	var tx native.Sender[tick]
	var rc io.ReadCloser
	if err := f.caller.Call(context.Background(), "Ticks.Join", &tx, &rc); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"a", "b", "c"} {
		if err := tx.Send(&tick{Text: w}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || string(got) != "abc" {
		t.Fatalf("joined %q, %v", got, err)
	}
	var rx native.Receiver[tick]
	if err := f.caller.Call(context.Background(), "Ticks.Split", strings.NewReader("x y z"), &rx); err != nil {
		t.Fatal(err)
	}
	var words []string
	for {
		m, err := rx.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		words = append(words, m.Text)
	}
	if strings.Join(words, " ") != "x y z" {
		t.Fatalf("split into %q", words)
	}
	checkEcho(t, f.caller, 1)
}

// testMessagesDeadline checks a caller's deadline: the handler, blocked
// in Send to a caller that does not read, sees it, and the caller's Recv
// ends with DeadlineExceeded, never io.EOF.
func testMessagesDeadline(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	cause, sendErr := registerEndlessTicks(t, srv)
	f := mk(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var rx native.Receiver[tick]
	if err := f.caller.Call(ctx, "Ticks.Endless", nil, &rx); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, cause, 5*time.Second, "the handler's ctx to end"); got == nil {
		t.Fatal("no cause")
	}
	if err := waitFor(t, sendErr, 5*time.Second, "the handler's Send to fail"); err == nil {
		t.Fatal("Send did not fail")
	}
	var err error
	for err == nil {
		_, err = rx.Recv()
	}
	wantCode(t, err, native.CodeDeadlineExceeded)
	checkEcho(t, f.caller, 1)
}

// testMessagesHandlerClosesReceiver checks a handler that stops reading
// its caller's messages and answers: the caller's Send ends with io.EOF,
// and Close gives the answer.
func testMessagesHandlerClosesReceiver(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Ticks.First", func(in *native.Receiver[tick], resp *sumResp) error {
		m, err := in.Recv()
		if err != nil {
			return err
		}
		in.Close()
		resp.N, resp.Tag = 1, m.Text
		return nil
	})
	f := mk(t, srv)
	var tx native.Sender[tick]
	var resp sumResp
	if err := f.caller.Call(context.Background(), "Ticks.First", &tx, &resp); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; err == nil && i < 1_000_000; i++ {
		err = tx.Send(&tick{Seq: i, Text: "first"})
	}
	if err != io.EOF {
		t.Fatalf("Send to a handler that answered: %v, want io.EOF", err)
	}
	if err := tx.Close(); err != nil || resp.Tag != "first" {
		t.Fatalf("Close = %v, response %+v", err, resp)
	}
	checkEcho(t, f.caller, 1)
}
