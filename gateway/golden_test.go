package gateway

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

// goldenSchema is small enough to check its JSON by hand.
func goldenSchema() *native.Schema {
	return &native.Schema{
		Messages: map[string]*native.Message{
			"g.Small": {Name: "g.Small", Fields: []native.Field{
				fld("id", tk(native.KindInt64)),
				fld("big", tk(native.KindUint64)),
				fld("q", tk(native.KindInt64), "quoted"),
				fld("qs", tk(native.KindString), "quoted"),
				fld("flag", tk(native.KindBool), "optional"),
				fld("when", tk(native.KindTimestamp)),
				fld("tags", tmap(native.KindInt32, tk(native.KindString))),
				fld("raw", tk(native.KindBytes)),
				fld("grid", tlist(tlist(tk(native.KindInt32)))),
				fld("v", tk(native.KindAny)),
				fld("f", tk(native.KindFloat32)),
				fld("child", tmsg("g.Child")),
				fld("opt", tmsg("g.Child"), "optional"),
			}},
			"g.Child": {Name: "g.Child", Fields: []native.Field{fld("n", tk(native.KindInt32)), fld("at", tk(native.KindTimestamp))}},
			// emb: id is promoted through an embedded pointer.
			"g.Emb": {Name: "g.Emb", Fields: []native.Field{fld("id", tk(native.KindInt64), "optional"), fld("name", tk(native.KindString))}},
		},
		Endpoints: []native.Endpoint{
			{Name: "G.Small", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tmsg("g.Small")), ResponseType: tp(tmsg("g.Small"))},
			{Name: "G.Grid", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tlist(tlist(tk(native.KindInt32)))), ResponseType: tp(tk(native.KindAny))},
			{Name: "G.Put", Request: native.BodyJSONStream, Response: native.BodyNone, RequestType: tp(tmsg("g.Child"))},
			{Name: "G.Emb", Request: native.BodyJSON, Response: native.BodyNone, RequestType: tp(tmsg("g.Emb"))},
		},
	}
}

