package native_test

// Call suite cases of when the response header of a stream of messages
// goes out: at the handler's first Send, at SendHeader, or at its return,
// over every transport and LocalClient.

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var messageHeaderCases = []suiteCase{
	{name: "MessagesHeaderErrorFirst", run: testMessagesHeaderErrorFirst},
	{name: "MessagesHeaderErrorFirstBidi", run: testMessagesHeaderErrorFirstBidi},
	{name: "MessagesHeaderSendHeader", run: testMessagesHeaderSendHeader},
	{name: "MessagesHeaderSetBeforeSend", run: testMessagesHeaderSetBeforeSend},
}

// A server stream's handler that fails before its first message answers an
// ordinary error: Call returns it, with its code and the handler's header
// and trailer metadata.
func testMessagesHeaderErrorFirst(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Ticks.Refuse", func(ctx context.Context, req *watchReq, out *native.Sender[tick]) error {
		native.SetHeader(ctx, native.Metadata{"x-why": {"refused"}})
		native.SetTrailer(ctx, native.Metadata{"x-end": {"early"}})
		return native.Errorf(native.CodeInvalidArgument, "cannot watch %s", req.Name)
	})
	f := mk(t, srv)
	var rx native.Receiver[tick]
	var hdr, tr native.Metadata
	err := f.caller.Call(context.Background(), "Ticks.Refuse", &watchReq{Name: "w1"}, &rx, native.Header(&hdr), native.Trailer(&tr))
	wantCode(t, err, native.CodeInvalidArgument, "cannot watch w1")
	if hdr.Get("x-why") != "refused" || tr.Get("x-end") != "early" {
		t.Fatalf("header %v, trailer %v", hdr, tr)
	}
	checkEcho(t, f.caller, 1)
}

// A bidi handler that fails before its first message: the caller's Call
// returned at once, and its first Recv returns the error, with the header
// the handler set after reading a message.
func testMessagesHeaderErrorFirstBidi(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Ticks.RefuseBidi", func(ctx context.Context, in *native.Receiver[tick], out *native.Sender[tick]) error {
		m, err := in.Recv()
		if err != nil {
			return err
		}
		if err := native.SetHeader(ctx, native.Metadata{"x-seen": {"1"}}); err != nil {
			return err
		}
		return native.Errorf(native.CodePermissionDenied, "message %d refused", m.Seq)
	})
	f := mk(t, srv)
	var tx native.Sender[tick]
	var rx native.Receiver[tick]
	var hdr native.Metadata
	if err := f.caller.Call(context.Background(), "Ticks.RefuseBidi", &tx, &rx, native.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(&tick{Seq: 7}); err != nil {
		t.Fatal(err)
	}
	m, err := rx.Recv()
	if m != nil {
		t.Fatalf("received %+v", m)
	}
	wantCode(t, err, native.CodePermissionDenied, "message 7 refused")
	if hdr.Get("x-seen") != "1" {
		t.Fatalf("header %v", hdr)
	}
	tx.Close()
	checkEcho(t, f.caller, 1)
}

// SendHeader answers the header before any message: Call returns, with the
// metadata SetHeader added before it, while the handler waits; SetHeader
// fails after it, and the stream then goes on.
func testMessagesHeaderSendHeader(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	release := make(chan struct{})
	late := make(chan error, 1)
	mustRegister(t, srv, "Ticks.Subscribe", func(ctx context.Context, req *watchReq, out *native.Sender[tick]) error {
		if err := native.SetHeader(ctx, native.Metadata{"x-sub": {req.Name}}); err != nil {
			return err
		}
		if err := native.SendHeader(ctx); err != nil {
			return err
		}
		if err := native.SendHeader(ctx); err != nil {
			return err // a second one does nothing
		}
		late <- native.SetHeader(ctx, native.Metadata{"x-late": {"1"}})
		<-release
		return out.Send(&tick{Seq: 0})
	})
	f := mk(t, srv)
	var rx native.Receiver[tick]
	var hdr native.Metadata
	called := make(chan error, 1)
	go func() {
		called <- f.caller.Call(context.Background(), "Ticks.Subscribe", &watchReq{Name: "s1"}, &rx, native.Header(&hdr))
	}()
	if err := waitFor(t, called, 10*time.Second, "Call's return after SendHeader, before any message"); err != nil {
		close(release)
		t.Fatal(err)
	}
	close(release)
	if hdr.Get("x-sub") != "s1" {
		t.Fatalf("header %v", hdr)
	}
	wantCode(t, <-late, native.CodeFailedPrecondition, "after the response header was sent")
	if n, err := recvAll(t, &rx); n != 1 || err != io.EOF {
		t.Fatalf("received %d messages, then %v; want 1, io.EOF", n, err)
	}
	// Outside a handler of a stream of messages SendHeader fails.
	wantCode(t, native.SendHeader(context.Background()), native.CodeInternal, "outside a handler")
	mustRegister(t, srv, "Ticks.UnarySendHeader", func(ctx context.Context, req *watchReq, resp *sumResp) error {
		return native.SendHeader(ctx)
	})
	var resp sumResp
	wantCode(t, f.caller.Call(context.Background(), "Ticks.UnarySendHeader", &watchReq{}, &resp), native.CodeFailedPrecondition, "not a stream of messages")
	checkEcho(t, f.caller, 1)
}

// SetHeader before the first Send reaches the caller's Header option; after
// it, SetHeader fails.
func testMessagesHeaderSetBeforeSend(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	late := make(chan error, 1)
	mustRegister(t, srv, "Ticks.Tagged", func(ctx context.Context, req *watchReq, out *native.Sender[tick]) error {
		if err := native.SetHeader(ctx, native.Metadata{"x-tag": {req.Name}}); err != nil {
			return err
		}
		for i := range req.Count {
			if err := out.Send(&tick{Seq: i}); err != nil {
				return err
			}
		}
		late <- native.SetHeader(ctx, native.Metadata{"x-late": {"1"}})
		return nil
	})
	f := mk(t, srv)
	for _, count := range []int{0, 3} {
		var rx native.Receiver[tick]
		var hdr native.Metadata
		if err := f.caller.Call(context.Background(), "Ticks.Tagged", &watchReq{Name: "t1", Count: count}, &rx, native.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		// With no message, the header goes at the return, with the
		// metadata set last.
		if want := map[bool]string{true: "1"}[count == 0]; hdr.Get("x-tag") != "t1" || hdr.Get("x-late") != want {
			t.Fatalf("count %d: header %v", count, hdr)
		}
		if n, err := recvAll(t, &rx); n != count || err != io.EOF {
			t.Fatalf("count %d: received %d messages, then %v", count, n, err)
		}
		err := <-late
		if count == 0 {
			// Nothing was sent before the handler's return: the header
			// goes with it, and SetHeader still worked.
			if err != nil {
				t.Fatalf("SetHeader before the header went out: %v", err)
			}
			continue
		}
		wantCode(t, err, native.CodeFailedPrecondition, "after the response header was sent")
	}
	checkEcho(t, f.caller, 1)
}
