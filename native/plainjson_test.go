package native

import (
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Plain struct types the tests decode into.
type (
	plainEcho struct {
		ID    int64    `json:"id"`
		Name  string   `json:"name"`
		Tags  []string `json:"tags"`
		Size  int64    `json:"size"`
		Owner string   `json:"owner"`
	}
	plainTag     string
	plainScalars struct {
		B   bool
		I8  int8 `json:"i8"`
		I16 int16
		I32 int32
		I   int
		U8  uint8
		U16 uint16
		U32 uint32
		U64 uint64 `json:"u64,omitempty"`
		F32 float32
		F64 float64
		K   plainTag      `json:"k"`
		D   time.Duration `json:"d"`
	}
	plainInner struct {
		A string   `json:"a"`
		N uint16   `json:"n"`
		T []string `json:"t"`
	}
	plainNested struct {
		Inner  plainInner   `json:"inner"`
		P      *plainInner  `json:"p,omitzero"`
		List   []plainInner `json:"list"`
		Ints   []int32      `json:"ints"`
		PS     *string      `json:"ps"`
		Floats []float64    `json:"floats,omitempty"`
		Kinds  []plainTag   `json:"kinds"`
		hidden int
		Skip   string `json:"-"`
	}
)

// plainTypes makes a zero value of each plain test type.
var plainTypes = []func() any{
	func() any { return new(plainEcho) },
	func() any { return new(plainScalars) },
	func() any { return new(plainNested) },
}

// plainModes are the plain codec's modes, each with the decoder it
// stands in for and the function that picks between them.
var plainModes = []struct {
	mode      plainMode
	reference func(data []byte, v any) error
	unmarshal func(data []byte, v any) error
}{
	{plainStrict, func(data []byte, v any) error { return jsonv2.Unmarshal(data, v, strictJSON) },
		func(data []byte, v any) error { return unmarshalJSON(data, v, false) }},
	{plainMessage, func(data []byte, v any) error { return jsonv2.Unmarshal(data, v, messageJSON) },
		func(data []byte, v any) error { return unmarshalJSON(data, v, true) }},
	{plainV1, json.Unmarshal, unmarshalResponse},
}

// checkPlainDecode decodes data into each plain type in each mode, with
// the plain codec and with the decoder the mode stands in for
// (encoding/json/v2 with strictJSON or messageJSON, or json.Unmarshal),
// and fails unless they agree: where the codec handles the input, the
// reference decodes it to the same value without error; where it
// declines, the value is still zero; and the value and error of
// unmarshalJSON or unmarshalResponse are the reference's. Every value
// decoded is also encoded (checkPlainEncode). It returns how many decodes
// the codec handled.
func checkPlainDecode(t *testing.T, data []byte) (handled int) {
	t.Helper()
	for _, mk := range plainTypes {
		for _, m := range plainModes {
			want := mk()
			wantErr := m.reference(data, want)
			got := mk()
			if decodePlainJSON(data, got, m.mode) {
				handled++
				if wantErr != nil {
					t.Fatalf("%T mode %d %q: the plain codec decoded %+v, the reference failed: %v", got, m.mode, data, got, wantErr)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%T mode %d %q: the plain codec decoded\n%+v\nthe reference\n%+v", got, m.mode, data, got, want)
				}
			} else if !reflect.ValueOf(got).Elem().IsZero() {
				t.Fatalf("%T mode %d %q: declined, but left %+v", got, m.mode, data, got)
			}
			if wantErr == nil {
				checkPlainEncode(t, want)
			}
			got = mk()
			err := m.unmarshal(data, got)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || (wantErr == nil && !reflect.DeepEqual(got, want)) {
				t.Fatalf("%T mode %d %q: gave %+v, %v; the reference %+v, %v", got, m.mode, data, got, err, want, wantErr)
			}
		}
	}
	return handled
}

func TestPlainJSONDecodeHandles(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"id":1234567,"name":"reports/2026/q3-summary.pdf","tags":["finance","quarterly"],"size":1048576,"owner":"alice"}`,
		" \t\r\n{ \"id\" : -9223372036854775808 , \"tags\" : [ ] } \n",
		`{"id":9223372036854775807,"tags":null,"name":null}`,
		`{"name":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u003c\u0026","owner":"日本"}`,
		`{"tags":["a",null,"\u0000"]}`,
		`{}`,
		`{"B":true,"i8":-128,"I16":32767,"I32":-2147483648,"I":-0,"U8":255,"U16":65535,"U32":4294967295,"u64":18446744073709551615,"F32":3.4028235e38,"F64":-1.5e-300,"k":"x"}`,
		`{"B":false,"F32":0.1,"F64":1E+2}`,
		`{"inner":{"a":"x","n":7,"t":["y"]},"p":{"a":"z"},"list":[{"n":1},{},null],"ints":[1,-2],"ps":"s","floats":[0.5],"kinds":["k"]}`,
		`{"p":null,"ps":null,"inner":null,"list":[]}`,
	} {
		if checkPlainDecode(t, []byte(in)) == 0 {
			t.Errorf("%s: no type handled it", in)
		}
	}
}

