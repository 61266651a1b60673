package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// strictUnmarshal decodes data into v as a native server would, but also
// rejects members v does not have.
func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// roundTrip checks one request message of md against the Go type of goPtr
// (a pointer to a zero value): encoding/json accepts requestJSON's output,
// writes exactly the same bytes for the decoded Go value, and decoding
// those bytes (as the response when out is set, else as the request) gives
// back an equal message.
func roundTrip(t *testing.T, md *method, in protoreflect.Message, goPtr any, asResponse bool) {
	t.Helper()
	data, err := md.requestJSON(in)
	if err != nil {
		t.Fatalf("requestJSON: %v", err)
	}
	if err := strictUnmarshal(data, goPtr); err != nil {
		t.Fatalf("encoding/json rejects %s: %v", data, err)
	}
	again, err := json.Marshal(goPtr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("requestJSON differs from encoding/json:\n got %s\nwant %s", data, again)
	}
	var out *dynamicpb.Message
	if asResponse {
		out, err = md.responseMessage(again)
	} else {
		out, err = md.requestMessage(again)
	}
	if err != nil {
		t.Fatalf("decoding %s: %v", again, err)
	}
	want := proto.Clone(in.Interface())
	if md.reqData != nil && !asResponse {
		want.ProtoReflect().Clear(md.reqData) // stream bytes are not JSON
	}
	if !proto.Equal(want, out) {
		a, _ := protojson.Marshal(want)
		b, _ := protojson.Marshal(out)
		t.Fatalf("round trip changed the message:\n  in %s\n out %s\njson %s", a, b, again)
	}
}

// protoJSON builds a message of md from its protojson form.
func protoJSON(t *testing.T, md protoreflect.MessageDescriptor, s string) *dynamicpb.Message {
	t.Helper()
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(s), m); err != nil {
		t.Fatalf("protojson: %v\n%s", err, s)
	}
	return m
}

var allBytes = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// richEdges is a Rich message with the edge cases written out, in
// protojson form (wrappers show up as values/entries).
var richEdges = `{
 "b": true, "i32": -2147483648, "i64": "4611686018427387905", "u32": 4294967295, "u64": "18446744073709551615",
 "f32": 3.4028235e38, "f64": -1.7976931348623157e308, "s": "h\u00e9llo <b>&amp;</b> \u2028 \n \"q\" \u0000",
 "raw": "` + base64.StdEncoding.EncodeToString(allBytes) + `",
 "t": "1969-12-31T23:59:59.999999999Z",
 "any": {"a": [1, null, true, "x", {"b": {}}, []], "c": -0.5, "big": 4611686018427387904},
 "msg": {"name": "root", "kids": [{"name": "k1", "next": {"name": "n", "next": {"other": {"back": {"name": "deep"}}}}}, {}],
         "other": {"back": {"name": "b"}, "n": -1}},
 "optI64": "0", "optS": "", "optB": false, "optF32": 0, "optRaw": "", "optMsg": {}, "optT": "0001-01-01T00:00:00Z", "optAny": false,
 "qi64": "-9223372036854775808", "qu64": "18446744073709551615", "qb": true, "qs": "\"quoted\" <x>", "qf": 1e21, "qopt": "0",
 "ints": ["-1", "0", "9007199254740993"],
 "grid": [{"values": ["1", "2"]}, {}, {"values": ["-3"]}],
 "cube": [{"values": [{"values": ["a"]}, {}]}, {}],
 "byName": {"": {}, "x": {"name": "y"}},
 "byId": {"-5": "neg", "9223372036854775807": "max", "-9223372036854775808": "min"},
 "byU64": {"18446744073709551615": -1, "0": 0},
 "byI32": {"-2147483648": true, "0": false, "10": true, "9": true},
 "byU32": {"7": {"values": ["a", "b"]}, "8": {}},
 "nested": {"a": {"entries": {"-1": 0.1, "2": 1e-7}}, "b": {}},
 "listOfMaps": [{"entries": {"t0": "2262-04-11T23:47:16.854775807Z", "t1": "1900-01-01T00:00:00.000000001Z"}}, {}],
 "times": ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00Z"],
 "anys": [null, 1, "s", [], {}],
 "blobs": ["", "AA==", "/w=="],
 "dur": "-1", "weird-name": "w", "small": -128, "tiny": 65535,
 "others": [{}, {"n": 5}]
}`

