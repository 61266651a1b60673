package gateway

// This file transcodes native JSON to protobuf wire bytes in one pass,
// without building a message object: the gRPC face's response direction.
// The bytes it writes decode (proto.Unmarshal) to the message decode.go's
// jsonReader builds from the same JSON, under the same rule (strict or
// lenient), and each value is read by the same functions (jsonScalar). It
// writes proto's normal form: fields in the order the JSON gives them,
// zero values of fields without presence left out, repeated scalars
// packed.
//
// Some JSON goes back to the message path (errUseMessage), where the rule
// is simpler to keep: under the lenient rule, an object with a member
// twice (the message path keeps the last whole; proto would merge two
// messages or join two lists) and any JSON it refuses (a member given
// again may replace a bad one); under the strict rule, an unknown member
// (the message path names it among all the unknown ones).

import (
	"bytes"
	"encoding/json/jsontext"
	"errors"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// errUseMessage says the JSON must go through the message path (decode.go).
var errUseMessage = errors.New("gateway: transcode through a message")

// jsonWire is the state of one transcoding.
type jsonWire struct {
	dec    *jsontext.Decoder
	in     bytes.Buffer // a copy of the JSON, which dec parses in place
	none   bytes.Buffer // empty: what dec holds while pooled
	out    []byte
	str    []byte // the last string read, unquoted
	strict bool
}

var jsonWirePool = sync.Pool{New: func() any {
	w := new(jsonWire)
	w.dec = jsontext.NewDecoder(&w.none)
	return w
}}

// appendWireFromJSON appends the wire bytes of the message of c that the
// native JSON data stands for, read with r's rule, to dst. null is the
// empty message.
func (c *messageCodec) appendWireFromJSON(dst, data []byte, r jsonReader) ([]byte, error) {
	return transcodeJSON(dst, data, r, func(w *jsonWire) error {
		if w.dec.PeekKind() == 'n' {
			if _, err := w.dec.ReadValue(); err != nil {
				return w.jsonErr(err)
			}
			return nil
		}
		return w.message(c)
	})
}

// appendFieldWireFromJSON appends the wire bytes of a message holding
// field f alone, whose value the native JSON data is: a synthesized
// <Method>Response.
func appendFieldWireFromJSON(dst, data []byte, r jsonReader, f *fieldCodec) ([]byte, error) {
	return transcodeJSON(dst, data, r, func(w *jsonWire) error {
		return w.field(f.fd, f.typ, false, false)
	})
}

// transcodeJSON reads data, one JSON value, with read.
func transcodeJSON(dst, data []byte, r jsonReader, read func(*jsonWire) error) ([]byte, error) {
	w := jsonWirePool.Get().(*jsonWire)
	// Duplicate names are always found, so that the lenient rule can
	// hand such JSON to the message path.
	w.in.Reset()
	w.in.Write(data)
	w.dec.Reset(&w.in, jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(!r.strict))
	w.out, w.strict = dst, r.strict
	err := read(w)
	if err == nil {
		if _, err = w.dec.ReadToken(); err == nil {
			err = errorf("invalid JSON: data after the value")
		} else if err == io.EOF {
			err = nil
		} else {
			err = w.jsonErr(err)
		}
	}
	if err != nil && !r.strict {
		// Under the lenient rule a member given again replaces the
		// first, even one that could not be read, which this one-pass
		// reader has refused before it sees the second: the message path
		// says whether the JSON is wrong.
		err = errUseMessage
	}
	out := w.out
	w.out = nil
	if cap(w.str) <= 1<<16 && w.in.Cap() <= 1<<16 {
		w.dec.Reset(&w.none)
		jsonWirePool.Put(w)
	}
	return out, err
}

// jsonErr converts an error of the decoder.
func (w *jsonWire) jsonErr(err error) error {
	if !w.strict && errors.Is(err, jsontext.ErrDuplicateName) {
		return errUseMessage
	}
	return jsonError(err)
}

// name reads an object member's name; it is valid until the next read.
func (w *jsonWire) name() ([]byte, error) {
	v, err := w.dec.ReadValue()
	if err != nil {
		return nil, w.jsonErr(err)
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, nil
	}
	w.str, _ = jsontext.AppendUnquote(w.str[:0], v) // invalid UTF-8 becomes U+FFFD
	return w.str, nil
}

// scalar reads the next value as a jsonScalar; an array or object is read
// whole and given as its kind alone. Its text is valid until the next read.
func (w *jsonWire) scalar() (jsonScalar, error) {
	v, err := w.dec.ReadValue()
	if err != nil {
		return jsonScalar{}, w.jsonErr(err)
	}
	switch k := v.Kind(); k {
	case 'n':
		return jsonScalar{kind: 'n'}, nil
	case 't':
		return jsonScalar{'t', "true"}, nil
	case 'f':
		return jsonScalar{'f', "false"}, nil
	case '0':
		return jsonScalar{'0', bytesString(v)}, nil
	case '"':
		w.str, _ = jsontext.AppendUnquote(w.str[:0], v)
		return jsonScalar{'"', bytesString(w.str)}, nil
	default:
		return jsonScalar{kind: k}, nil
	}
}

// time reads the next value as an RFC 3339 timestamp (jsonScalar.time).
func (w *jsonWire) time() (int64, int32, error) {
	js, err := w.scalar()
	if err != nil {
		return 0, 0, err
	}
	return js.time()
}

// beginLen starts a length-delimited value: it reserves one byte for the
// length, which endLen fills in.
func (w *jsonWire) beginLen() int {
	w.out = append(w.out, 0)
	return len(w.out) - 1
}

// endLen writes the length of the value begun at at, moving the value when
// its length takes more than one byte.
func (w *jsonWire) endLen(at int) {
	n := len(w.out) - at - 1
	if n < 0x80 {
		w.out[at] = byte(n)
		return
	}
	size := protowire.SizeVarint(uint64(n))
	for range size - 1 {
		w.out = append(w.out, 0)
	}
	copy(w.out[at+size:], w.out[at+1:at+1+n])
	protowire.AppendVarint(w.out[at:at], uint64(n))
}

// message reads a JSON object into the fields of c.
func (w *jsonWire) message(c *messageCodec) error {
	if w.dec.PeekKind() != '{' {
		js, err := w.scalar()
		if err != nil {
			return err
		}
		return errorf("want a JSON object for %s, got %s", c.name, js.describe())
	}
	if _, err := w.dec.ReadToken(); err != nil {
		return w.jsonErr(err)
	}
	for w.dec.PeekKind() != '}' {
		name, err := w.name()
		if err != nil {
			return err
		}
		i, ok := c.known[bytesString(name)]
		if !ok {
			if w.strict {
				return errUseMessage
			}
			if err := w.dec.SkipValue(); err != nil {
				return w.jsonErr(err)
			}
			continue
		}
		f := &c.fields[i]
		if err := w.field(f.fd, f.typ, f.optional, f.quoted); err != nil {
			return atPath(err, "."+f.jsonName)
		}
	}
	if _, err := w.dec.ReadToken(); err != nil {
		return w.jsonErr(err)
	}
	return nil
}

// field reads the value of field fd, of native type c; null leaves it
// unset, and so does the Go zero value of a field that is not optional.
func (w *jsonWire) field(fd protoreflect.FieldDescriptor, c *valueCodec, optional, quoted bool) error {
	k := w.dec.PeekKind()
	if k == 'n' {
		if _, err := w.dec.ReadValue(); err != nil {
			return w.jsonErr(err)
		}
		return nil
	}
	num := fd.Number()
	switch c.kind {
	case native.KindList:
		if k != '[' {
			return w.want("a JSON array")
		}
		return w.list(fd, c)
	case native.KindMap:
		if k != '{' {
			return w.want("a JSON object")
		}
		return w.mapValue(fd, c)
	case native.KindMessage:
		tag := len(w.out)
		w.out = protowire.AppendTag(w.out, num, protowire.BytesType)
		at := w.beginLen()
		if err := w.message(c.msg); err != nil {
			return err
		}
		if !optional && len(w.out) == at+1 {
			w.out = w.out[:tag] // no field set: the Go zero value
			return nil
		}
		w.endLen(at)
	case native.KindTimestamp:
		sec, nanos, err := w.time()
		if err != nil {
			return err
		}
		if !optional && sec == goZeroTimeSeconds && nanos == 0 {
			return nil
		}
		w.out = protowire.AppendTag(w.out, num, protowire.BytesType)
		w.timestamp(sec, nanos)
	case native.KindAny:
		w.out = protowire.AppendTag(w.out, num, protowire.BytesType)
		at := w.beginLen()
		if err := w.anyValue(); err != nil {
			return err
		}
		w.endLen(at)
	default:
		js, err := w.scalar()
		if err != nil {
			return err
		}
		v, err := js.value(c.kind, quoted)
		if err != nil {
			return err
		}
		if optional || !zeroValue(c.kind, v) {
			w.out = appendScalarField(w.out, num, c.kind, v)
		}
	}
	return nil
}

// want reads the next value and returns the error of a value that is not
// what is wanted.
func (w *jsonWire) want(what string) error {
	js, err := w.scalar()
	if err != nil {
		return err
	}
	return errorf("want %s, got %s", what, js.describe())
}

// list reads a JSON array into the repeated field fd, of native type c:
// scalars packed in one field, other elements one field each.
func (w *jsonWire) list(fd protoreflect.FieldDescriptor, c *valueCodec) error {
	if _, err := w.dec.ReadToken(); err != nil {
		return w.jsonErr(err)
	}
	packed := wireTypeOf(c.elem.kind) != protowire.BytesType && isScalar(c.elem.kind)
	tag, at := len(w.out), 0
	if packed {
		w.out = protowire.AppendTag(w.out, fd.Number(), protowire.BytesType)
		at = w.beginLen()
	}
	n := 0
	for ; w.dec.PeekKind() != ']'; n++ {
		var err error
		if packed {
			err = w.packedElem(c.elem.kind)
		} else {
			err = w.elem(fd.Number(), c.elem)
		}
		if err != nil {
			return atPath(err, "["+strconv.Itoa(n)+"]")
		}
	}
	if _, err := w.dec.ReadToken(); err != nil {
		return w.jsonErr(err)
	}
	switch {
	case packed && n == 0:
		w.out = w.out[:tag]
	case packed:
		w.endLen(at)
	}
	return nil
}

// packedElem reads a list element of scalar kind k (null: the zero value)
// into a packed field.
func (w *jsonWire) packedElem(k native.Kind) error {
	js, err := w.scalar()
	if err != nil {
		return err
	}
	v := zeroScalar(k)
	if js.kind != 'n' {
		if v, err = js.value(k, false); err != nil {
			return err
		}
	}
	w.out = appendScalar(w.out, k, v)
	return nil
}

// elem reads a list element or map value of native type c into field num,
// written even when it is a zero value. null is the zero value, an empty
// message for message types, except that a null any is a Value holding
// null.
func (w *jsonWire) elem(num protowire.Number, c *valueCodec) error {
	if isScalar(c.kind) {
		js, err := w.scalar()
		if err != nil {
			return err
		}
		v := zeroScalar(c.kind)
		if js.kind != 'n' {
			if v, err = js.value(c.kind, false); err != nil {
				return err
			}
		}
		w.out = appendScalarField(w.out, num, c.kind, v)
		return nil
	}
	w.out = protowire.AppendTag(w.out, num, protowire.BytesType)
	if c.kind == native.KindAny {
		at := w.beginLen()
		if err := w.anyValue(); err != nil {
			return err
		}
		w.endLen(at)
		return nil
	}
	if w.dec.PeekKind() == 'n' {
		if _, err := w.dec.ReadValue(); err != nil {
			return w.jsonErr(err)
		}
		w.out = append(w.out, 0) // the empty message
		return nil
	}
	switch c.kind {
	case native.KindTimestamp:
		sec, nanos, err := w.time()
		if err != nil {
			return err
		}
		w.timestamp(sec, nanos)
		return nil
	case native.KindMessage:
		at := w.beginLen()
		if err := w.message(c.msg); err != nil {
			return err
		}
		w.endLen(at)
		return nil
	}
	// A list or map in its wrapper.
	at := w.beginLen()
	if err := w.field(c.wrapper, c, false, false); err != nil {
		return err
	}
	w.endLen(at)
	return nil
}

// mapValue reads a JSON object into the map field fd, of native type c:
// one entry per member, its key and value always written.
func (w *jsonWire) mapValue(fd protoreflect.FieldDescriptor, c *valueCodec) error {
	if _, err := w.dec.ReadToken(); err != nil {
		return w.jsonErr(err)
	}
	for w.dec.PeekKind() != '}' {
		name, err := w.name()
		if err != nil {
			return err
		}
		k := string(name)
		key, err := parseKey(c.key, k)
		if err != nil {
			return atPath(err, "["+clip.Quote(k)+"]")
		}
		w.out = protowire.AppendTag(w.out, fd.Number(), protowire.BytesType)
		at := w.beginLen()
		w.out = appendScalarField(w.out, 1, c.key, key.Value())
		if err := w.elem(2, c.elem); err != nil {
			return atPath(err, "["+clip.Quote(k)+"]")
		}
		w.endLen(at)
	}
	if _, err := w.dec.ReadToken(); err != nil {
		return w.jsonErr(err)
	}
	return nil
}