// An unknown member is skipped when lenient (messageJSON), as v2 does.
func TestPlainJSONDecodeSkipsUnknownWhenLenient(t *testing.T) {
	t.Parallel()
	in := []byte(`{"id":1,"new":[1,"two",true,null,[]],"newer":-1.5e3,"name":"n"}`)
	var m plainEcho
	if !decodePlainJSON(in, &m, plainMessage) {
		t.Fatal("declined an unknown member when lenient")
	}
	if m.ID != 1 || m.Name != "n" {
		t.Fatalf("decoded %+v", m)
	}
	if decodePlainJSON(in, new(plainEcho), plainStrict) {
		t.Fatal("took an unknown member when strict")
	}
	checkPlainDecode(t, in)
}

// The plain codec declines what it cannot be sure to decode as v2 does,
// and then unmarshalJSON gives v2's error or value.
func TestPlainJSONDecodeDeclines(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``,
		`null`,
		`[]`,
		`{"id":1}x`,
		`{"id":1}` + "\x00",
		`{"id":1,"id":2}`,
		`{"ID":1}`,
		`{"i\u0064":1}`,
		`{"id":1.0}`,
		`{"id":1e3}`,
		`{"id":9223372036854775808}`,
		`{"id":-9223372036854775809}`,
		`{"id":99999999999999999999}`,
		`{"id":"1"}`,
		`{"id":01}`,
		`{"name":"\ud800"}`,
		`{"name":"\udc00\ud800"}`,
		`{"name":"\x"}`,
		"{\"name\":\"\xff\"}",
		"{\"name\":\"a\tb\"}",
		`{"name":1}`,
		`{"tags":"a"}`,
		`{"tags":["a",1]}`,
		`{"tags":["a"`,
		`{"new":{"a":1}}`,
		`{"new":1,"new":2}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5}`,
		`{"id":1,}`,
		`{"id" 1}`,
		`{"i8":128}`,
		`{"U8":-0}`,
		`{"U16":65536}`,
		`{"F32":1e39}`,
		`{"B":1}`,
		`{"I":nul}`,
	} {
		for _, mk := range plainTypes {
			for _, m := range plainModes {
				if v := mk(); decodePlainJSON([]byte(in), v, m.mode) {
					// Some inputs are fine for another type (an unknown
					// member when lenient): then the reference must agree.
					if err := m.reference([]byte(in), mk()); err != nil || m.mode == plainStrict {
						t.Errorf("%T mode %d %q: handled, want declined", v, m.mode, in)
					}
				}
			}
		}
		checkPlainDecode(t, []byte(in))
	}
}

