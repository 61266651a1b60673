package gateway

// Values survive gRPC -> native -> gRPC (and JSON -> REST -> native -> JSON)
// unchanged: 64-bit integers beyond 2^53, every byte value, timestamps with
// nanoseconds and before 1970, nested maps, optional fields present with a
// zero value as well as absent, recursive messages, any values.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// valueCases are fxValues in protojson form.
var valueCases = map[string]string{
	"int64 extremes": `{"i64":"9223372036854775807","u64":"18446744073709551615","i32":-2147483648,"optI64":"-9223372036854775808","optU64":"9007199254740993"}`,
	"beyond 2^53":    `{"i64":"9007199254740993","u64":"9007199254740995","byId":{"18446744073709551615":"max","9007199254740993":"odd"}}`,
	"every byte":     `{"raw":"` + base64.StdEncoding.EncodeToString(allBytes) + `"}`,
	"timestamps": `{"t":"2024-02-29T12:34:56.123456789Z","optT":"1969-07-20T20:17:40.000000001Z",
		"times":["1969-12-31T23:59:59.5Z","0001-01-01T00:00:00.000000001Z","9999-12-31T23:59:59.999999999Z","1970-01-01T00:00:00Z"]}`,
	"nested maps":   `{"nested":{"a":{"entries":{"x":"1","y":"-9007199254740993"}},"b":{},"":{"entries":{"":"0"}}}}`,
	"present zeros": `{"optI64":"0","optU64":"0","optS":"","optB":false,"optT":"0001-01-01T00:00:00Z"}`,
	"absent":        `{}`,
	"recursive":     `{"node":{"name":"a","next":{"name":"b","next":{"name":"c","kids":[{"name":"k1"},{"next":{"name":"deep"}}]}}}}`,
	"any": `{"any":{"list":[1,"s",true,null,{"b":2.5}],"n":-1e300},"doc":{"k":[1,2,{"z":null}],"s":"é\u2028"},
		"f64":1.7976931348623157e308,"ok":true}`,
	"strings": `{"name":"<&>\"\\\u0000\u001f日本\ud83d\ude00","tags":["","a b","\u2029"],"optS":"x"}`,
}

func TestValuesGRPC(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		const echo = "native.Values/Echo"
		for name, js := range valueCases {
			in := d.in(echo, js)
			out, err := d.call(context.Background(), echo, in)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if !proto.Equal(in, out) {
				t.Errorf("%s changed:\n in  %v\n out %v", name, in, out)
			}
		}
		// Presence: set zero values stay set, absent ones stay absent.
		out, err := d.call(context.Background(), echo, d.in(echo, valueCases["present zeros"]))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"optI64", "optU64", "optS", "optB", "optT"} {
			if !out.Has(out.Descriptor().Fields().ByJSONName(f)) {
				t.Errorf("present zero %s came back absent", f)
			}
		}
		out, err = d.call(context.Background(), echo, d.in(echo, `{}`))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"optI64", "optU64", "optS", "optB", "optT", "node"} {
			if out.Has(out.Descriptor().Fields().ByJSONName(f)) {
				t.Errorf("absent %s came back present", f)
			}
		}
	})
}

// TestValuesGRPCRandom sends random messages in the transcoder's normal
// form (see gen_test.go) and wants each back unchanged.
func TestValuesGRPCRandom(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		const echo = "native.Values/Echo"
		codec := e.gw.set.Load().messages["gateway.fxValues"]
		for seed := int64(0); seed < 150; seed++ {
			g := &gen{r: rand.New(rand.NewSource(seed)), maxDepth: 3}
			server := dynamicpb.NewMessage(codec.desc)
			g.message(server, codec, 0)
			b, err := proto.Marshal(server)
			if err != nil {
				t.Fatal(err)
			}
			in := d.in(echo, "")
			if err := proto.Unmarshal(b, in); err != nil {
				t.Fatal(err)
			}
			out, err := d.call(context.Background(), echo, in)
			if err != nil {
				t.Fatalf("seed %d: %v\n in %v", seed, err, in)
			}
			if !proto.Equal(in, out) {
				t.Fatalf("seed %d changed:\n in  %v\n out %v", seed, in, out)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

// goValues are fxValues a Go client would send over REST.
func goValues() map[string]fxValues {
	pre1970 := time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC)
	return map[string]fxValues{
		"int64 extremes": {I64: math.MaxInt64, U64: math.MaxUint64, I32: math.MinInt32, OptI64: ptr(int64(math.MinInt64)), OptU64: ptr(uint64(1<<53 + 1))},
		"beyond 2^53":    {I64: -(1<<53 + 1), U64: 1<<53 + 3, ByID: map[uint64]string{math.MaxUint64: "max", 1<<53 + 1: "odd"}},
		"every byte":     {Raw: allBytes},
		"timestamps": {T: time.Date(2024, 2, 29, 12, 34, 56, 123456789, time.UTC), OptT: &pre1970,
			Times: []time.Time{time.Unix(-1, 5e8).UTC(), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		// An empty inner map would come back null: proto cannot tell
		// an empty map from none (encode.go).
		"nested maps":   {Nested: map[string]map[string]int64{"a": {"x": 1, "y": -(1<<53 + 1)}, "b": {"": 0}}},
		"present zeros": {OptI64: ptr(int64(0)), OptU64: ptr(uint64(0)), OptS: ptr(""), OptB: ptr(false), OptT: &time.Time{}},
		"absent":        {},
		"recursive":     {Node: &fxNode{Name: "a", Next: &fxNode{Name: "b", Kids: []fxNode{{Name: "k", Next: &fxNode{Name: "deep"}}}}}},
		"any": {Any: map[string]any{"list": []any{1.0, "s", true, nil, map[string]any{"b": 2.5}}}, Doc: json.RawMessage(`{"k":[1,2]}`),
			F64: math.MaxFloat64, OK: true},
		"strings": {Name: "<&>\"\\\x00\x1f日本😀", Tags: []string{"", "a b", "\u2029"}, OptS: ptr("x")},
	}
}

func TestValuesREST(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for name, v := range goValues() {
			body, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(e.http.URL+"/native.Values/Echo", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := readAll(resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d %s", name, resp.StatusCode, got)
				continue
			}
			var back fxValues
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("%s: %v in %s", name, err, got)
			}
			if !reflect.DeepEqual(normalize(t, v), normalize(t, back)) {
				t.Errorf("%s changed:\n sent %s\n got  %s", name, body, got)
			}
		}
	})
}

// normalize makes equal what encoding/json decodes differently from what
// it encoded: a RawMessage is compacted, and null decodes as "null".
func normalize(t *testing.T, v fxValues) fxValues {
	if string(v.Doc) == "null" {
		v.Doc = nil
	}
	if v.Doc != nil {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v.Doc); err != nil {
			t.Fatal(err)
		}
		v.Doc = buf.Bytes()
	}
	return v
}

// The 2^53 boundary in JSON numbers: a JavaScript-style client sending
// exact integers gets them back exactly.
func TestValuesRESTExactNumbers(t *testing.T) {
	e := newEnv(t, "local")
	for _, n := range []string{"4503599627370497", "-4611686018427387904", "4611686018427387903"} {
		resp, err := http.Post(e.http.URL+"/native.Values/Double", "application/json", strings.NewReader(n))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := readAll(resp)
		var want int64
		fmt.Sscan(n, &want)
		if resp.StatusCode != http.StatusOK || string(got) != fmt.Sprint(2*want) {
			t.Errorf("Double(%s): %d %s, want %d", n, resp.StatusCode, got, 2*want)
		}
	}
}
