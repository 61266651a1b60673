package native_test

// Call suite cases of streams of messages: the message size limit and the
// decoding rules.

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

func testMessagesTooLarge(t *testing.T, mk factory) {
	srv, _ := newServer(t, native.WithMaxMessageSize(1024))
	registerPingPong(t, srv)
	f := mk(t, srv, clientOptions(native.WithMaxMessageSize(1024)))
	tx, rx := openEcho(t, f)
	big := &tick{Text: strings.Repeat("z", 2000)}
	wantCode(t, tx.Send(big), native.CodeResourceExhausted, "limit of 1024 bytes")
	// The stream goes on after a refused Send.
	if err := tx.Send(&tick{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if m, err := rx.Recv(); err != nil || m.Seq != 2 {
		t.Fatalf("Recv = %v, %v", m, err)
	}
	tx.Close()
	if _, err := rx.Recv(); err != io.EOF {
		t.Fatalf("Recv at the end: %v", err)
	}
	checkEcho(t, f.caller, 1)
}

// testMessagesTooLargeReceived checks the receiving side's limit: a peer
// that sends a message over it ends the stream with ResourceExhausted.
func testMessagesTooLargeReceived(t *testing.T, mk factory) {
	srv, _ := newServer(t, native.WithMaxMessageSize(1024))
	registerPingPong(t, srv)
	registerTicks(t, srv)
	f := mk(t, srv, clientOptions(native.WithMaxMessageSize(1500)))
	tx, rx := openEcho(t, f)
	// 1200 bytes: over the server's limit, under the client's.
	err := tx.Send(&tick{Text: strings.Repeat("z", 1200)})
	if err == nil {
		_, err = rx.Recv()
	}
	wantCode(t, err, native.CodeResourceExhausted, "over the limit of 1024 bytes")
	tx.Close()
	checkEcho(t, f.caller, 1)
	if f.local() {
		return // one side, with the server's limit
	}
	// A server stream whose message is over the client's limit.
	srv2, _ := newServer(t)
	registerTicks(t, srv2)
	f2 := mk(t, srv2, clientOptions(native.WithMaxMessageSize(1500)))
	var rx2 native.Receiver[tick]
	if err := f2.caller.Call(context.Background(), "Ticks.Watch", &watchReq{Count: 3, Pad: 2000}, &rx2); err != nil {
		t.Fatal(err)
	}
	_, err = rx2.Recv()
	wantCode(t, err, native.CodeResourceExhausted, "message of 2019 bytes is over the limit of 1500 bytes")
	checkEcho(t, f2.caller, 2)
}

// testMessagesDecodeRules checks how a caller reads the messages it
// receives: a member its type does not have is skipped, names match
// exactly, and a member twice fails the stream; a handler reads its
// caller's messages as strictly as a request.
func testMessagesDecodeRules(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Raw.Send", func(req *watchReq, out *native.Sender[json.RawMessage]) error {
		msg := json.RawMessage(req.Name)
		return out.Send(&msg)
	})
	registerPingPong(t, srv)
	f := mk(t, srv)
	for _, c := range []struct {
		raw  string
		want tick
		code native.Code
	}{
		{`{"seq":1,"extra":[1,2]}`, tick{Seq: 1}, native.CodeOK},
		{`{"SEQ":1}`, tick{}, native.CodeOK},
		{`{"seq":1,"seq":2}`, tick{}, native.CodeInternal},
	} {
		var rx native.Receiver[tick]
		if err := f.caller.Call(context.Background(), "Raw.Send", &watchReq{Name: c.raw}, &rx); err != nil {
			t.Fatal(err)
		}
		m, err := rx.Recv()
		if native.CodeOf(err) != c.code || (err == nil && *m != c.want) {
			t.Fatalf("%s: Recv = %+v, %v; want %+v, code %v", c.raw, m, err, c.want, c.code)
		}
		rx.Close()
	}
	var tx native.Sender[json.RawMessage]
	var rx native.Receiver[tick]
	if err := f.caller.Call(context.Background(), "Ticks.Echo", &tx, &rx); err != nil {
		t.Fatal(err)
	}
	msg := json.RawMessage(`{"seq":1,"extra":2}`)
	if err := tx.Send(&msg); err != nil {
		t.Fatal(err)
	}
	_, err := rx.Recv()
	wantCode(t, err, native.CodeInvalidArgument, `invalid request body for "Ticks.Echo"`, "unknown field")
	tx.Close()
	checkEcho(t, f.caller, 1)
}
