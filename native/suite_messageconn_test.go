package native_test

// Call suite cases of streams of messages and their connection: a peer
// that vanishes, a client closed during a bidi call, a Pool.

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// testMessagesPeerVanishes checks that a stream of messages cut by a
// broken connection ends with an error, never io.EOF, after the messages
// that arrived.
func testMessagesPeerVanishes(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerEndlessTicks(t, srv)
	f := mk(t, srv)
	var rx native.Receiver[tick]
	if err := f.caller.Call(context.Background(), "Ticks.Endless", nil, &rx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := rx.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	f.kill()
	n, err := 0, error(nil)
	for ; err == nil; n++ {
		var m *tick
		if m, err = rx.Recv(); err == nil && m.Seq != 5+n {
			t.Fatalf("message %d has seq %d", 5+n, m.Seq)
		}
	}
	if err == io.EOF || native.CodeOf(err) != native.CodeUnavailable {
		t.Fatalf("stream of a vanished peer ended with %v after %d more messages", err, n)
	}
	f.serveResult(t)
}

// testMessagesCloseClientDuringBidi closes the client while a bidi call is
// open: Close aborts it and returns; Recv and Send then fail.
func testMessagesCloseClientDuringBidi(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerPingPong(t, srv)
	f := mk(t, srv)
	tx, rx := openEcho(t, f)
	if err := tx.Send(&tick{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Recv(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.client.Close() }()
	if err := waitFor(t, done, 4*time.Second, "Client.Close with a bidi call open"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := rx.Recv(); err == nil || err == io.EOF {
		t.Fatalf("Recv after Close: %v", err)
	}
	if err := tx.Send(&tick{}); err == nil {
		t.Fatal("Send after Close succeeded")
	}
	if err := f.serveResult(t); err != nil {
		t.Fatalf("ServeConn after a clean close: %v", err)
	}
}

// testMessagesPool makes calls with streams of messages through a Pool: a
// connection carrying an open stream is busy until the stream ends, and
// then idle again, for streams in either direction.
func testMessagesPool(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerPingPong(t, srv)
	registerTicks(t, srv)
	p := newPool(t, mk, srv, 2)
	for range 3 {
		var tx native.Sender[tick]
		var rx native.Receiver[tick]
		if err := p.Call(context.Background(), "Ticks.Echo", &tx, &rx); err != nil {
			t.Fatal(err)
		}
		// A call meanwhile takes the other connection.
		checkEcho(t, p, 1)
		if st := p.Stats(); st.Open != 2 {
			t.Fatalf("stats %+v with a bidi call open, want 2 connections", st)
		}
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
		var w native.Receiver[tick]
		if err := p.Call(context.Background(), "Ticks.Watch", &watchReq{Count: 10}, &w); err != nil {
			t.Fatal(err)
		}
		if n, err := recvAll(t, &w); err != io.EOF || n != 10 {
			t.Fatalf("watch: %d messages, %v", n, err)
		}
	}
	// A bidi call ends when its request's TRAILER was written, which its
	// caller's goroutine does not wait for: the connection may come back a
	// moment after Recv's io.EOF.
	st := p.Stats()
	for deadline := time.Now().Add(5 * time.Second); st.Idle != 2 && time.Now().Before(deadline); st = p.Stats() {
		time.Sleep(time.Millisecond)
	}
	if st.Dials != 2 || st.Idle != 2 {
		t.Fatalf("stats %+v after the streams ended, want 2 connections, both idle", st)
	}
}