// encoding/json matches names case-insensitively: a name that may match a
// field but for case is declined in plainV1 mode, skipped when lenient.
func TestPlainJSONDecodeV1CaseFold(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"ID":1}`, `{"nAmE":"x"}`, `{"Key":1}`, `{"owneſ":1}`, "{\"\u017Fize\":1}"} {
		if decodePlainJSON([]byte(in), new(plainEcho), plainV1) {
			t.Errorf("%s: handled in plainV1 mode", in)
		}
		checkPlainDecode(t, []byte(in))
	}
	if !decodePlainJSON([]byte(`{"ID":1}`), new(plainEcho), plainMessage) {
		t.Error("declined an unknown member in plainMessage mode")
	}
}

// A value that is not zero is left to v2, which merges into it.
func TestPlainJSONDecodeDeclinesNonZero(t *testing.T) {
	t.Parallel()
	m := plainEcho{Owner: "bob"}
	if decodePlainJSON([]byte(`{"id":1}`), &m, plainMessage) {
		t.Fatal("decoded into a value that was not zero")
	}
	if err := unmarshalJSON([]byte(`{"id":1}`), &m, true); err != nil || !reflect.DeepEqual(m, plainEcho{ID: 1, Owner: "bob"}) {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestPlainCodecOnlyForPlainTypes(t *testing.T) {
	t.Parallel()
	type recursive struct {
		Next *recursive `json:"next"`
	}
	for _, v := range []any{
		struct{ plainInner }{},
		struct {
			N int `json:"n,string"`
		}{},
		struct{ T time.Time }{},
		struct{ M map[string]string }{},
		struct{ B []byte }{},
		struct{ A any }{},
		struct{ A [2]int }{},
		reflect.New(reflect.StructOf([]reflect.StructField{ // a name twice
			{Name: "A", Type: reflect.TypeFor[int](), Tag: `json:"a"`},
			{Name: "B", Type: reflect.TypeFor[int](), Tag: `json:"a"`},
		})).Elem().Interface(),
		struct {
			A int `json:"a-b"`
		}{},
		struct{ R json.RawMessage }{},
		struct{ N json.Number }{},
		struct{ N []json.Number }{},
		recursive{},
		struct{ C complex64 }{},
		0,
	} {
		if plainCodecFor(reflect.TypeOf(v)) != nil {
			t.Errorf("%T has a plain codec", v)
		}
	}
	for _, mk := range plainTypes {
		if v := mk(); plainCodecFor(reflect.TypeOf(v).Elem()) == nil {
			t.Errorf("%T has no plain codec", v)
		}
	}
}

// FuzzPlainJSONDecode decodes random bytes into the plain test types with
// the plain codec and with encoding/json/v2, strictly and leniently: see
// checkPlainDecode.
func FuzzPlainJSONDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":1234567,"name":"reports/2026/q3-summary.pdf","tags":["finance","quarterly"],"size":1048576,"owner":"alice"}`,
		`{"B":true,"i8":-128,"I16":32767,"u64":18446744073709551615,"F32":3.4028235e38,"F64":-1.5e-300,"k":"x"}`,
		`{"inner":{"a":"x","n":7,"t":["y"]},"p":{"a":"z"},"list":[{"n":1},{},null],"ints":[1,-2],"ps":"s"}`,
		`{"name":"caf\u00e9 \ud83d\ude00 \"q\"","x":[1,{"a":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPlainDecode(t, data)
		// The bytes as the strings of a message that json.Marshal wrote,
		// which the codec must decode itself, escapes and all.
		m := plainEcho{ID: int64(len(data)), Name: string(data), Tags: []string{string(data), ""}}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var got plainEcho
		if !decodePlainJSON(b, &got, plainStrict) {
			t.Fatalf("declined %s", b)
		}
		checkPlainDecode(t, b)
	})
}

// BenchmarkPlainJSONDecode decodes the bench's ~100-byte EchoMsg as a
// stream of messages does, with encoding/json/v2 and through unmarshalJSON.
func BenchmarkPlainJSONDecode(b *testing.B) {
	data := []byte(`{"id":1234567,"name":"reports/2026/q3-summary.pdf","tags":["finance","quarterly"],"size":1048576,"owner":"alice"}`)
	b.Run("jsonv2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := jsonv2.Unmarshal(data, new(plainEcho), messageJSON); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := unmarshalJSON(data, new(plainEcho), true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// checkPlainEncode fails unless the plain codec writes v as json.Marshal
// does, or declines where Marshal fails.
func checkPlainEncode(t *testing.T, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, ok := appendPlainJSON([]byte("x"), v)
	switch {
	case !ok && string(got) != "x":
		t.Fatalf("%+v: declined, but changed dst to %q", v, got)
	case ok && wantErr != nil:
		t.Fatalf("%+v: the plain codec wrote %s, json.Marshal failed: %v", v, got, wantErr)
	case ok && string(got[1:]) != string(want):
		t.Fatalf("%+v: the plain codec wrote\n%s\njson.Marshal\n%s", v, got[1:], want)
	case !ok && wantErr == nil && !strings.Contains(string(want), "\uFFFD"):
		t.Fatalf("%+v: declined, json.Marshal wrote %s", v, want)
	}
	b, err := marshalJSON(v)
	if string(b) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%+v: marshalJSON gave %s, %v; json.Marshal %s, %v", v, b, err, want, wantErr)
	}
}

func TestPlainJSONEncode(t *testing.T) {
	t.Parallel()
	s := "x"
	for _, v := range []any{
		&plainEcho{ID: 1234567, Name: "reports/2026/q3-summary.pdf", Tags: []string{"finance", "quarterly"}, Size: 1048576, Owner: "alice"},
		&plainEcho{},
		&plainEcho{Name: "<a href=\"x\">&</a>\u2028\u2029\xff\x00\n\t日本", Tags: []string{}},
		&plainScalars{B: true, I8: -128, I16: 32767, I32: -2147483648, I: -1, U8: 255, U16: 65535, U32: 4294967295, U64: 1<<64 - 1, F32: 3.4028235e38, F64: 1e-7, K: "k"},
		&plainScalars{F32: 1e-7, F64: 1e21},
		&plainScalars{F32: float32(math.Copysign(0, -1)), F64: 123456789.125},
		&plainNested{Inner: plainInner{A: "a", N: 1, T: []string{"t"}}, P: &plainInner{}, List: []plainInner{{}, {A: "b"}}, Ints: []int32{-1, 2}, PS: &s, Floats: []float64{0.1, -2}, Kinds: []plainTag{"k"}},
		&plainNested{Floats: []float64{}, List: []plainInner{}},
		&plainOmit{F: math.Copysign(0, -1), E: []string{}},
		&plainOmit{S: "s", I: 1, B: true, P: &s, E: []string{"e"}, Z: []int{}, In: plainInner{N: 1}},
	} {
		checkPlainEncode(t, v)
	}
	for _, v := range []any{
		&plainScalars{F64: math.NaN()},
		&plainScalars{F32: float32(math.Inf(1))},
		&plainNested{Floats: []float64{1, math.Inf(-1)}},
	} {
		if _, ok := appendPlainJSON(nil, v); ok {
			t.Errorf("%+v: encoded, want declined", v)
		}
		checkPlainEncode(t, v)
	}
	if _, ok := appendPlainJSON(nil, plainEcho{}); ok {
		t.Error("encoded a struct that is not behind a pointer")
	}
	if _, ok := appendPlainJSON(nil, (*plainEcho)(nil)); ok {
		t.Error("encoded a nil pointer")
	}
}

// plainOmit has omitempty and omitzero fields of every kind.
type plainOmit struct {
	S  string     `json:"s,omitempty"`
	I  int        `json:"i,omitempty"`
	B  bool       `json:"b,omitempty"`
	F  float64    `json:"f,omitempty"`
	P  *string    `json:"p,omitempty"`
	E  []string   `json:"e,omitempty"`
	Z  []int      `json:"z,omitzero"`
	FZ float64    `json:"fz,omitzero"`
	In plainInner `json:"in,omitzero"`
	IE plainInner `json:"ie,omitempty"`
	SZ string     `json:"sz,omitempty,omitzero"`
}

// FuzzPlainJSONEncode writes values of the plain test types built from
// the fuzzer's values with the plain codec and with json.Marshal, which
// must agree byte for byte.
func FuzzPlainJSONEncode(f *testing.F) {
	f.Add("reports/2026/q3-summary.pdf", int64(1234567), uint64(1048576), 0.5, float32(1.5), true, uint8(2))
	f.Add("<&>\u2028\xff\x01", int64(-1<<63), uint64(1<<64-1), 1e21, float32(1e-7), false, uint8(0))
	f.Add("", int64(0), uint64(0), math.Copysign(0, -1), float32(3.4028235e38), true, uint8(255))
	f.Fuzz(func(t *testing.T, s string, i int64, u uint64, fl float64, f32 float32, b bool, n uint8) {
		tags := make([]string, n%4)
		for k := range tags {
			tags[k] = s[:len(s)*k/4]
		}
		if n&4 != 0 {
			tags = nil
		}
		ps := &s
		if n&8 != 0 {
			ps = nil
		}
		inner := plainInner{A: s, N: uint16(u), T: tags}
		for _, v := range []any{
			&plainEcho{ID: i, Name: s, Tags: tags, Size: int64(u), Owner: s},
			&plainScalars{B: b, I8: int8(i), I16: int16(i), I32: int32(i), I: int(i), U8: uint8(u), U16: uint16(u), U32: uint32(u), U64: u, F32: f32, F64: fl, K: plainTag(s), D: time.Duration(i)},
			&plainNested{Inner: inner, P: &inner, List: []plainInner{inner, {}}, Ints: []int32{int32(i)}, PS: ps, Floats: []float64{fl, float64(f32)}, Kinds: []plainTag{plainTag(s)}},
			&plainOmit{S: s, I: int(i), B: b, F: fl, P: ps, E: tags, Z: make([]int, n%2), FZ: float64(f32), In: plainInner{N: uint16(n % 2)}, SZ: s},
		} {
			checkPlainEncode(t, v)
		}
	})
}

// BenchmarkPlainJSONEncode writes the bench's EchoMsg as a stream of
// messages does, with encoding/json and with the plain codec.
func BenchmarkPlainJSONEncode(b *testing.B) {
	m := &plainEcho{ID: 1234567, Name: "reports/2026/q3-summary.pdf", Tags: []string{"finance", "quarterly"}, Size: 1048576, Owner: "alice"}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalJSON(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var ok bool
			if buf, ok = appendPlainJSON(buf[:0], m); !ok {
				b.Fatal("declined")
			}
		}
	})
}
