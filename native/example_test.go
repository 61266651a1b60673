package native_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/framegate/framegate/native"
)

type GreetRequest struct {
	Name string `json:"name"`
}

type GreetResponse struct {
	Greeting string `json:"greeting"`
}

// newGreeter returns a server with a JSON endpoint and a stream endpoint.
func newGreeter() *native.Server {
	srv := native.NewServer()
	srv.Register("Greeter.Hello", func(ctx context.Context, req *GreetRequest, resp *GreetResponse) error {
		if req.Name == "" {
			return native.Errorf(native.CodeInvalidArgument, "name is empty")
		}
		resp.Greeting = "hello, " + req.Name
		return nil
	})
	srv.Register("Greeter.Poem", func(ctx context.Context, req *GreetRequest, body *io.Reader) error {
		*body = strings.NewReader("roses are red,\n" + req.Name + " is too\n")
		return nil
	})
	return srv
}

// A server registers plain functions; ServeConn serves any
// io.ReadWriteCloser, Serve a listener.
func ExampleServer() {
	srv := newGreeter()
	err := srv.Register("Greeter.Bad", func(req GreetRequest) error { return nil })
	fmt.Println(err != nil)

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	c, _ := native.Dial(context.Background(), "tcp", l.Addr().String())
	defer c.Close()
	var resp GreetResponse
	c.Call(context.Background(), "Greeter.Hello", &GreetRequest{Name: "tcp"}, &resp)
	fmt.Println(resp.Greeting)
	// Output:
	// true
	// hello, tcp
}

// A client calls endpoints by name: a JSON response is decoded into resp, a
// stream response is read as it arrives, and errors carry status codes.
func ExampleClient_Call() {
	srv := newGreeter()
	cconn, sconn := net.Pipe()
	go srv.ServeConn(sconn)
	c, err := native.NewClient(cconn)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	var resp GreetResponse
	err = c.Call(ctx, "Greeter.Hello", &GreetRequest{Name: "gopher"}, &resp)
	fmt.Println(resp.Greeting, err)

	err = c.Call(ctx, "Greeter.Hello", &GreetRequest{}, &resp)
	fmt.Println(native.CodeOf(err), err)

	var poem io.ReadCloser
	if err := c.Call(ctx, "Greeter.Poem", &GreetRequest{Name: "gopher"}, &poem); err != nil {
		panic(err)
	}
	b, err := io.ReadAll(poem)
	poem.Close()
	fmt.Printf("%s%v\n", b, err)

	fmt.Println(c.Close())
	// Output:
	// hello, gopher <nil>
	// InvalidArgument native: InvalidArgument: name is empty
	// roses are red,
	// gopher is too
	// <nil>
	// <nil>
}

// A LocalClient calls the same handlers in process, through the same
// interface, without frames.
func ExampleLocalClient() {
	var c native.Caller = native.NewLocalClient(newGreeter())
	var resp GreetResponse
	err := c.Call(context.Background(), "Greeter.Hello", &GreetRequest{Name: "local"}, &resp)
	fmt.Println(resp.Greeting, err)
	// Output: hello, local <nil>
}

// A Pool shares a few connections among many concurrent callers.
func ExamplePool() {
	srv := newGreeter()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	p := native.NewPool(func(ctx context.Context) (*native.Client, error) {
		return native.Dial(ctx, "tcp", l.Addr().String())
	}, 4)
	defer p.Close()
	var resp GreetResponse
	err := p.Call(context.Background(), "Greeter.Hello", &GreetRequest{Name: "pool"}, &resp)
	fmt.Println(resp.Greeting, err)
	// Output: hello, pool <nil>
}

// Register's options declare what a call does; the Schema carries the
// declaration, and a gateway lets GET and HEAD reach only safe endpoints.
func ExampleSafe() {
	srv := native.NewServer()
	srv.Register("Notes.Get", func(req *GreetRequest, resp *GreetResponse) error { return nil }, native.Safe())
	srv.Register("Notes.Put", func(req *GreetRequest, resp *GreetResponse) error { return nil }, native.Idempotent())
	srv.Register("Notes.Append", func(req *GreetRequest, resp *GreetResponse) error { return nil })
	s, _ := srv.Schema()
	for _, ep := range s.Endpoints {
		fmt.Printf("%s safe=%v idempotent=%v\n", ep.Name, ep.Safe, ep.Idempotent)
	}
	// Output:
	// Notes.Append safe=false idempotent=false
	// Notes.Get safe=true idempotent=true
	// Notes.Put safe=false idempotent=true
}

// A handler answers with ServeContent: the stream announces its length,
// type and entity tag, and serves the caller's range. A client asks for a
// range with Range and reads the announcement with Info.
func ExampleServeContent() {
	srv := native.NewServer()
	srv.Register("Doc.Get", func(ctx context.Context, req *GreetRequest, body *io.Reader) error {
		rc, err := native.ServeContent(ctx, strings.NewReader("hello, ranges"), native.StreamInfo{ContentType: "text/plain", ETag: `"v1"`})
		*body = rc
		return err
	}, native.Safe())
	c := native.NewLocalClient(srv)
	var rc io.ReadCloser
	var info native.StreamInfo
	err := c.Call(context.Background(), "Doc.Get", &GreetRequest{}, &rc, native.Range("bytes=7-", `"v1"`), native.Info(&info))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Printf("%q: bytes %d-%d of %d, %s, %s\n", b, info.Offset, info.Offset+info.Length-1, info.Size, info.ContentType, info.ETag)
	// Output:
	// "ranges": bytes 7-12 of 13, text/plain, "v1"
}
