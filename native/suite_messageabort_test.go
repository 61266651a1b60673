package native_test

// Call suite cases of a caller that gives up a stream of messages (cancels
// the call's ctx, or closes its Receiver): the handler learns why, over
// every transport and LocalClient.

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var messageAbortCases = []suiteCase{
	{name: "MessagesCancelByCaller", run: testMessagesCancelByCaller},
	{name: "MessagesCloseByCaller", run: testMessagesCloseByCaller},
	{name: "MessagesCancelUpload", run: testMessagesCancelUpload},
}

// registerEndlessTicks registers Ticks.Endless, which sends until Send
// fails, and reports its ctx's cause and Send's error.
func registerEndlessTicks(t *testing.T, srv *native.Server) (cause, sendErr chan error) {
	cause, sendErr = make(chan error, 1), make(chan error, 1)
	mustRegister(t, srv, "Ticks.Endless", func(ctx context.Context, out *native.Sender[tick]) error {
		for i := 0; ; i++ {
			if err := out.Send(&tick{Seq: i}); err != nil {
				sendErr <- err
				<-ctx.Done()
				cause <- context.Cause(ctx)
				return err
			}
		}
	})
	return cause, sendErr
}

func testMessagesCancelByCaller(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	cause, sendErr := registerEndlessTicks(t, srv)
	f := mk(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rx native.Receiver[tick]
	if err := f.caller.Call(ctx, "Ticks.Endless", nil, &rx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := rx.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wantCode(t, waitFor(t, sendErr, 5*time.Second, "the handler's Send to fail"), native.CodeCanceled)
	if got := waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled"); native.CodeOf(got) != native.CodeCanceled {
		t.Fatalf("handler ctx cause %v, want code Canceled", got)
	}
	var err error
	for err == nil {
		_, err = rx.Recv()
	}
	wantCode(t, err, native.CodeCanceled)
	checkEcho(t, f.caller, 1)
}

func testMessagesCloseByCaller(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	cause, sendErr := registerEndlessTicks(t, srv)
	f := mk(t, srv)
	var rx native.Receiver[tick]
	if err := f.caller.Call(context.Background(), "Ticks.Endless", nil, &rx); err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Recv(); err != nil {
		t.Fatal(err)
	}
	rx.Close()
	wantCode(t, waitFor(t, sendErr, 5*time.Second, "the handler's Send to fail"), native.CodeCanceled)
	if got := waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled"); native.CodeOf(got) != native.CodeCanceled {
		t.Fatalf("handler ctx cause %v, want code Canceled", got)
	}
	_, err := rx.Recv()
	wantCode(t, err, native.CodeCanceled)
	checkEcho(t, f.caller, 1)
}

// drained is what a handler of registerDrain saw: the seqs it received,
// then the error that ended its call.
type drained struct {
	seqs []int
	err  error
}

// registerDrain registers Ticks.Count (a client stream) and Ticks.Drain (a
// bidi that echoes each message), which receive until Recv fails and report
// what they saw. Once the caller closed its Sender (Recv's io.EOF),
// Ticks.Drain sends until Send fails: the caller's abort must reach it
// there.
func registerDrain(t *testing.T, srv *native.Server) <-chan drained {
	done := make(chan drained, 1)
	drain := func(in *native.Receiver[tick], out *native.Sender[tick]) error {
		var d drained
		defer func() { done <- d }()
		for {
			m, err := in.Recv()
			if err == io.EOF && out != nil {
				for d.err == nil {
					d.err = out.Send(&tick{Seq: -1})
				}
				return d.err
			}
			if err != nil {
				d.err = err
				return err
			}
			d.seqs = append(d.seqs, m.Seq)
			if out != nil {
				if d.err = out.Send(m); d.err != nil {
					return d.err
				}
			}
		}
	}
	mustRegister(t, srv, "Ticks.Count", func(in *native.Receiver[tick], resp *sumResp) error { return drain(in, nil) })
	mustRegister(t, srv, "Ticks.Drain", func(in *native.Receiver[tick], out *native.Sender[tick]) error { return drain(in, out) })
	return done
}

// A caller that gives up a client or bidi stream midway (cancels its ctx,
// or closes its Receiver), before or after it received, or after it closed
// its Sender: the handler's Recv returns the messages that arrived, in
// order, then fails with the reason (or its Send does, once the Sender was
// closed), never with a clean end that would pass the stream off as
// complete. The handler runs whether or not the abort overtook its
// response header.
func testMessagesCancelUpload(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	done := registerDrain(t, srv)
	f := mk(t, srv)
	for _, v := range []struct {
		bidi        bool
		recv        int  // echoes the caller receives before it aborts
		closeSender bool // the caller closes its Sender before it aborts
		close       bool // the caller aborts by closing its Receiver (else by cancelling ctx)
	}{
		{bidi: false},
		{bidi: true, close: true},
		{bidi: true},
		{bidi: true, recv: 2, close: true},
		{bidi: true, recv: 2},
		{bidi: true, closeSender: true, close: true},
		{bidi: true, closeSender: true},
	} {
		how := fmt.Sprintf("%+v", v)
		ctx, cancel := context.WithCancel(context.Background())
		var tx native.Sender[tick]
		var rx native.Receiver[tick]
		var resp sumResp
		var err error
		if v.bidi {
			err = f.caller.Call(ctx, "Ticks.Drain", &tx, &rx)
		} else {
			err = f.caller.Call(ctx, "Ticks.Count", &tx, &resp)
		}
		if err != nil {
			t.Fatal(err)
		}
		const sent = 3
		for i := range sent {
			if err := tx.Send(&tick{Seq: i}); err != nil {
				t.Fatalf("%s: Send %d: %v", how, i, err)
			}
			if i < v.recv {
				if m, err := rx.Recv(); err != nil || m.Seq != i {
					t.Fatalf("%s: Recv %d = %+v, %v", how, i, m, err)
				}
			}
		}
		if v.closeSender {
			if err := tx.Close(); err != nil {
				t.Fatalf("%s: Close of the Sender: %v", how, err)
			}
		}
		if v.close {
			rx.Close()
		} else {
			cancel()
		}
		d := waitFor(t, done, 5*time.Second, how+": the handler to see the abort")
		if native.CodeOf(d.err) != native.CodeCanceled {
			t.Fatalf("%s: the handler's call ended with %v, want code Canceled", how, d.err)
		}
		if len(d.seqs) < v.recv || len(d.seqs) > sent {
			t.Fatalf("%s: the handler received %v, want %d to %d messages", how, d.seqs, v.recv, sent)
		}
		for i, seq := range d.seqs {
			if seq != i {
				t.Fatalf("%s: the handler received %v, want them in order", how, d.seqs)
			}
		}
		if v.bidi {
			for err == nil {
				_, err = rx.Recv()
			}
			if native.CodeOf(err) != native.CodeCanceled {
				t.Fatalf("%s: the caller's Recv after the abort = %v, want code Canceled", how, err)
			}
		}
		cancel()
	}
	checkEcho(t, f.caller, 1)
}
