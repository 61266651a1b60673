package native_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

// A caller in this process that builds the handler's request value itself
// hands it over with CallValue, and reads the handler's response value.
func ExampleLocalClient_CallValue() {
	lc := native.NewLocalClient(newGreeter())
	info, ok := lc.ValueInfo("Greeter.Hello")
	fmt.Println(ok, info.Request, info.Response)

	resp, err := lc.CallValue(context.Background(), "Greeter.Hello", &GreetRequest{Name: "ada"})
	fmt.Println(resp.(*GreetResponse).Greeting, err)

	// A value of another type runs nothing: make the call with JSON.
	_, err = lc.CallValue(context.Background(), "Greeter.Hello", &GreetResponse{})
	fmt.Println(err == native.ErrValueType)
	// Output:
	// true *native_test.GreetRequest *native_test.GreetResponse
	// hello, ada <nil>
	// true
}

type valueReq struct {
	Name string `json:"name"`
}

type valueResp struct {
	Name string `json:"name"`
	Hits int    `json:"hits"`
}

// TestCallValue checks that CallValue hands the request value over and
// returns the response value as they are, with what Call gives besides:
// metadata, the hook, the handler's errors, the caller's context.
func TestCallValue(t *testing.T) {
	var got *valueReq
	var kept *valueResp
	var ends []error
	srv := native.NewServer(native.WithCallHook(endHook{&ends}))
	must(t, srv.Register("V.Echo", func(ctx context.Context, req *valueReq, resp *valueResp) error {
		got, kept = req, resp
		if req.Name == "fail" {
			return native.Errorf(native.CodeNotFound, "no %s", req.Name)
		}
		native.SetHeader(ctx, native.Metadata{"h": {"1"}})
		native.SetTrailer(ctx, native.Metadata{"t": {"2"}})
		resp.Name, resp.Hits = req.Name, len(native.IncomingMetadata(ctx)["m"])
		return nil
	}))
	must(t, srv.Register("V.ByValue", func(req valueReq, resp *valueResp) error {
		resp.Name = req.Name
		return nil
	}))
	must(t, srv.Register("V.Stream", func(req *valueReq, body *io.Reader) error { return nil }))
	lc := native.NewLocalClient(srv)
	ctx := context.Background()

	info, ok := lc.ValueInfo("V.Echo")
	if !ok || info.Request != reflect.TypeFor[*valueReq]() || info.Response != reflect.TypeFor[*valueResp]() || info.MaxBodySize != native.DefaultMaxBodySize {
		t.Fatalf("ValueInfo(V.Echo) = %+v, %v", info, ok)
	}
	if info, ok := lc.ValueInfo("V.ByValue"); !ok || info.Request != reflect.TypeFor[*valueReq]() {
		t.Errorf("ValueInfo(V.ByValue) = %+v, %v: want the pointer type of a request taken by value", info, ok)
	}
	for _, name := range []string{"V.Stream", "V.Missing", native.DescribeEndpoint} {
		if _, ok := lc.ValueInfo(name); ok {
			t.Errorf("ValueInfo(%s) is ok; want false", name)
		}
	}

	req := &valueReq{Name: "ada"}
	var hdr, trl native.Metadata
	resp, err := lc.CallValue(ctx, "V.Echo", req, native.WithMetadata(native.Metadata{"m": {"a", "b"}}), native.Header(&hdr), native.Trailer(&trl))
	if err != nil {
		t.Fatal(err)
	}
	if got != req || resp != any(kept) {
		t.Errorf("the handler got %p (want the caller's %p); CallValue returned %p (want the handler's %p)", got, req, resp, kept)
	}
	if r := resp.(*valueResp); r.Name != "ada" || r.Hits != 2 || hdr.Get("h") != "1" || trl.Get("t") != "2" {
		t.Errorf("got %+v, header %v, trailer %v", r, hdr, trl)
	}

	if resp, err := lc.CallValue(ctx, "V.ByValue", &valueReq{Name: "bo"}); err != nil || resp.(*valueResp).Name != "bo" {
		t.Errorf("V.ByValue: %v, %v", resp, err)
	}

	if _, err := lc.CallValue(ctx, "V.Echo", &valueReq{Name: "fail"}); native.CodeOf(err) != native.CodeNotFound || !strings.Contains(err.Error(), "no fail") {
		t.Errorf("a handler's error: got %v", err)
	}

	got = nil
	ends = nil
	var nilReq *valueReq
	for _, bad := range []struct {
		method string
		req    any
	}{
		{"V.Echo", valueReq{Name: "x"}}, // not a pointer
		{"V.Echo", nilReq},
		{"V.Echo", &valueResp{}},
		{"V.Echo", nil},
		{"V.Stream", &valueReq{}},
		{"V.Missing", &valueReq{}},
	} {
		if _, err := lc.CallValue(ctx, bad.method, bad.req); err != native.ErrValueType || !errors.Is(err, native.ErrValueType) {
			t.Errorf("%s with %T: got %v, want ErrValueType", bad.method, bad.req, err)
		}
	}
	if len(ends) != 0 {
		t.Errorf("%d refused values reached the hook", len(ends))
	}
	if got != nil {
		t.Error("a refused value ran the handler")
	}
	if native.CodeOf(native.ErrValueType) != native.CodeFailedPrecondition {
		t.Errorf("ErrValueType's code is %v", native.CodeOf(native.ErrValueType))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := lc.CallValue(cctx, "V.Echo", &valueReq{Name: "late"}); native.CodeOf(err) != native.CodeCanceled {
		t.Errorf("a cancelled context: got %v, want CANCELED", err)
	}
}

// endHook records the outcome of each call a server's hook sees.
type endHook struct{ ends *[]error }

func (endHook) ClientCall(context.Context, string, native.Metadata) {}

func (h endHook) ServerCall(ctx context.Context) (context.Context, func(error)) {
	return ctx, func(err error) { *h.ends = append(*h.ends, err) }
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
