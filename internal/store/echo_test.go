package store

import (
	"context"
	"io"
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
