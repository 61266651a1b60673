package nativeotel_test

import (
	"context"
	"fmt"
	"net"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/framegate/framegate/native"
	"github.com/framegate/framegate/native/nativeotel"
)

// A client and a server with the hook: the server's span for the call is
// the child of the caller's span, in the caller's trace.
func ExampleNewHook() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	hook := nativeotel.NewHook(nativeotel.WithTracerProvider(tp), nativeotel.WithPropagator(propagation.TraceContext{}))

	srv := native.NewServer(native.WithCallHook(hook))
	type greeting struct {
		Text string `json:"text"`
	}
	srv.Register("Greeter.Hello", func(req *greeting, resp *greeting) error {
		resp.Text = "hello, " + req.Text
		return nil
	})
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(sc); close(done) }()
	c, err := native.NewClient(cc, native.WithCallHook(hook))
	if err != nil {
		panic(err)
	}

	ctx, caller := tp.Tracer("example").Start(context.Background(), "caller")
	var out greeting
	err = c.Call(ctx, "Greeter.Hello", &greeting{Text: "otel"}, &out)
	caller.End()
	c.Close()
	<-done
	fmt.Println(out.Text, err)
	// The spans by name: the server's may end before or after the caller's.
	byName := map[string]tracetest.SpanStub{}
	for _, sp := range exp.GetSpans() {
		byName[sp.Name] = sp
	}
	server, client := byName["Greeter.Hello"], byName["caller"]
	fmt.Println(server.Name, "in the caller's trace:", server.SpanContext.TraceID() == client.SpanContext.TraceID())
	fmt.Println("its parent is the caller's span:", server.Parent.SpanID() == client.SpanContext.SpanID())
	// Output:
	// hello, otel <nil>
	// Greeter.Hello in the caller's trace: true
	// its parent is the caller's span: true
}
