package native_test

// Call suite cases of a caller that gives up a stream of messages (cancels
// the call's ctx, or closes its Receiver): the handler learns why, over
// every transport and LocalClient.

import (
	"context"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var messageAbortCases = []suiteCase{
	{name: "MessagesCancelByCaller", run: testMessagesCancelByCaller},
	{name: "MessagesCloseByCaller", run: testMessagesCloseByCaller},
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
