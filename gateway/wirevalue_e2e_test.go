package gateway

// Unary gRPC calls through a gateway over an in-process backend take the
// value path (grpcvalue.go) and answer exactly what the same calls answer
// through a gateway over the same server reached remotely, which takes
// the JSON path: messages, errors, header and trailer metadata.

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

type wvItem struct {
	N int32   `json:"n"`
	S *string `json:"s"`
}

type wvMsg struct {
	ID    int64     `json:"id"`
	Name  string    `json:"name"`
	Tags  []string  `json:"tags"`
	Small int8      `json:"small"`
	Opt   *uint16   `json:"opt"`
	F     float64   `json:"f"`
	Item  wvItem    `json:"item"`
	Items []*wvItem `json:"items,omitempty"`
	Nums  []int64   `json:"nums"`
}

// countingLocal is Local counting the calls made with JSON and with
// values.
type countingLocal struct {
	localBackend
	calls, values atomic.Int32
}

func (b *countingLocal) Call(ctx context.Context, method string, req, resp any, opts ...native.CallOption) error {
	b.calls.Add(1)
	return b.localBackend.Call(ctx, method, req, resp, opts...)
}

func (b *countingLocal) callValue(ctx context.Context, endpoint string, req any, opts ...native.CallOption) (any, error) {
	b.values.Add(1)
	return b.localBackend.callValue(ctx, endpoint, req, opts...)
}

// wvServer returns a server with an echo of wvMsg that changes the name
// and sets header and trailer metadata, and one that answers NaN.
func wvServer(t *testing.T, opts ...native.Option) *native.Server {
	t.Helper()
	srv := native.NewServer(opts...)
	err := srv.Register("Wv.Echo", func(ctx context.Context, req *wvMsg, resp *wvMsg) error {
		*resp = *req
		resp.Name += "!"
		if err := native.SetHeader(ctx, native.Metadata{"x-h": {fmt.Sprint(len(req.Tags))}}); err != nil {
			return err
		}
		return native.SetTrailer(ctx, native.Metadata{"x-t": {"t", fmt.Sprint(req.ID)}})
	})
	if err == nil {
		err = srv.Register("Wv.NaN", func(ctx context.Context, req *wvMsg, resp *wvMsg) error {
			resp.F = math.NaN()
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestWireValueGRPC(t *testing.T) {
	srv := wvServer(t)
	local := &countingLocal{localBackend: Local(srv).(localBackend)}
	lgw, err := New(context.Background(), local)
	if err != nil {
		t.Fatal(err)
	}
	remote := Remote(dialPool(serveNative(t, srv)))
	t.Cleanup(func() { remote.Close() })
	rgw, err := New(context.Background(), remote)
	if err != nil {
		t.Fatal(err)
	}
	_, lconn := serveGRPC(t, lgw)
	_, rconn := serveGRPC(t, rgw)
	ld, rd := newDyn(t, lconn), newDyn(t, rconn)
	echo, nan := DefaultPackage+".Wv/Echo", DefaultPackage+".Wv/NaN"

	unknown := rd.in(echo, `{"name":"u"}`)
	unknown.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	cases := []struct {
		name, method, in string
		unknown          bool
		value            bool // the local gateway takes the value path
	}{
		{name: "full", method: echo, in: `{"id":"-9007199254740993","name":"a é\u2028","tags":["x","","y"],"small":-128,"opt":0,` +
			`"f":-1.5e300,"item":{"n":7,"s":""},"items":[{"n":1},{"s":"z"}],"nums":["1","-1","9223372036854775807"]}`, value: true},
		{name: "empty", method: echo, in: `{}`, value: true},
		{name: "zero struct", method: echo, in: `{"item":{},"items":[{}]}`, value: true},
		{name: "small out of range", method: echo, in: `{"small":300}`},
		{name: "opt out of range", method: echo, in: `{"opt":70000}`},
		{name: "unknown field", method: echo, unknown: true},
		{name: "NaN response", method: nan, in: `{"name":"n"}`, value: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				out      proto.Message
				err      error
				hdr, trl metadata.MD
			}
			call := func(d *dyn) result {
				in := unknown
				if !tc.unknown {
					in = d.in(tc.method, tc.in)
				}
				var r result
				r.out, r.err = d.call(context.Background(), tc.method, in, grpc.Header(&r.hdr), grpc.Trailer(&r.trl))
				return r
			}
			calls, values := local.calls.Load(), local.values.Load()
			lr, rr := call(ld), call(rd)
			if took := local.values.Load() > values; took != tc.value {
				t.Errorf("the local gateway takes the value path: %v, want %v (JSON calls %d)", took, tc.value, local.calls.Load()-calls)
			}
			switch {
			case status.Code(lr.err) != status.Code(rr.err) || status.Convert(lr.err).Message() != status.Convert(rr.err).Message():
				t.Fatalf("error through the local gateway: %v\nthrough the remote one: %v", lr.err, rr.err)
			case lr.err == nil && !proto.Equal(lr.out, sameDesc(t, rr.out, lr.out)):
				t.Fatalf("response through the local gateway: %v\nthrough the remote one: %v", lr.out, rr.out)
			}
			for _, k := range []string{"x-h", "x-t"} {
				if l, r := append(lr.hdr.Get(k), lr.trl.Get(k)...), append(rr.hdr.Get(k), rr.trl.Get(k)...); !equalStrings(l, r) {
					t.Errorf("metadata %s through the local gateway: %q, through the remote one: %q", k, l, r)
				}
			}
			if tc.method == echo && lr.err == nil && (len(lr.hdr.Get("x-h")) != 1 || len(lr.trl.Get("x-t")) != 2) {
				t.Errorf("header %v, trailer %v: the handler's metadata is missing", lr.hdr, lr.trl)
			}
			t.Logf("%v; %v", lr.out, lr.err)
		})
	}
}

// TestWireValueBodyLimit: a request whose JSON exceeds the backend's body
// limit is refused through the value path as through the JSON path, even
// an empty message, whose JSON holds every field of the zero value; one
// that fits is served both ways.
func TestWireValueBodyLimit(t *testing.T) {
	c, err := newWVCase(reflect.TypeFor[wvMsg]())
	if err != nil {
		t.Fatal(err)
	}
	zero, err := c.m.requestJSONFromWire(nil) // the JSON of {}
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{len(zero) - 1, len(zero)} {
		srv := wvServer(t, native.WithMaxBodySize(int64(limit)))
		for name, b := range map[string]Backend{"local": Local(srv), "remote": Remote(dialPool(serveNative(t, srv)))} {
			t.Run(fmt.Sprint(name, limit), func(t *testing.T) {
				t.Cleanup(func() { b.Close() })
				gw, err := New(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				_, conn := serveGRPC(t, gw)
				d := newDyn(t, conn)
				echo := DefaultPackage + ".Wv/Echo"
				for _, in := range []string{`{}`, `{"name":"x"}`} {
					want := codes.ResourceExhausted
					if limit == len(zero) && in == `{}` {
						want = codes.OK
					}
					if _, err := d.call(context.Background(), echo, d.in(echo, in)); status.Code(err) != want {
						t.Errorf("%s under a body limit of %d bytes (its JSON of {} is %d): %v, want %v", in, limit, len(zero), err, want)
					}
				}
			})
		}
	}
}

// sameDesc returns m as a message of like's descriptor: the two
// gateways' clients each fetched their own.
func sameDesc(t *testing.T, m, like proto.Message) proto.Message {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := dynamicpb.NewMessage(like.ProtoReflect().Descriptor())
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