func TestRoundTripRichEdges(t *testing.T) {
	ps := mustBuild(t, testSchema(), "")
	md := ps.lookup("/native.Echo/Rich")
	in := protoJSON(t, md.in, richEdges)
	var r rich
	roundTrip(t, md, in, &r, true)
	// Spot checks on the Go side.
	if r.I64 != 1<<62+1 || r.U64 != 1<<64-1 || r.QI64 != -1<<63 || r.QU64 != 1<<64-1 || !bytes.Equal(r.Raw, allBytes) {
		t.Errorf("numbers or bytes changed: %d %d %d %d", r.I64, r.U64, r.QI64, r.QU64)
	}
	if want := time.Unix(-1, 999999999).UTC(); !r.T.Equal(want) {
		t.Errorf("t = %v, want %v", r.T, want)
	}
	if r.OptI64 == nil || *r.OptI64 != 0 || r.OptS == nil || r.OptB == nil || r.OptRaw == nil || len(*r.OptRaw) != 0 || r.OptMsg == nil || r.OptT == nil || !r.OptT.IsZero() {
		t.Error("present zero optional fields became absent")
	}
	if r.QOpt == nil || *r.QOpt != 0 || r.QS != `"quoted" <x>` || r.QF != 1e21 || !r.QB {
		t.Errorf("quoted fields: %v %q %v %v", r.QOpt, r.QS, r.QF, r.QB)
	}
	if len(r.Grid) != 3 || r.Grid[1] != nil || r.Grid[2][0] != -3 || r.Cube[0][1] != nil || r.ByU32[8] != nil {
		t.Errorf("wrappers: %v %v %v", r.Grid, r.Cube, r.ByU32)
	}
	if r.Msg.Kids[0].Next.Next.Other.Back.Name != "deep" {
		t.Error("recursion lost")
	}
}

func TestRoundTripRichAbsent(t *testing.T) {
	ps := mustBuild(t, testSchema(), "")
	md := ps.lookup("/native.Echo/Rich")
	var r rich
	roundTrip(t, md, dynamicpb.NewMessage(md.in), &r, true)
	if r.OptI64 != nil || r.OptS != nil || r.OptMsg != nil || r.OptT != nil || r.OptAny != nil || r.QOpt != nil || r.OptRaw != nil {
		t.Error("absent optional fields became present")
	}
	if !r.T.IsZero() || r.Ints != nil || r.ByName != nil || r.Raw != nil || r.Any != nil {
		t.Error("unset fields are not Go zero values")
	}
}

func TestRoundTripRandom(t *testing.T) {
	ps := mustBuild(t, testSchema(), "")
	md := ps.lookup("/native.Echo/Rich")
	up := ps.lookup("/native.Store/Put")
	for seed := int64(0); seed < 300; seed++ {
		g := &gen{r: rand.New(rand.NewSource(seed)), maxDepth: 4}
		in := dynamicpb.NewMessage(md.in)
		g.message(in, ps.messages["test.Rich"], 0)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			var r rich
			roundTrip(t, md, in, &r, true)
			// The same value as the request of an Upload.
			upload := dynamicpb.NewMessage(up.in)
			upload.Set(up.in.Fields().ByName("request"), protoreflect.ValueOfMessage(in))
			upload.Set(up.reqData, protoreflect.ValueOfBytes([]byte("chunk")))
			var r2 rich
			roundTrip(t, up, upload.ProtoReflect(), &r2, false)
		})
	}
}

func TestRoundTripWrappedBodies(t *testing.T) {
	ps := mustBuild(t, testSchema(), "")
	for _, tc := range []struct {
		full   string
		goType func() any
		proto  []string // protojson of input messages
	}{
		{"/native.Echo/Grid", func() any { return new([][]int64) }, []string{
			`{}`, `{"value": [{}]}`, `{"value": [{"values": ["9223372036854775807", "-1"]}, {}, {"values": ["0"]}]}`}},
		{"/native.Echo/Text", func() any { return new(string) }, []string{`{}`, `{"value": "<&>\u2028"}`}},
		{"/native.Echo/Any", func() any { return new(any) }, []string{
			`{"value": {"a": [null, 1.5, {"b": "c"}]}}`, `{"value": "s"}`, `{"value": 1e300}`, `{"value": []}`, `{"value": {}}`, `{"value": false}`}},
		{"/native.files_v1_Store/Touch", func() any { return new(time.Time) }, []string{`{}`, `{"value": "2024-02-29T12:00:00.5Z"}`}},
		{"/native.Store/Append", func() any { return new(string) }, []string{`{"request": "x", "data": "AAE="}`, `{"data": "AAE="}`}},
		{"/native.Store/Get", func() any { return new(string) }, []string{`{"value": "k"}`}},
		{"/native.Store/List", func() any {
			return new(struct {
				Prefix string `json:"prefix"`
			})
		}, []string{`{"prefix": "a/"}`, `{}`}},
	} {
		md := ps.lookup(tc.full)
		for _, s := range tc.proto {
			in := protoJSON(t, md.in, s)
			if md.reqData != nil {
				in.Clear(md.reqData) // the data part is not JSON
			}
			roundTrip(t, md, in, tc.goType(), false)
		}
	}
}

