package gateway

// This file reads native JSON (as encoding/json wrote it) into proto
// messages, driven by the codec tables.
//
// Numbers keep their exact text, so int64/uint64 values beyond 2^53 stay
// exact. Requests are read strictly, by the rule native servers read them
// with (native/requestjson.go): a member the schema does not know, in any
// case but its own, or a member twice in one object, or text that is not
// UTF-8 is refused with INVALID_ARGUMENT naming it. Responses are read
// leniently, as encoding/json reads them: unknown members are ignored (a
// newer backend does not break an older gateway), the last of duplicate
// members wins and bad UTF-8 becomes U+FFFD.
//
// Non-optional fields mirror the encoder: the Go zero value leaves the proto
// field unset. null, 0, "", false, [] and {} do so naturally; a message
// whose JSON object holds only zero values is left unset, and so is the Go
// zero time 0001-01-01T00:00:00Z and a null any. Optional (pointer) fields
// keep presence: null or absent is unset, any other value is set, even a
// zero one. A null list element or map value becomes the proto zero value
// of its type (an empty message for message types), except that a null any
// element is a google.protobuf.Value holding null.
//
// `,string` fields are accepted both quoted and bare. A string field also
// accepts a JSON number, taking its literal text (json.Number fields).

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"

	"github.com/framegate/framegate/internal/clip"
)

// jsonReader reads native JSON into proto messages, strictly (requests)
// or leniently (responses); see the file's comment.
type jsonReader struct{ strict bool }

// parse parses data, one JSON value, into nil, bool, json.Number, string,
// []any and map[string]any.
func (r jsonReader) parse(data []byte) (any, error) {
	d := jsontext.NewDecoder(bytes.NewReader(data),
		jsontext.AllowDuplicateNames(!r.strict), jsontext.AllowInvalidUTF8(!r.strict))
	v, err := readJSON(d)
	if err == nil {
		if _, err = d.ReadToken(); err == nil {
			return nil, errorf("invalid JSON: data after the value")
		} else if err == io.EOF {
			return v, nil
		}
	}
	return nil, jsonError(err)
}

// jsonError says what is wrong with JSON a jsontext.Decoder could not read.
func jsonError(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && errors.Is(err, jsontext.ErrDuplicateName) {
		p := se.JSONPointer
		if p.Parent() == "" {
			return errorf("duplicate field %s", clip.Quote(p.LastToken()))
		}
		return errorf("duplicate field %s in %s", clip.Quote(p.LastToken()), clip.Text(string(p.Parent()), clip.Max))
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errorf("invalid JSON: unexpected end")
	}
	return errorf("invalid JSON: %s", clip.Text(strings.TrimPrefix(err.Error(), "jsontext: "), 256))
}

// readJSON reads the next value from d.
func readJSON(d *jsontext.Decoder) (any, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil
	case 'f', 't':
		return tok.Bool(), nil
	case '"':
		return tok.String(), nil
	case '0':
		return json.Number(tok.String()), nil
	case '[':
		arr := []any{}
		for d.PeekKind() != ']' {
			v, err := readJSON(d)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err = d.ReadToken()
		return arr, err
	case '{':
		obj := map[string]any{}
		for d.PeekKind() != '}' {
			k, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			name := k.String() // before the next read voids k
			v, err := readJSON(d)
			if err != nil {
				return nil, err
			}
			obj[name] = v
		}
		_, err = d.ReadToken()
		return obj, err
	}
	// ReadToken never returns a closing delimiter here: PeekKind stops
	// the loops above before one.
	return nil, errorf("invalid JSON: unexpected %v", tok.Kind())
}