func TestGoldenJSON(t *testing.T) {
	ps := mustBuild(t, goldenSchema(), "")
	small := ps.lookup("/native.G/Small")
	grid := ps.lookup("/native.G/Grid")
	put := ps.lookup("/native.G/Put")
	for _, tc := range []struct {
		name  string
		md    *method
		proto string // protojson of the request message
		want  string // native JSON
	}{
		{"zero values", small, `{}`,
			`{"id":0,"big":0,"q":"0","qs":"\"\"","when":"0001-01-01T00:00:00Z","tags":null,"raw":null,"grid":null,"v":null,"f":0,` +
				`"child":{"n":0,"at":"0001-01-01T00:00:00Z"}}`},
		{"edge values", small, `{"id": "4611686018427387905", "big": "18446744073709551615", "q": "-5", "qs": "a\"<", "flag": false,
			"when": "1969-12-31T23:59:59.5Z", "tags": {"10": "x", "9": "y", "-1": "z"}, "raw": "AP8=", "grid": [{"values": [1]}, {}],
			"v": {"b": [true, null], "a": 1.5, "big": 1e21}, "f": 0.1, "child": {"n": 1}, "opt": {}}`,
			`{"id":4611686018427387905,"big":18446744073709551615,"q":"-5","qs":"\"a\\\"\\u003c\"","flag":false,"when":"1969-12-31T23:59:59.5Z",` +
				`"tags":{"-1":"z","10":"x","9":"y"},"raw":"AP8=","grid":[[1],null],"v":{"a":1.5,"b":[true,null],"big":1e+21},"f":0.1,` +
				`"child":{"n":1,"at":"0001-01-01T00:00:00Z"},"opt":{"n":0,"at":"0001-01-01T00:00:00Z"}}`},
		{"bare list of lists", grid, `{"value": [{"values": [1, -2]}, {}, {"values": [2147483647]}]}`, `[[1,-2],null,[2147483647]]`},
		{"empty bare list", grid, `{}`, `null`},
		{"upload request", put, `{"request": {"n": 7, "at": "2024-01-02T03:04:05.000000006Z"}, "data": "AAE="}`, `{"n":7,"at":"2024-01-02T03:04:05.000000006Z"}`},
		{"upload without request", put, `{"data": "AAE="}`, `{"n":0,"at":"0001-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := protoJSON(t, tc.md.in, tc.proto)
			got, err := tc.md.requestJSON(in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("requestJSON\n got %s\nwant %s", got, tc.want)
			}
			// And back: the golden decodes to the message (minus stream
			// data, and minus a Value's number formatting).
			back, err := tc.md.requestMessage([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			want := proto.Clone(in)
			if tc.md.reqData != nil {
				want.ProtoReflect().Clear(tc.md.reqData)
			}
			if !proto.Equal(back, want) {
				a, _ := protojson.Marshal(back)
				t.Errorf("decoded back to %s", a)
			}
		})
	}
}

type EmbBase struct {
	ID int64 `json:"id"`
}

type emb struct {
	*EmbBase
	Name string `json:"name"`
}

func TestEmbeddedPointer(t *testing.T) {
	// An absent optional member must not allocate the embedded struct, as
	// a null would.
	ps := mustBuild(t, goldenSchema(), "")
	md := ps.lookup("/native.G/Emb")
	for _, tc := range []struct {
		proto, want string
		base        bool
	}{
		{`{"name": "x"}`, `{"name":"x"}`, false},
		{`{"id": "0"}`, `{"id":0,"name":""}`, true},
	} {
		got, err := md.requestJSON(protoJSON(t, md.in, tc.proto))
		if err != nil || string(got) != tc.want {
			t.Fatalf("requestJSON = %s, %v, want %s", got, err, tc.want)
		}
		var e emb
		if err := json.Unmarshal(got, &e); err != nil || (e.EmbBase != nil) != tc.base {
			t.Errorf("%s: embedded pointer set = %v, want %v (%v)", got, e.EmbBase != nil, tc.base, err)
		}
	}
	var e emb
	if err := json.Unmarshal([]byte(`{"id":null}`), &e); err != nil || e.EmbBase == nil {
		t.Error("encoding/json no longer allocates an embedded pointer for null; the omission rule could be relaxed")
	}
}

func TestDecodeLeniency(t *testing.T) {
	ps := mustBuild(t, goldenSchema(), "")
	small := ps.lookup("/native.G/Small")
	for _, tc := range []struct {
		name, native, proto string
	}{
		{"unknown members are ignored", `{"id":1,"newField":{"x":[1,2]},"ID":5}`, `{"id":"1"}`},
		{"quoted fields also bare", `{"q":-5,"qs":"\"x\""}`, `{"q":"-5","qs":"x"}`},
		{"numbers also quoted", `{"id":"9007199254740993","big":"18446744073709551615"}`, `{"id":"9007199254740993","big":"18446744073709551615"}`},
		{"null is unset", `{"id":null,"flag":null,"when":null,"tags":null,"grid":null,"v":null,"child":null,"opt":null}`, `{}`},
		{"zero child is unset, optional one is kept", `{"child":{"n":0,"at":"0001-01-01T00:00:00Z"},"opt":{"n":0}}`, `{"opt":{}}`},
		{"zero time unset unless optional", `{"when":"0001-01-01T00:00:00Z"}`, `{}`},
		{"time zone offsets", `{"when":"2020-01-01T10:00:00+02:00"}`, `{"when":"2020-01-01T08:00:00Z"}`},
		{"null elements and values", `{"grid":[null,[1]],"tags":{"3":null}}`, `{"grid":[{},{"values":[1]}],"tags":{"3":""}}`},
		{"explicit false optional", `{"flag":false}`, `{"flag":false}`},
		{"any keeps null inside", `{"v":[null,{"a":null}]}`, `{"v":[null,{"a":null}]}`},
		{"large exact ints", `{"id":-9223372036854775808,"big":18446744073709551615}`, `{"id":"-9223372036854775808","big":"18446744073709551615"}`},
		{"float32", `{"f":3.4028235e+38}`, `{"f":3.4028235e+38}`},
		{"whitespace", " \n{ \"id\" : 2 }\n ", `{"id":"2"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := small.responseMessage([]byte(tc.native))
			if err != nil {
				t.Fatal(err)
			}
			want := protoJSON(t, small.out, tc.proto)
			if !proto.Equal(got, want) {
				a, _ := protojson.Marshal(got)
				t.Errorf("got %s, want %s", a, tc.proto)
			}
		})
	}
}

