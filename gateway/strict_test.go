package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Every face reads requests by one rule: a field the schema does not know
// (in JSON: a member in any case but its own) or a JSON member twice in
// one object is INVALID_ARGUMENT naming it. gRPC messages are checked for
// unknown protobuf fields, at any depth and in every message of a client
// stream.
func TestRequestsReadStrictly(t *testing.T) {
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1)
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		top := d.in("native.Values/Echo", `{"name":"x"}`)
		top.SetUnknown(unknown)
		nested := d.in("native.Values/Echo", `{"name":"x","node":{"name":"n","kids":[{"name":"k"}]}}`)
		kid := nested.Get(nested.Descriptor().Fields().ByName("node")).Message()
		kid = kid.Get(kid.Descriptor().Fields().ByName("kids")).List().Get(0).Message()
		kid.SetUnknown(unknown)
		firstOfUpload, err := proto.Marshal(d.in("native.Blob/Put", `{"request":{"name":"f"}}`))
		if err != nil {
			t.Fatal(err)
		}
		chunk := []byte{0x12, 0x03, 'a', 'b', 'c'} // HttpBody.data
		for _, tc := range []struct {
			name string
			call func() error
			want string
		}{
			{"unknown field", func() error { _, err := d.call(ctx, "native.Values/Echo", top); return err },
				`endpoint "Values.Echo" request: unknown field number 999 (wire type varint) in native.fxValues; `},
			{"unknown field deep inside", func() error { _, err := d.call(ctx, "native.Values/Echo", nested); return err },
				`endpoint "Values.Echo" request at node.kids[0]: unknown field number 999`},
			{"unknown field in the first message of an upload", func() error {
				return rawUpload(ctx, e.conn, "/native.Blob/Put", append(firstOfUpload, unknown...))
			}, `endpoint "Blob.Put" request: unknown field number 999`},
			{"unknown field in a later message of an upload", func() error {
				return rawUpload(ctx, e.conn, "/native.Blob/Upload", chunk, append(chunk, unknown...))
			}, `unknown field number 999 (wire type varint) in google.api.HttpBody`},
		} {
			t.Run("grpc/"+tc.name, func(t *testing.T) {
				err := tc.call()
				if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
					t.Errorf("got %v, want INVALID_ARGUMENT saying %q", err, tc.want)
				}
			})
		}

		for _, tc := range []struct{ name, body, want string }{
			{"unknown member", `{"name":"x","extra":1}`, `request: unknown field "extra" (fields: `},
			{"member in the wrong case", `{"Name":"x"}`, `request: unknown field "Name"`},
			{"unknown member deep inside", `{"node":{"name":"n","kids":[{"nme":"k"}]}}`, `request at node.kids[0]: unknown field "nme"`},
			{"duplicate member", `{"name":"x","i64":"1","name":"y"}`, `request: duplicate field "name"`},
			{"duplicate map key", `{"nested":{"a":{"b":1,"b":2}}}`, `request: duplicate field "b" in /nested/a`},
		} {
			t.Run("rest/"+tc.name, func(t *testing.T) {
				resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Echo", strings.NewReader(tc.body))
				wantStatus(t, resp, b, codes.InvalidArgument, tc.want)
			})
		}
		stillServes(t, e, d)
	})
}

// The JSON reader against the encoding/json reader it replaced, on the
// same request, in the same run.
func BenchmarkJSONReader(b *testing.B) {
	body := []byte(`{"name":"reports/2026/q4.csv","i64":"9007199254740993","u64":"18446744073709551615","ok":true,` +
		`"t":"2026-12-03T06:08:23.123456789Z","tags":["a","b","c"],"nested":{"x":{"y":1,"z":2}},` +
		`"node":{"name":"n","kids":[{"name":"k1"},{"name":"k2"}]},"any":[1,"two",{"three":3}]}`)
	for _, r := range []struct {
		name  string
		parse func([]byte) (any, error)
	}{
		{"encoding-json", decodeV1},
		{"lenient", jsonReader{}.parse},
		{"strict", jsonReader{strict: true}.parse},
	} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := r.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
