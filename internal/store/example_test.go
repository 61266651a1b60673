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
