package gateway

// This file writes the native JSON of a proto message: what encoding/json
// would write for the Go value the message stands for.
//
// Non-optional fields: an unset proto field is the Go zero value and is
// written as encoding/json writes that zero value: 0, false, "", null for an
// empty list, map or bytes (a nil slice or map), the zero object (every
// field written) for a message, "0001-01-01T00:00:00Z" for a timestamp, and
// null for an any.
//
// Optional fields (Go pointers): set is the value, even a zero one; unset
// (or, for a list or map, empty) leaves the member out. encoding/json would
// write null for a nil pointer field, but Optional also marks fields
// promoted through an embedded pointer, and decoding null into one of those
// allocates the embedded struct; an absent member leaves a nil pointer in
// both cases. (Go structs with `omitempty` on their pointers match the
// output byte for byte.)
//
// `,string` fields carry their value inside a JSON string. Map keys are
// sorted as encoding/json sorts them (by their string form). int64 and
// uint64 are written as exact JSON numbers.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

// Field numbers of the well-known types, looked up by number so that any
// descriptor of these types works.
const (
	timestampSeconds = 1
	timestampNanos   = 2
	valueNull        = 1
	valueNumber      = 2
	valueString      = 3
	valueBool        = 4
	valueStruct      = 5
	valueList        = 6
	structFields     = 1
	listValues       = 1
)

// pathError is an error at a place inside a value; the path is built while
// the error travels up (".items[3].size").
type pathError struct {
	path string
	msg  string
	// rooted says path starts at the message's root already (an error
	// found by a walk of its own, unknownInWire's): atPath leaves it.
	rooted bool
}

// Error returns "<path>: <message>", without the leading dot of the path.
func (e *pathError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return strings.TrimPrefix(e.path, ".") + ": " + e.msg
}

// errorf returns a pathError at the current place.
func errorf(format string, args ...any) error {
	return &pathError{msg: fmt.Sprintf(format, args...)}
}

// atPath prefixes err's path with seg.
func atPath(err error, seg string) error {
	if pe, ok := err.(*pathError); ok && !pe.rooted {
		pe.path = seg + pe.path
	}
	return err
}

// encoder appends native JSON to buf.
type encoder struct {
	buf []byte
}

