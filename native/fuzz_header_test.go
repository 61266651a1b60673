package native

// FuzzHeaderDecode fuzzes decodeHeader, the decoder of the JSON payloads of
// HEADER and TRAILER frames, as the connection uses it. Each input is used
// two ways:
//
//   - raw, the payload as it arrives, decoded as each of the three shapes
//     (request header, response header, trailer): nothing panics; a refusal
//     is a protocol error that says which payload was invalid; what is
//     accepted validates without a panic, and its canonical encoding (what
//     encoding/json writes, the wire format) decodes again to the same value;
//   - as the fields of a header that a peer writes with encoding/json (any
//     method, kinds, timeout, code, message and metadata, including invalid
//     UTF-8, control characters and U+2028): the decoder must accept every
//     such payload, indented or not, and decode it exactly as encoding/json
//     does, or two versions of this package could not talk.

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// headerShapes makes an empty value of each header shape, and names it as
// the connection does in its errors.
var headerShapes = []struct {
	what string
	new  func() any
}{
	{"request header", func() any { return &requestHeader{} }},
	{"response header", func() any { return &responseHeader{} }},
	{"request trailer", func() any { return &trailer{} }},
}

// normalizeHeader makes empty metadata nil: encoding/json omits it, so a
// header with {} and one without metadata encode the same.
func normalizeHeader(v any) any {
	nilIfEmpty := func(md Metadata) Metadata {
		if len(md) == 0 {
			return nil
		}
		return md
	}
	switch h := v.(type) {
	case *requestHeader:
		c := *h
		c.Metadata = nilIfEmpty(c.Metadata)
		return &c
	case *responseHeader:
		c := *h
		c.Metadata, c.Trailer = nilIfEmpty(c.Metadata), nilIfEmpty(c.Trailer)
		return &c
	case *trailer:
		c := *h
		c.Metadata = nilIfEmpty(c.Metadata)
		return &c
	}
	panic("not a header")
}

func validateHeader(v any) {
	switch h := v.(type) {
	case *requestHeader:
		_ = h.validate()
	case *responseHeader:
		_ = h.validate()
	}
}

// checkRawHeader decodes b as every shape.
func checkRawHeader(t *testing.T, b []byte) {
	for _, sh := range headerShapes {
		v := sh.new()
		err := decodeHeader(sh.what, b, v)
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrProtocol) || !errors.As(err, &e) || e.Code() != CodeInternal || !strings.Contains(e.Message(), "invalid "+sh.what+" JSON") {
				t.Fatalf("%s %q: error %T %v, want a protocol error naming the %s", sh.what, b, err, err, sh.what)
			}
			continue
		}
		validateHeader(v)
		canon, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s %q decoded to %#v, which does not encode: %v", sh.what, b, v, err)
		}
		again := sh.new()
		if err := decodeHeader(sh.what, canon, again); err != nil {
			t.Fatalf("%s %q decoded to %#v; its encoding %s does not decode: %v", sh.what, b, v, canon, err)
		}
		if !reflect.DeepEqual(normalizeHeader(v), normalizeHeader(again)) {
			t.Fatalf("%s %q: decoded %#v, encoded %s, decoded again %#v", sh.what, b, v, canon, again)
		}
	}
}

// checkWrittenHeader builds each shape from the fields, encodes it as a
// peer does, and checks the decoder agrees with encoding/json on it.
func checkWrittenHeader(t *testing.T, method, kind, key, val string, timeout int64, code uint32) {
	md := Metadata{key: {val, method}, strings.ToLower(key) + "-2": {}}
	for _, v := range []any{
		&requestHeader{Method: method, Body: BodyKind(kind), Accept: BodyKind(val), Timeout: timeout, Metadata: md},
		&responseHeader{Code: Code(code), Message: val, Body: BodyKind(kind), Metadata: md, Trailer: Metadata{val: {key}}},
		&trailer{Code: Code(code), Message: method, Metadata: md},
	} {
		plain, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		indented, err := json.MarshalIndent(v, " ", "\t")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{plain, indented} {
			want := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := json.Unmarshal(b, want); err != nil {
				t.Fatalf("encoding/json cannot decode its own %s: %v", b, err)
			}
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := decodeHeader("header", b, got); err != nil {
				t.Fatalf("a header written by encoding/json is refused: %s: %v", b, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n decoded %#v\nencoding/json %#v", b, got, want)
			}
		}
	}
}

func FuzzHeaderDecode(f *testing.F) {
	for _, s := range []struct {
		raw                    string
		method, kind, key, val string
		timeout                int64
		code                   uint32
	}{
		{`{"method":"Store.Read","body":"json","accept":"stream","timeout":1500000000,"md":{"x-trace":["abc"]}}`, "Store.Read", "json", "x-trace", "abc", 1500000000, 0},
		{`{"code":5,"message":"store: \"x\" not found","body":"none"}`, "Store.Stat", "none", "content-type", "text/plain", 0, 5},
		{`{"code":13,"message":"disk read error","md":{"x-bytes":["1024"]}}`, "", "stream", "x-bytes", "1024", -1, 13},
		{`{"code":0,"body":"stream","md":{"content-type":["text/plain"]},"trailer":{"a":[]}}`, "a\u2028b", "json+stream", "k\x00", "\xff\xfe", 1 << 62, 1 << 31},
		{`{ "extra" : {"a":[1,-2.5e3,true,false,null,"\u00e9"]}, "method":"m", "body":"json", "accept":"json", "timeout":null }`, "<&>", "json", "K", "\"\\", 9223372036854775807, 4294967295},
		{`{"method":"\ud800","md":{"\u00e9":["\udc00\ud83d\ude00"]}}`, "\xed\xa0\x80", "x", "\u00e9", "\U0001F600", -9223372036854775808, 16},
		{`{"Method":"m","METHOD":"n"}`, "m", "", "", "", 0, 0},
		{`{"method":"m","method":"n"}`, "m", "", "", "", 0, 0},
		{`{"md":{"k":null}}`, "", "", "k", "", 0, 0},
		{`{"timeout":1e3,"code":-0,"md":{}}`, "", "", "", "", 1000, 0},
		{`{"code":4294967296}`, "", "", "", "", 0, 0},
		{`null`, "", "", "", "", 0, 0},
		{`[{"method":"m"}]`, "", "", "", "", 0, 0},
		{`{"method":"m"} {}`, "", "", "", "", 0, 0},
		{"{\"method\":\"a\tb\"}", "a\tb", "", "", "", 0, 0},
		{`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "", "", "", "", 0, 0},
		{"", "", "", "", "", 0, 0},
	} {
		f.Add([]byte(s.raw), s.method, s.kind, s.key, s.val, s.timeout, s.code)
	}
	f.Fuzz(func(t *testing.T, raw []byte, method, kind, key, val string, timeout int64, code uint32) {
		checkRawHeader(t, raw)
		checkWrittenHeader(t, method, kind, key, val, timeout, code)
	})
}
