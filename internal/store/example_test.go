package store_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/framegate/framegate/internal/store"
	"github.com/framegate/framegate/native"
)

// The handlers are plain methods: a native server calls them, and so can
// anyone else.
func ExampleStore() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	var w store.WriteResponse
	if err := s.Write(ctx, &store.WriteRequest{Name: "docs/hello.txt"}, strings.NewReader("hello, world\n"), &w); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", w.Name, w.Size, w.SHA256[:16])

	var l store.ListResponse
	if err := s.List(ctx, &store.ListRequest{Prefix: "docs/"}, &l); err != nil {
		log.Fatal(err)
	}
	for _, e := range l.Entries {
		fmt.Println("listed", e.Name, e.Size)
	}

	var body io.Reader
	if err := s.Read(ctx, &store.ReadRequest{Name: "docs/hello.txt", Offset: 7, Length: 5}, &body); err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.(io.Closer).Close() // the native server closes streams it sent
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read %q\n", b)

	err = s.Stat(ctx, &store.StatRequest{Name: "../etc/passwd"}, &store.Entry{})
	fmt.Println(native.CodeOf(err))

	if err := s.Delete(ctx, &store.DeleteRequest{Name: "docs/hello.txt"}, &store.DeleteResponse{}); err != nil {
		log.Fatal(err)
	}
	err = s.Stat(ctx, &store.StatRequest{Name: "docs/hello.txt"}, &store.Entry{})
	fmt.Println(native.CodeOf(err))
	// Output:
	// wrote docs/hello.txt 13 853ff93762a06ddb
	// listed docs/hello.txt 13
	// read "world"
	// InvalidArgument
	// NotFound
}

// Watch is a server stream of the changes Write and Delete make. A watch
// with request metadata last-event-id resumes after that event: here after
// the store's last one, so it sees exactly the changes made since.
func ExampleStore_Watch() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	srv := native.NewServer()
	if err := s.Register(srv); err != nil {
		log.Fatal(err)
	}
	c := native.NewLocalClient(srv)
	ctx := context.Background()

	var events native.Receiver[store.Event]
	md := native.Metadata{store.LastEventIDKey: {s.LastEventID()}}
	if err := c.Call(ctx, "Store.Watch", &store.WatchRequest{Prefix: "docs/"}, &events, native.WithMetadata(md)); err != nil {
		log.Fatal(err)
	}
	defer events.Close()

	for _, name := range []string{"docs/a.txt", "tmp/b.txt", "docs/a.txt"} {
		if err := s.Write(ctx, &store.WriteRequest{Name: name}, strings.NewReader("hello"), &store.WriteResponse{}); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Delete(ctx, &store.DeleteRequest{Name: "docs/a.txt"}, &store.DeleteResponse{}); err != nil {
		log.Fatal(err)
	}
	var first string
	for range 3 {
		ev, err := events.Recv()
		if err != nil {
			log.Fatal(err)
		}
		if first == "" {
			first = ev.ID
		}
		fmt.Println(ev.Kind, ev.Name, ev.Size)
	}

	// Ids are decimal strings; resuming after the first event sends the
	// kept events after it that match the prefix (tmp/b.txt does not).
	var again native.Receiver[store.Event]
	md = native.Metadata{store.LastEventIDKey: {first}}
	if err := c.Call(ctx, "Store.Watch", &store.WatchRequest{Prefix: "docs/"}, &again, native.WithMetadata(md)); err != nil {
		log.Fatal(err)
	}
	defer again.Close()
	ev, err := again.Recv()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resumed:", ev.Kind, ev.Name)

	// An id the store no longer keeps, or never made, is refused.
	var old native.Receiver[store.Event]
	md = native.Metadata{store.LastEventIDKey: {"1"}}
	err = c.Call(ctx, "Store.Watch", &store.WatchRequest{}, &old, native.WithMetadata(md))
	if err == nil {
		_, err = old.Recv()
	}
	fmt.Println(native.CodeOf(err))
	// Output:
	// created docs/a.txt 5
	// written docs/a.txt 5
	// deleted docs/a.txt 5
	// resumed: written docs/a.txt
	// OutOfRange
}
