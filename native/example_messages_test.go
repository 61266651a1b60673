package native_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/framegate/framegate/native"
)

type Event struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type Line struct {
	Text string `json:"text"`
}

// A handler that takes a *Sender sends a stream of messages (a server
// stream); the caller receives them with a *Receiver. Recv returns io.EOF
// only once the handler returned nil; its error arrives after the messages
// sent before it.
func ExampleReceiver() {
	srv := native.NewServer()
	srv.Register("Store.Watch", func(ctx context.Context, req *GreetRequest, out *native.Sender[Event]) error {
		for i, name := range []string{"a", "b"} {
			if err := out.Send(&Event{Name: req.Name + name, Size: int64(i)}); err != nil {
				return err
			}
		}
		return native.Errorf(native.CodeAborted, "watch of %q ended", req.Name)
	})
	cc, sc := net.Pipe()
	go srv.ServeConn(sc)
	c, _ := native.NewClient(cc)
	defer c.Close()

	var events native.Receiver[Event]
	c.Call(context.Background(), "Store.Watch", &GreetRequest{Name: "logs/"}, &events)
	for {
		ev, err := events.Recv()
		if err != nil {
			fmt.Println(native.CodeOf(err), err == io.EOF)
			break
		}
		fmt.Println(ev.Name, ev.Size)
	}
	// Output:
	// logs/a 0
	// logs/b 1
	// Aborted false
}

// A handler that takes a *Receiver and a *Sender talks both ways at once
// (bidi). The caller passes its own *Sender as the request: Call returns at
// once, and the caller sends and receives in turn, here in process.
func ExampleSender() {
	srv := native.NewServer()
	srv.Register("Chat.Shout", func(in *native.Receiver[Line], out *native.Sender[Line]) error {
		for {
			l, err := in.Recv()
			if err == io.EOF {
				return nil // the caller closed its Sender
			}
			if err != nil {
				return err
			}
			if err := out.Send(&Line{Text: strings.ToUpper(l.Text)}); err != nil {
				return err
			}
		}
	})
	c := native.NewLocalClient(srv)

	var tx native.Sender[Line]
	var rx native.Receiver[Line]
	c.Call(context.Background(), "Chat.Shout", &tx, &rx)
	for _, s := range []string{"hi", "there"} {
		tx.Send(&Line{Text: s})
		l, _ := rx.Recv()
		fmt.Println(l.Text)
	}
	tx.Close()
	_, err := rx.Recv()
	fmt.Println(err == io.EOF)
	// Output:
	// HI
	// THERE
	// true
}
