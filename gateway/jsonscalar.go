package gateway

// This file reads one JSON scalar into a proto value, by the one rule both
// JSON readers follow: decode.go's, from a parsed value, and jsonwire.go's,
// from the token it reads.

import (
	"encoding/base64"
	"encoding/json"
	"encoding/json/jsontext"
	"strconv"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// jsonScalar is a JSON null, boolean, number or string: its kind, as
// jsontext names kinds ('n', 't', 'f', '0', '"'), and its text (a number's
// literal, a string's value).
type jsonScalar struct {
	kind jsontext.Kind
	text string
}

// scalarOf returns j as a jsonScalar, or false for an array or object.
func scalarOf(j any) (jsonScalar, bool) {
	switch x := j.(type) {
	case nil:
		return jsonScalar{kind: 'n'}, true
	case bool:
		if x {
			return jsonScalar{'t', "true"}, true
		}
		return jsonScalar{'f', "false"}, true
	case json.Number:
		return jsonScalar{'0', string(x)}, true
	case string:
		return jsonScalar{'"', x}, true
	}
	return jsonScalar{}, false
}

// describe names s for error messages.
func (s jsonScalar) describe() string {
	switch s.kind {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "the number " + clip.Text(s.text, clip.Max)
	case '"':
		return "the string " + clip.Quote(s.text)
	case '[':
		return "an array"
	}
	return "an object"
}

// value converts s, which is not null, to a value of scalar kind k (see
// decodeScalar).
func (s jsonScalar) value(k native.Kind, quoted bool) (protoreflect.Value, error) {
	bad := func() (protoreflect.Value, error) {
		return protoreflect.Value{}, errorf("want %s, got %s", k, s.describe())
	}
	if s.kind != '"' && s.kind != '0' && s.kind != 't' && s.kind != 'f' {
		return bad() // null, an array or an object
	}
	isBool := s.kind == 't' || s.kind == 'f'
	text := s.text // the literal text of a number or bool
	switch k {
	case native.KindString:
		if isBool {
			return bad()
		}
		if quoted {
			var str string
			if err := json.Unmarshal([]byte(text), &str); err != nil {
				return protoreflect.Value{}, errorf("want a quoted JSON string inside the string, got %s", s.describe())
			}
			text = str
		}
		return protoreflect.ValueOfString(text), nil
	case native.KindBytes:
		if s.kind != '"' {
			return bad()
		}
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return protoreflect.Value{}, errorf("invalid base64: %v", err)
		}
		return protoreflect.ValueOfBytes(b), nil
	case native.KindBool:
		if text != "true" && text != "false" {
			return bad()
		}
		return protoreflect.ValueOfBool(text == "true"), nil
	}
	if isBool {
		return bad()
	}
	var err error
	var v protoreflect.Value
	switch k {
	case native.KindInt32:
		var n int64
		n, err = strconv.ParseInt(text, 10, 32)
		v = protoreflect.ValueOfInt32(int32(n))
	case native.KindInt64:
		var n int64
		n, err = strconv.ParseInt(text, 10, 64)
		v = protoreflect.ValueOfInt64(n)
	case native.KindUint32:
		var n uint64
		n, err = strconv.ParseUint(text, 10, 32)
		v = protoreflect.ValueOfUint32(uint32(n))
	case native.KindUint64:
		var n uint64
		n, err = strconv.ParseUint(text, 10, 64)
		v = protoreflect.ValueOfUint64(n)
	case native.KindFloat32:
		var f float64
		f, err = strconv.ParseFloat(text, 32)
		v = protoreflect.ValueOfFloat32(float32(f))
	case native.KindFloat64:
		var f float64
		f, err = strconv.ParseFloat(text, 64)
		v = protoreflect.ValueOfFloat64(f)
	}
	if err != nil {
		return bad()
	}
	return v, nil
}

// time parses s as parseTime does.
func (s jsonScalar) time() (sec int64, nanos int32, err error) {
	if s.kind != '"' {
		return 0, 0, errorf("want an RFC 3339 timestamp, got %s", s.describe())
	}
	t, perr := time.Parse(time.RFC3339, s.text)
	if perr != nil {
		return 0, 0, errorf("want an RFC 3339 timestamp, got %s", s.describe())
	}
	return t.Unix(), int32(t.Nanosecond()), nil
}