func TestRoundTripResponses(t *testing.T) {
	// Response-only shapes: native JSON -> proto -> native JSON is stable.
	ps := mustBuild(t, testSchema(), "")
	for _, tc := range []struct {
		full, native, proto string
	}{
		{"/native.Echo/Text", `18446744073709551615`, `{"value":"18446744073709551615"}`},
		{"/native.Echo/Any", `{"a":{"x":-9223372036854775808},"b":null,"c":{}}`, `{"value":{"a":{"entries":{"x":"-9223372036854775808"}},"b":{},"c":{}}}`},
		{"/native.files_v1_Store/Touch", `["1970-01-01T00:00:00Z","0001-01-01T00:00:00Z"]`, `{"value":["1970-01-01T00:00:00Z","0001-01-01T00:00:00Z"]}`},
		{"/native.files_v1_Store/Touch", `null`, `{}`},
		{"/native.Store/Append", `-42`, `{"value":"-42"}`},
		{"/native.Store/Get", `{"name":"n","kids":null,"next":null,"other":{"back":null,"n":0}}`, `{"response":{"name":"n","other":{}}}`},
		{"/native.Echo/Rich", `{"ints":[null,1],"blobs":[null],"anys":[null],"times":[null],"others":[null],"byI32":{"1":null},"byU32":{"2":null},"optList":[]}`,
			`{"ints":["0","1"],"blobs":[""],"anys":[null],"times":["1970-01-01T00:00:00Z"],"others":[{}],"byI32":{"1":false},"byU32":{"2":{}}}`},
		{"/native.Store/Stat", `{"back":{"name":"","kids":[],"next":null,"other":null},"n":3}`, `{"back":{},"n":3}`},
	} {
		md := ps.lookup(tc.full)
		m, err := md.responseMessage([]byte(tc.native))
		if err != nil {
			t.Fatalf("%s: %v", tc.full, err)
		}
		got, _ := protojson.MarshalOptions{}.Marshal(m)
		var a, b any
		json.Unmarshal(got, &a)
		json.Unmarshal([]byte(tc.proto), &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: %s -> %s, want %s", tc.full, tc.native, got, tc.proto)
		}
		if _, err := md.responseJSON(m); err != nil {
			t.Errorf("%s: responseJSON: %v", tc.full, err)
		}
	}
	// Whether an Upload message carries the request.
	for _, tc := range []struct {
		full, proto string
		want        bool
	}{
		{"/native.Store/Put", `{"data": "AAE="}`, false},
		{"/native.Store/Put", `{"request": {}}`, true},
		{"/native.Store/Append", `{"request": "x"}`, true},
		{"/native.Store/Append", `{"request": ""}`, false},
		{"/native.Store/Raw", `{"data": "AAE="}`, false},
		{"/native.Echo/Rich", `{"b": true}`, false},
	} {
		md := ps.lookup(tc.full)
		if got := md.hasRequest(protoJSON(t, md.in, tc.proto)); got != tc.want {
			t.Errorf("%s hasRequest(%s) = %v", tc.full, tc.proto, got)
		}
	}
	// A Download's chunk messages, and empty messages for RecvMsg.
	if m := ps.lookup("/native.Store/Put").newRequest(); m.Descriptor().FullName() != "native.StorePutUpload" {
		t.Errorf("newRequest %s", m.Descriptor().FullName())
	}
	if m := ps.lookup("/native.Store/Put").newResponse(); m.Descriptor().FullName() != "google.protobuf.Empty" {
		t.Errorf("newResponse %s", m.Descriptor().FullName())
	}
	get := ps.lookup("/native.Store/Get")
	chunk := get.responseChunk([]byte("abc"))
	if string(chunk.Get(get.respData).Bytes()) != "abc" || chunk.Descriptor() != get.out {
		t.Error("responseChunk")
	}
	raw := ps.lookup("/native.Store/Raw")
	if got := raw.requestChunk(raw.responseChunk([]byte("xy"))); string(got) != "xy" {
		t.Errorf("HttpBody chunk %q", got)
	}
	if ps.lookup("/native.Echo/Rich").responseChunk(nil) != nil {
		t.Error("responseChunk without a stream")
	}
}

func TestConcurrentUse(t *testing.T) {
	// A protoSet is shared by all calls: transcoding must not write to it.
	ps := mustBuild(t, testSchema(), "")
	md := ps.lookup("/native.Echo/Rich")
	in := protoJSON(t, md.in, richEdges)
	want, err := md.requestJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for i := 0; i < cap(done); i++ {
		go func() {
			for j := 0; j < 20; j++ {
				got, err := md.requestJSON(in)
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("different output")
				}
				if err == nil {
					_, err = md.responseMessage(got)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < cap(done); i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