// message writes m as the JSON object of c.
func (e *encoder) message(m protoreflect.Message, c *messageCodec) error {
	e.buf = append(e.buf, '{')
	first := true
	for i := range c.fields {
		f := &c.fields[i]
		if f.optional && absent(m, f) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, f.key...)
		if err := e.field(m, f); err != nil {
			return atPath(err, "."+f.jsonName)
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// absent reports whether optional field f of m is left out of the JSON.
func absent(m protoreflect.Message, f *fieldCodec) bool {
	switch f.typ.kind {
	case native.KindList:
		return m.Get(f.fd).List().Len() == 0
	case native.KindMap:
		return m.Get(f.fd).Map().Len() == 0
	}
	return !m.Has(f.fd)
}

// field writes the value of field f of m. An absent optional field is
// null here; message leaves it out before calling field.
func (e *encoder) field(m protoreflect.Message, f *fieldCodec) error {
	switch {
	case f.optional && absent(m, f):
		e.buf = append(e.buf, "null"...)
		return nil
	case f.typ.kind == native.KindList:
		return e.list(m.Get(f.fd).List(), f.typ)
	case f.typ.kind == native.KindMap:
		return e.mapValue(m.Get(f.fd).Map(), f.typ)
	case f.typ.kind == native.KindTimestamp && !m.Has(f.fd):
		e.buf = append(e.buf, `"0001-01-01T00:00:00Z"`...)
		return nil
	case f.typ.kind == native.KindBytes && f.optional && len(m.Get(f.fd).Bytes()) == 0:
		e.buf = append(e.buf, `""`...) // a pointer to an empty slice
		return nil
	}
	return e.single(m.Get(f.fd), f.typ, f.quoted)
}

// single writes one value that is not a repeated or map field: a scalar, a
// message, or a list or map held in its wrapper message.
func (e *encoder) single(v protoreflect.Value, c *valueCodec, quoted bool) error {
	if quoted && c.kind == native.KindString {
		// encoding/json writes the JSON string once more as a string.
		inner := appendString(nil, v.String(), true)
		e.buf = appendString(e.buf, string(inner), false)
		return nil
	}
	if quoted {
		e.buf = append(e.buf, '"')
	}
	switch c.kind {
	case native.KindBool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case native.KindInt32, native.KindInt64:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case native.KindUint32, native.KindUint64:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case native.KindFloat32, native.KindFloat64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errorf("%v cannot be encoded as JSON", f)
		}
		bits := 64
		if c.kind == native.KindFloat32 {
			bits = 32
		}
		e.buf = appendFloat(e.buf, f, bits)
	case native.KindString:
		e.buf = appendString(e.buf, v.String(), true)
	case native.KindBytes:
		if b := v.Bytes(); len(b) == 0 {
			e.buf = append(e.buf, "null"...)
		} else {
			e.buf = appendBytes(e.buf, b)
		}
	case native.KindTimestamp:
		return e.timestamp(v.Message())
	case native.KindAny:
		return e.anyValue(v.Message())
	case native.KindMessage:
		return e.message(v.Message(), c.msg)
	case native.KindList:
		w := v.Message()
		return e.list(w.Get(c.wrapper).List(), c)
	case native.KindMap:
		w := v.Message()
		return e.mapValue(w.Get(c.wrapper).Map(), c)
	}
	if quoted {
		e.buf = append(e.buf, '"')
	}
	return nil
}

// list writes a repeated field; empty is null, as for a nil slice.
func (e *encoder) list(l protoreflect.List, c *valueCodec) error {
	if l.Len() == 0 {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	e.buf = append(e.buf, '[')
	for i := 0; i < l.Len(); i++ {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.single(l.Get(i), c.elem, false); err != nil {
			return atPath(err, "["+strconv.Itoa(i)+"]")
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

// mapEntry is one map entry with its key as JSON writes it.
type mapEntry struct {
	key string
	val protoreflect.Value
}

// mapValue writes a map field with sorted keys; empty is null, as for a nil
// map.
func (e *encoder) mapValue(m protoreflect.Map, c *valueCodec) error {
	if m.Len() == 0 {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	entries := make([]mapEntry, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		var s string
		switch c.key {
		case native.KindString:
			s = k.String()
		case native.KindInt32, native.KindInt64:
			s = strconv.FormatInt(k.Int(), 10)
		default:
			s = strconv.FormatUint(k.Uint(), 10)
		}
		entries = append(entries, mapEntry{s, v})
		return true
	})
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	e.buf = append(e.buf, '{')
	for i, ent := range entries {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, ent.key, true)
		e.buf = append(e.buf, ':')
		if err := e.single(ent.val, c.elem, false); err != nil {
			return atPath(err, "["+strconv.Quote(ent.key)+"]")
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// timestamp writes a google.protobuf.Timestamp as time.Time.MarshalJSON.
func (e *encoder) timestamp(m protoreflect.Message) error {
	fields := m.Descriptor().Fields()
	sec := m.Get(fields.ByNumber(timestampSeconds)).Int()
	nanos := int32(m.Get(fields.ByNumber(timestampNanos)).Int())
	buf, ok := appendTime(e.buf, sec, nanos)
	if !ok {
		return errorf("timestamp {seconds: %d, nanos: %d} cannot be encoded as a Go time.Time", sec, nanos)
	}
	e.buf = buf
	return nil
}

// anyValue writes a google.protobuf.Value as the JSON value it holds; an
// empty Value is null. Struct keys are sorted, as encoding/json sorts a
// map[string]any.
func (e *encoder) anyValue(m protoreflect.Message) error {
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	v := m.Get(fd)
	switch fd.Number() {
	case valueNull:
		e.buf = append(e.buf, "null"...)
	case valueNumber:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errorf("%v cannot be encoded as JSON", f)
		}
		e.buf = appendFloat(e.buf, f, 64)
	case valueString:
		e.buf = appendString(e.buf, v.String(), true)
	case valueBool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case valueStruct:
		s := v.Message()
		fields := s.Get(s.Descriptor().Fields().ByNumber(structFields)).Map()
		entries := make([]mapEntry, 0, fields.Len())
		fields.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			entries = append(entries, mapEntry{k.String(), v})
			return true
		})
		slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
		e.buf = append(e.buf, '{')
		for i, ent := range entries {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, ent.key, true)
			e.buf = append(e.buf, ':')
			if err := e.anyValue(ent.val.Message()); err != nil {
				return atPath(err, "["+strconv.Quote(ent.key)+"]")
			}
		}
		e.buf = append(e.buf, '}')
	case valueList:
		lv := v.Message()
		l := lv.Get(lv.Descriptor().Fields().ByNumber(listValues)).List()
		e.buf = append(e.buf, '[')
		for i := 0; i < l.Len(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.anyValue(l.Get(i).Message()); err != nil {
				return atPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		e.buf = append(e.buf, ']')
	}
	return nil
}
