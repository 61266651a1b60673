package store

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

func TestEchoChat(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		var tx native.Sender[EchoMessage]
		var rx native.Receiver[EchoMessage]
		if err := c.Call(context.Background(), "Echo.Chat", &tx, &rx); err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		for i, text := range []string{"hi", "", "there"} {
			if err := tx.Send(&EchoMessage{Seq: 99, Text: text}); err != nil {
				t.Fatal(err)
			}
			m, err := rx.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if want := (EchoMessage{Seq: int64(i) + 1, Text: text}); *m != want {
				t.Errorf("echo of %q: %+v, want %+v", text, *m, want)
			}
		}
		if err := tx.Close(); err != nil {
			t.Fatal(err)
		}
		if m, err := rx.Recv(); err != io.EOF {
			t.Errorf("after the caller closed its side: %+v, %v; want io.EOF", m, err)
		}
	})
}

func TestEchoJoin(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		var tx native.Sender[EchoMessage]
		var resp JoinResponse
		if err := c.Call(context.Background(), "Echo.Join", &tx, &resp); err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"to", "be", "joined"} {
			if err := tx.Send(&EchoMessage{Text: text}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Close(); err != nil {
			t.Fatal(err)
		}
		if want := (JoinResponse{Count: 3, Text: "to be joined"}); resp != want {
			t.Errorf("Join: %+v, want %+v", resp, want)
		}

		// Past the bound, the error with its code.
		if err := c.Call(context.Background(), "Echo.Join", &tx, &resp); err != nil {
			t.Fatal(err)
		}
		big := &EchoMessage{Text: strings.Repeat("x", 256<<10)}
		for range 5 {
			if err := tx.Send(big); err != nil {
				break // the handler has failed already
			}
		}
		if err := tx.Close(); native.CodeOf(err) != native.CodeResourceExhausted {
			t.Errorf("Join past 1 MiB: %v, want ResourceExhausted", err)
		}
	})
}
