package native

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// headerSamples are headers whose encoding must be byte for byte what
// encoding/json writes.
func headerSamples() []any {
	odd := "a\"b\\c\b\f\n\r\t\x01\x1f<>&\u2028\u2029\x7f\xff\xfe€ü😀"
	return []any{
		&requestHeader{Method: "Store.List", Body: BodyJSON, Accept: BodyJSON},
		&requestHeader{Method: odd, Body: BodyJSONStream, Accept: BodyStream, Timeout: -5, Metadata: Metadata{"b": {"1", odd}, "a": nil, odd: {}, "": {""}}},
		&requestHeader{Timeout: 1<<63 - 1, Metadata: Metadata{}},
		&requestHeader{Method: "F.Get", Body: BodyJSON, Accept: BodyStream, Range: "bytes=-5", IfRange: odd, Head: true},
		&responseHeader{Code: CodeOK, Body: BodyStream},
		&responseHeader{Code: CodeOK, Body: BodyStream, Stream: &streamInfo{Length: -1, Size: -1}},
		&responseHeader{Code: CodeOK, Body: BodyStream, Stream: &streamInfo{Length: 1 << 62, Size: 1<<63 - 1, Offset: 7, Type: odd, ETag: odd, Modified: -1}},
		&responseHeader{Code: 1<<32 - 1, Message: odd, Body: BodyNone, Metadata: Metadata{"x": {"y"}}, Trailer: Metadata{"t": {"1", "2"}, "s": nil}},
		&trailer{},
		&trailer{Code: CodeDataLoss, Message: "eio", Metadata: Metadata{"k": {"v"}, "j": {}}},
	}
}

func encodeHeaderForTest(v any) []byte {
	switch h := v.(type) {
	case *requestHeader:
		return appendRequestHeader(nil, h)
	case *responseHeader:
		return appendResponseHeader(nil, h)
	case *trailer:
		return appendTrailer(nil, h)
	}
	panic(v)
}

// normFFFD makes the two ways Go releases write invalid UTF-8 in a JSON
// string the same: encoding/json in Go 1.26 (and our encoder) escapes the
// replacement character as \ufffd, in 1.27 it writes it raw; both decode
// to the same string.
func normFFFD(s string) string { return strings.ReplaceAll(s, `\ufffd`, "\uFFFD") }

func TestHeaderCodecMatchesEncodingJSON(t *testing.T) {
	for _, h := range headerSamples() {
		want, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		got := encodeHeaderForTest(h)
		if normFFFD(string(got)) != normFFFD(string(want)) {
			t.Errorf("%T:\n got %s\nwant %s", h, got, want)
		}
		// And it decodes back to what encoding/json decodes.
		checkDecodeAgrees(t, got)
	}
}

func TestHeaderDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`null`, "want a JSON object"},
		{`[]`, `want a JSON object, found "[]"`},
		{`{"method":"a"} x`, "data after the JSON object"},
		{"{\"method\":\"a\"}\x00", "data after the JSON object"},
		{`{"method":"a","method":"b"}`, `key "method" repeated`},
		{`{"Method":"a"}`, `keys are case-sensitive, want "method"`},
		{`{"method":1}`, "want a string"},
		{`{"timeout":1.5}`, "want an integer, got 1.5"},
		{`{"timeout":01}`, "invalid number"},
		{``, "empty, want a JSON object"},
		{`{"md":{"k":"v"}}`, `md "k": want an array of strings, found "\"v\"}}"`},
		{`{"md":{"k":[null]}}`, `md "k": want a string, found "null]}}"`},
		{`{"md":{"k":[],"k":[]}}`, `metadata key "k" repeated`},
		{`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "nested deeper"},
		{`{"method":"a`, "unterminated string"},
		{"{\"method\":\"a\x01\"}", "control character"},
		{`{"method":"\x"}`, "invalid string"},
		{`{"x":tru}`, "want a JSON value"},
	} {
		err := decodeHeader("request header", []byte(tc.in), &requestHeader{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "native: ") {
			t.Errorf("%s: err = %v, want one containing %q", tc.in, err, tc.want)
		}
		if CodeOf(err) != CodeInternal {
			t.Errorf("%s: code %v, want Internal (a protocol error)", tc.in, CodeOf(err))
		}
	}
	// Unknown keys of any shape are skipped.
	var h requestHeader
	in := `{ "extra" : {"a":[1,-2.5e3,true,false,null,"\u00e9"]}, "method":"m", "body":"json", "accept":"json", "timeout":null }`
	if err := decodeHeader("request header", []byte(in), &h); err != nil || h.Method != "m" || h.Body != BodyJSON {
		t.Errorf("decode %s = %+v, %v", in, h, err)
	}
}

// checkDecodeAgrees decodes b as each header shape with our decoder and with
// encoding/json: where ours accepts, encoding/json must accept too and give
// the same value.
func checkDecodeAgrees(t *testing.T, b []byte) {
	t.Helper()
	for _, mk := range []func() any{
		func() any { return &requestHeader{} },
		func() any { return &responseHeader{} },
		func() any { return &trailer{} },
	} {
		ours, theirs := mk(), mk()
		if err := decodeHeader("header", b, ours); err != nil {
			continue
		}
		if err := json.Unmarshal(b, theirs); err != nil {
			t.Fatalf("%q: our decoder accepts it as %T, encoding/json says %v", b, ours, err)
		}
		if !reflect.DeepEqual(ours, theirs) {
			t.Fatalf("%q as %T:\n ours %#v\njson %#v", b, ours, ours, theirs)
		}
	}
}

// FuzzHeaderCodec checks the decoder against encoding/json on any input,
// and the encoder against encoding/json on what the decoder accepts.
func FuzzHeaderCodec(f *testing.F) {
	for _, h := range headerSamples() {
		f.Add(encodeHeaderForTest(h))
	}
	f.Add([]byte(`{"method":"\ud800","md":{"\u00e9":["\udc00\ud83d\ude00"]}}`))
	f.Add([]byte(`{"code":4294967296}`))
	f.Add([]byte(`{"x":{"y":[1e5,-0,0.1E-2]},"code":-0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeAgrees(t, b)
		for _, v := range []any{&requestHeader{}, &responseHeader{}, &trailer{}} {
			if decodeHeader("header", b, v) != nil {
				continue
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := encodeHeaderForTest(v); normFFFD(string(got)) != normFFFD(string(want)) {
				t.Fatalf("%T %#v:\n got %s\nwant %s", v, v, got, want)
			}
		}
	})
}
