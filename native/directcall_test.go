package native

import (
	"context"
	"io"
	"testing"
)

// The handlers of the direct shape are called without reflect, with their
// own arguments; the others keep reflect.Value.Call.
func TestDirectCall(t *testing.T) {
	type in struct{ A int }
	type out struct{ B int }
	var seen context.Context
	ctxKey := struct{ k string }{"k"}
	direct := map[string]any{
		"ctx":    func(ctx context.Context, req *in, resp *out) error { seen = ctx; resp.B = req.A * 2; return nil },
		"no ctx": func(req *in, resp *out) error { resp.B = req.A * 2; return nil },
	}
	for name, fn := range direct {
		h, err := parseHandler("T", fn)
		if err != nil {
			t.Fatal(err)
		}
		if h.direct == nil {
			t.Fatalf("%s: not called directly", name)
		}
		ctx := context.WithValue(context.Background(), ctxKey, name)
		inv := &invocation{req: &in{A: 21}}
		if err := h.call(ctx, inv); err != nil {
			t.Fatal(err)
		}
		if got := inv.resp.(*out).B; got != 42 {
			t.Fatalf("%s: resp.B = %d, want 42", name, got)
		}
		if name == "ctx" && (seen == nil || seen.Value(ctxKey) != name) {
			t.Fatalf("the handler saw ctx %v", seen)
		}
	}
	for _, fn := range []any{
		func(req in, resp *out) error { return nil },                  // a request by value
		func(resp *out) error { return nil },                          // no request
		func(req *in, resp *io.Reader) error { return nil },           // a stream response
		func(req *in, body io.Reader, resp *out) error { return nil }, // a request stream
	} {
		h, err := parseHandler("T", fn)
		if err != nil {
			t.Fatal(err)
		}
		if h.direct != nil {
			t.Fatalf("%T is called directly", fn)
		}
	}
}