func TestTranscodeErrors(t *testing.T) {
	ps := mustBuild(t, goldenSchema(), "")
	small := ps.lookup("/native.G/Small")
	grid := ps.lookup("/native.G/Grid")
	set := func(md *method, build func(m *dynamicpb.Message)) protoreflect.Message {
		m := dynamicpb.NewMessage(md.in)
		build(m)
		return m
	}
	fd := func(m *dynamicpb.Message, name string) protoreflect.FieldDescriptor {
		return m.Descriptor().Fields().ByName(protoreflect.Name(name))
	}
	for _, tc := range []struct {
		name string
		md   *method
		m    protoreflect.Message
		want string
	}{
		{"NaN float", small, set(small, func(m *dynamicpb.Message) { m.Set(fd(m, "f"), protoreflect.ValueOfFloat32(float32(math.NaN()))) }),
			`gateway: endpoint "G.Small" request at f: NaN cannot be encoded as JSON`},
		{"Inf in a Value", small, set(small, func(m *dynamicpb.Message) {
			protojson.Unmarshal([]byte(`{"v":{"a":[1,2]}}`), m)
			l := m.Mutable(fd(m, "v")).Message()
			l = l.Mutable(l.Descriptor().Fields().ByName("struct_value")).Message()
			a := l.Get(l.Descriptor().Fields().ByName("fields")).Map().Get(protoreflect.ValueOfString("a").MapKey()).Message()
			lv := a.Get(a.Descriptor().Fields().ByName("list_value")).Message()
			e := lv.Get(lv.Descriptor().Fields().ByName("values")).List().Get(1).Message()
			e.Set(e.Descriptor().Fields().ByName("number_value"), protoreflect.ValueOfFloat64(math.Inf(-1)))
		}), `gateway: endpoint "G.Small" request at v["a"][1]: -Inf cannot be encoded as JSON`},
		{"timestamp out of range", small, set(small, func(m *dynamicpb.Message) {
			setTime(m.Mutable(fd(m, "child")).Message().Mutable(fd(m, "child").Message().Fields().ByName("at")).Message(), 253402300800, 0)
		}), `gateway: endpoint "G.Small" request at child.at: timestamp {seconds: 253402300800, nanos: 0} cannot be encoded as a Go time.Time`},
		{"bad nanos", small, set(small, func(m *dynamicpb.Message) {
			setTime(m.Mutable(fd(m, "when")).Message(), 0, -1)
		}), `gateway: endpoint "G.Small" request at when: timestamp {seconds: 0, nanos: -1} cannot be encoded as a Go time.Time`},
		{"wrong descriptor", small, dynamicpb.NewMessage(small.out.Fields().ByName("child").Message()),
			`gateway: endpoint "G.Small" request: got message native.Child, want native.Small of this descriptor set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.md.requestJSON(tc.m)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant %s", err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, native, want string
	}{
		{"not an object", `[1]`, `gateway: endpoint "G.Small" response: want a JSON object for g.Small, got an array`},
		{"string for int", `{"id":"x"}`, `gateway: endpoint "G.Small" response at id: want int64, got the string "x"`},
		{"fraction for int", `{"id":1.5}`, `gateway: endpoint "G.Small" response at id: want int64, got the number 1.5`},
		{"overflow", `{"big":18446744073709551616}`, `gateway: endpoint "G.Small" response at big: want uint64, got the number 18446744073709551616`},
		{"bool for int", `{"id":true}`, `gateway: endpoint "G.Small" response at id: want int64, got a boolean`},
		{"float32 overflow", `{"f":1e39}`, `gateway: endpoint "G.Small" response at f: want float32, got the number 1e39`},
		{"bad base64", `{"raw":"!!"}`, `gateway: endpoint "G.Small" response at raw: invalid base64: illegal base64 data at input byte 0`},
		{"bad time", `{"child":{"at":"yesterday"}}`, `gateway: endpoint "G.Small" response at child.at: want an RFC 3339 timestamp, got the string "yesterday"`},
		{"bad map key", `{"tags":{"x":"y"}}`, `gateway: endpoint "G.Small" response at tags["x"]: want a map key of kind int32, got "x"`},
		{"deep wrong type", `{"grid":[[1],[2,"z"]]}`, `gateway: endpoint "G.Small" response at grid[1][1]: want int32, got the string "z"`},
		{"quoted string not JSON", `{"qs":"abc"}`, `gateway: endpoint "G.Small" response at qs: want a quoted JSON string inside the string, got the string "abc"`},
		{"invalid JSON", `{"id":`, `gateway: endpoint "G.Small" response: invalid JSON: unexpected EOF within "/id" after offset 6`},
		{"trailing data", `{} {}`, `gateway: endpoint "G.Small" response: invalid JSON: data after the value`},
		{"huge number in any", `{"v":1e400}`, `gateway: endpoint "G.Small" response at v: number 1e400 does not fit a double`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := small.responseMessage([]byte(tc.native))
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant %s", err, tc.want)
			}
		})
	}

	// Requests are read strictly, responses leniently: the same JSON is
	// refused as a request and read as a response.
	const fields = "(fields: big, child, f, flag, grid, id, opt, q, qs, raw, tags, v, when)"
	for _, tc := range []struct {
		name, native, want string
	}{
		{"unknown member", `{"id":1,"nope":2}`, `gateway: endpoint "G.Small" request: unknown field "nope" ` + fields},
		{"wrong case", `{"ID":1}`, `gateway: endpoint "G.Small" request: unknown field "ID" ` + fields},
		{"several unknown", `{"z":1,"id":1,"a":2,"Id":3}`, `gateway: endpoint "G.Small" request: unknown field "Id" (and 2 more) ` + fields},
		{"unknown nested", `{"child":{"n":1,"x":1}}`, `gateway: endpoint "G.Small" request at child: unknown field "x" (fields: at, n)`},
		{"unknown in an optional message", `{"opt":{"at":"2026-01-01T00:00:00Z","N":1}}`, `gateway: endpoint "G.Small" request at opt: unknown field "N" (fields: at, n)`},
		{"duplicate member", `{"id":1,"id":2}`, `gateway: endpoint "G.Small" request: duplicate field "id"`},
		{"duplicate map key", `{"tags":{"1":"a","1":"b"}}`, `gateway: endpoint "G.Small" request: duplicate field "1" in /tags`},
		{"duplicate inside an any", `{"v":{"a":{"b":1,"b":2}}}`, `gateway: endpoint "G.Small" request: duplicate field "b" in /v/a`},
		{"lone surrogate", `{"qs":"\"\ud800\""}`, `gateway: endpoint "G.Small" request: invalid JSON: invalid surrogate pair`},
		{"not UTF-8", "{\"qs\":\"\xff\"}", `gateway: endpoint "G.Small" request: invalid JSON: invalid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := small.requestMessage([]byte(tc.native))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("request: err = %v\nwant %s", err, tc.want)
			}
			if tc.name != "lone surrogate" && tc.name != "not UTF-8" {
				if _, err := small.responseMessage([]byte(tc.native)); err != nil {
					t.Errorf("response: %v; want it read leniently", err)
				}
			}
		})
	}

	// Paths inside a bare (wrapped) body start at the value itself.
	if _, err := grid.requestMessage([]byte(`[[1],[2,"x"]]`)); err == nil ||
		err.Error() != `gateway: endpoint "G.Grid" request at [1][1]: want int32, got the string "x"` {
		t.Errorf("err = %v", err)
	}

	// Methods without a JSON part.
	put := ps.lookup("/native.G/Put")
	if _, err := put.responseMessage([]byte(`{}`)); err == nil || !strings.Contains(err.Error(), `endpoint "G.Put" has no JSON response`) {
		t.Errorf("err = %v", err)
	}
}