// describe names the JSON type of j for error messages.
func describe(j any) string {
	switch j.(type) {
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	js, _ := scalarOf(j)
	return js.describe()
}

// message fills m from the JSON object j.
func (r jsonReader) message(m protoreflect.Message, c *messageCodec, j any) error {
	obj, ok := j.(map[string]any)
	if !ok {
		return errorf("want a JSON object for %s, got %s", c.name, describe(j))
	}
	found := 0
	for i := range c.fields {
		f := &c.fields[i]
		v, ok := obj[f.jsonName]
		if !ok {
			continue
		}
		found++
		if err := r.field(m, f.fd, f.typ, f.optional, f.quoted, v); err != nil {
			return atPath(err, "."+f.jsonName)
		}
	}
	if r.strict && found < len(obj) {
		return unknownMember(c, obj)
	}
	return nil
}

// unknownMember names the first (in byte order) member of obj that c does
// not know, and how many more there are.
func unknownMember(c *messageCodec, obj map[string]any) error {
	var first string
	n := 0
	for k := range obj {
		if _, ok := c.known[k]; ok {
			continue
		}
		if n == 0 || k < first {
			first = k
		}
		n++
	}
	msg := fmt.Sprintf("unknown field %s", clip.Quote(first))
	if n > 1 {
		msg += fmt.Sprintf(" (and %d more)", n-1)
	}
	if len(c.fields) <= 32 {
		msg += " (fields: " + fieldList(c.desc) + ")"
	}
	return errorf("%s", msg)
}

// field sets field fd of m, of native type c, from j.
func (r jsonReader) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, c *valueCodec, optional, quoted bool, j any) error {
	if j == nil {
		return nil
	}
	switch c.kind {
	case native.KindList:
		arr, ok := j.([]any)
		if !ok {
			return errorf("want a JSON array, got %s", describe(j))
		}
		l := m.Mutable(fd).List()
		for i, ej := range arr {
			v, err := r.elem(l.NewElement, c.elem, ej)
			if err != nil {
				return atPath(err, "["+strconv.Itoa(i)+"]")
			}
			l.Append(v)
		}
	case native.KindMap:
		obj, ok := j.(map[string]any)
		if !ok {
			return errorf("want a JSON object, got %s", describe(j))
		}
		mp := m.Mutable(fd).Map()
		for k, vj := range obj {
			key, err := parseKey(c.key, k)
			if err != nil {
				return atPath(err, "["+clip.Quote(k)+"]")
			}
			v, err := r.elem(mp.NewValue, c.elem, vj)
			if err != nil {
				return atPath(err, "["+clip.Quote(k)+"]")
			}
			mp.Set(key, v)
		}
	case native.KindMessage:
		sub := m.Mutable(fd).Message()
		if err := r.message(sub, c.msg, j); err != nil {
			return err
		}
		if !optional && isEmpty(sub) {
			m.Clear(fd)
		}
	case native.KindTimestamp:
		sec, nanos, err := parseTime(j)
		if err != nil {
			return err
		}
		if !optional && sec == goZeroTimeSeconds && nanos == 0 {
			return nil
		}
		setTime(m.Mutable(fd).Message(), sec, nanos)
	case native.KindAny:
		return decodeAny(m.Mutable(fd).Message(), j)
	default:
		v, err := decodeScalar(c.kind, j, quoted)
		if err != nil {
			return err
		}
		m.Set(fd, v)
	}
	return nil
}

// elem returns a list element or map value of native type c from j;
// newValue makes an empty message value for message types.
func (r jsonReader) elem(newValue func() protoreflect.Value, c *valueCodec, j any) (protoreflect.Value, error) {
	switch c.kind {
	case native.KindMessage, native.KindTimestamp, native.KindAny, native.KindList, native.KindMap:
		v := newValue()
		var err error
		switch {
		case c.kind == native.KindAny:
			err = decodeAny(v.Message(), j)
		case j == nil:
		case c.kind == native.KindMessage:
			err = r.message(v.Message(), c.msg, j)
		case c.kind == native.KindTimestamp:
			var sec int64
			var nanos int32
			if sec, nanos, err = parseTime(j); err == nil {
				setTime(v.Message(), sec, nanos)
			}
		default: // a list or map in its wrapper
			err = r.field(v.Message(), c.wrapper, c, false, false, j)
		}
		return v, err
	}
	if j == nil {
		return zeroScalar(c.kind), nil
	}
	return decodeScalar(c.kind, j, false)
}

// isEmpty reports whether m has no populated field.
func isEmpty(m protoreflect.Message) bool {
	empty := true
	m.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		empty = false
		return false
	})
	return empty
}