// TestProtojsonFacts pins down the protojson behaviour the design relies on
// or works around (checked against google.golang.org/protobuf v1.36.12).
func TestProtojsonFacts(t *testing.T) {
	ps := mustBuild(t, goldenSchema(), "")
	md := ps.lookup("/native.G/Small").in
	decode := func(s string) (*dynamicpb.Message, error) {
		m := dynamicpb.NewMessage(md)
		return m, protojson.Unmarshal([]byte(s), m)
	}
	// protojson writes 64-bit integers as strings, which encoding/json
	// rejects for an int64 field without ,string: hence our own encoder.
	m, _ := decode(`{"id": 5}`)
	if out, _ := protojson.Marshal(m); !strings.Contains(string(out), `"5"`) {
		t.Errorf("protojson writes int64 as %s", out)
	}
	// protojson reads JSON numbers into int64/uint64 exactly, beyond 2^53.
	m, err := decode(`{"id": 4611686018427387905, "big": 18446744073709551615}`)
	if err != nil || m.Get(md.Fields().ByName("id")).Int() != 1<<62+1 || m.Get(md.Fields().ByName("big")).Uint() != math.MaxUint64 {
		t.Errorf("protojson int64: %v %v", m, err)
	}
	// null leaves repeated, map, message and scalar fields unset...
	m, err = decode(`{"grid": null, "tags": null, "child": null, "id": null, "when": null}`)
	if err != nil || !isEmpty(m) {
		t.Errorf("protojson null: %v %v", m, err)
	}
	// ...but sets a google.protobuf.Value field to NullValue.
	m, _ = decode(`{"v": null}`)
	if !m.Has(md.Fields().ByName("v")) {
		t.Error("protojson: null Value is unset")
	}
	// protojson rejects unknown fields unless DiscardUnknown.
	if _, err := decode(`{"zzz": 1}`); err == nil {
		t.Error("protojson accepts unknown fields")
	}
	// protojson accepts the json_name and the proto name.
	weird := mustBuild(t, testSchema(), "").lookup("/native.Echo/Rich").in
	for _, s := range []string{`{"weird-name": "x"}`, `{"weird_name": "x"}`} {
		m := dynamicpb.NewMessage(weird)
		if err := protojson.Unmarshal([]byte(s), m); err != nil || m.Get(weird.Fields().ByName("weird_name")).String() != "x" {
			t.Errorf("protojson %s: %v", s, err)
		}
	}
}