// zeroScalar returns the zero value of a scalar kind.
func zeroScalar(k native.Kind) protoreflect.Value {
	switch k {
	case native.KindBool:
		return protoreflect.ValueOfBool(false)
	case native.KindInt32:
		return protoreflect.ValueOfInt32(0)
	case native.KindInt64:
		return protoreflect.ValueOfInt64(0)
	case native.KindUint32:
		return protoreflect.ValueOfUint32(0)
	case native.KindUint64:
		return protoreflect.ValueOfUint64(0)
	case native.KindFloat32:
		return protoreflect.ValueOfFloat32(0)
	case native.KindFloat64:
		return protoreflect.ValueOfFloat64(0)
	case native.KindString:
		return protoreflect.ValueOfString("")
	}
	return protoreflect.ValueOfBytes(nil)
}

// decodeScalar converts j to a value of scalar kind k. Numbers and bools
// may be quoted (`,string`); a quoted string field holds a JSON string
// literal inside the string.
func decodeScalar(k native.Kind, j any, quoted bool) (protoreflect.Value, error) {
	js, ok := scalarOf(j)
	if !ok || js.kind == 'n' {
		return protoreflect.Value{}, errorf("want %s, got %s", k, describe(j))
	}
	return js.value(k, quoted)
}

// parseKey converts a JSON object key to a map key of kind k.
func parseKey(k native.Kind, s string) (protoreflect.MapKey, error) {
	if k == native.KindString {
		return protoreflect.ValueOfString(s).MapKey(), nil
	}
	v, err := jsonScalar{'0', s}.value(k, false)
	if err != nil {
		return protoreflect.MapKey{}, errorf("want a map key of kind %s, got %s", k, clip.Quote(s))
	}
	return v.MapKey(), nil
}

// parseTime parses an RFC 3339 timestamp as time.Time.UnmarshalJSON does.
func parseTime(j any) (sec int64, nanos int32, err error) {
	if js, ok := scalarOf(j); ok {
		return js.time()
	}
	return 0, 0, errorf("want an RFC 3339 timestamp, got %s", describe(j))
}

// setTime sets the fields of a google.protobuf.Timestamp.
func setTime(m protoreflect.Message, sec int64, nanos int32) {
	fields := m.Descriptor().Fields()
	m.Set(fields.ByNumber(timestampSeconds), protoreflect.ValueOfInt64(sec))
	m.Set(fields.ByNumber(timestampNanos), protoreflect.ValueOfInt32(nanos))
}

// decodeAny fills a google.protobuf.Value from any JSON value. Numbers
// become doubles, as they do in a Go any.
func decodeAny(m protoreflect.Message, j any) error {
	fields := m.Descriptor().Fields()
	switch x := j.(type) {
	case nil:
		m.Set(fields.ByNumber(valueNull), protoreflect.ValueOfEnum(0))
	case bool:
		m.Set(fields.ByNumber(valueBool), protoreflect.ValueOfBool(x))
	case string:
		m.Set(fields.ByNumber(valueString), protoreflect.ValueOfString(x))
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return errorf("number %s does not fit a double", clip.Text(string(x), clip.Max))
		}
		m.Set(fields.ByNumber(valueNumber), protoreflect.ValueOfFloat64(f))
	case []any:
		lv := m.Mutable(fields.ByNumber(valueList)).Message()
		l := lv.Mutable(lv.Descriptor().Fields().ByNumber(listValues)).List()
		for i, ej := range x {
			e := l.NewElement()
			if err := decodeAny(e.Message(), ej); err != nil {
				return atPath(err, "["+strconv.Itoa(i)+"]")
			}
			l.Append(e)
		}
	case map[string]any:
		sv := m.Mutable(fields.ByNumber(valueStruct)).Message()
		mp := sv.Mutable(sv.Descriptor().Fields().ByNumber(structFields)).Map()
		for k, vj := range x {
			v := mp.NewValue()
			if err := decodeAny(v.Message(), vj); err != nil {
				return atPath(err, "["+clip.Quote(k)+"]")
			}
			mp.Set(protoreflect.ValueOfString(k).MapKey(), v)
		}
	}
	return nil
}
