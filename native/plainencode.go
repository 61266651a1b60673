package native

// The encoding half of the plain codec (plainjson.go says what it is): it
// writes exactly the bytes encoding/json's Marshal writes for a plain
// struct (fields in order, v1's omitempty, omitzero, HTML-safe string
// escaping, nil slices as null, ES6 floats). It declines NaN and
// infinities, which Marshal refuses, and strings that are not UTF-8, which
// Marshal writes differently from one Go release to the next.
// FuzzPlainJSONEncode checks it.

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/framegate/framegate/internal/bufpool"
	"github.com/framegate/framegate/internal/jsonstr"
	"github.com/framegate/framegate/internal/plaintype"
)

// marshalJSON is json.Marshal(v): through the plain codec when v is a
// pointer to a plain struct. The codec writes into a pooled buffer, and
// the result is copied out of it: one allocation, as Marshal makes.
func marshalJSON(v any) ([]byte, error) {
	s, err := marshalScratch(v)
	if err != nil || s.pooled == nil {
		return s.b, err
	}
	defer s.free()
	return bytes.Clone(s.b), nil
}

// jsonScratch is JSON that may lie in a pooled buffer: its user is done
// with b before it calls free. A message written with wire.writeMessage
// (or queued) is copied before that returns, so the bodies a client and a
// server send are encoded into scratch and never allocated.
type jsonScratch struct {
	b      []byte
	pooled *[]byte // the buffer b lies in, if pooled
}

// free gives the buffer back; s.b must not be used after.
func (s jsonScratch) free() {
	if s.pooled != nil {
		bufpool.Put(s.pooled)
	}
}

// marshalScratch is marshalJSON into scratch.
func marshalScratch(v any) (jsonScratch, error) {
	bp := bufpool.Get(marshalScratchSize)
	b, ok := appendPlainJSON((*bp)[:0], v)
	switch {
	case !ok:
		bufpool.Put(bp)
		b, err := json.Marshal(v)
		return jsonScratch{b: b}, err
	case len(b) <= len(*bp): // still in the pooled buffer
		return jsonScratch{b: b, pooled: bp}, nil
	}
	bufpool.Put(bp)
	return jsonScratch{b: b}, nil
}

// marshalScratchSize is the size of marshalJSON's pooled buffer; a larger
// value grows its own.
const marshalScratchSize = 4 << 10

// appendPlainJSON appends what json.Marshal(v) returns when v is a non-nil
// pointer to a plain struct whose values it can write; otherwise it
// reports false and returns dst as it was.
func appendPlainJSON(dst []byte, v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return dst, false
	}
	c := plainCodecFor(rv.Type().Elem())
	if c == nil {
		return dst, false
	}
	b, ok := appendPlainValue(dst, c, rv.UnsafePointer())
	if !ok {
		return dst, false
	}
	return b, true
}

// appendPlainValue appends the value of type t at p.
func appendPlainValue(b []byte, t *plainType, p unsafe.Pointer) ([]byte, bool) {
	switch t.Kind {
	case plainString:
		return jsonstr.AppendValid(b, *(*string)(p), true)
	case plainBool:
		return strconv.AppendBool(b, *(*bool)(p)), true
	case plainInt:
		return strconv.AppendInt(b, plaintype.LoadInt(t.Size, p), 10), true
	case plainUint:
		return strconv.AppendUint(b, plaintype.LoadUint(t.Size, p), 10), true
	case plainFloat:
		f := plaintype.LoadFloat(t.Size, p)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		return jsonstr.AppendFloat(b, f, int(t.Size*8)), true
	case plainStrings:
		s := *(*[]string)(p)
		if s == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, v := range s {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = jsonstr.AppendValid(b, v, true); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case plainSlice:
		s := reflect.NewAt(t.Go, p).Elem()
		if s.IsNil() {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		base, size := s.UnsafePointer(), t.Elem.Go.Size()
		for i := range s.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendPlainValue(b, t.Elem, unsafe.Add(base, uintptr(i)*size)); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case plainPointer:
		e := *(*unsafe.Pointer)(p)
		if e == nil {
			return append(b, "null"...), true
		}
		return appendPlainValue(b, t.Elem, e)
	case plainStruct:
		b = append(b, '{')
		first := true
		for i := range t.Fields {
			f := &t.Fields[i]
			fp := unsafe.Add(p, f.Offset)
			if f.OmitEmpty && plainEmpty(f.Type, fp) || f.OmitZero && plainZero(f.Type, fp) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, f.Name...) // letters, digits and _: nothing to escape
			b = append(b, '"', ':')
			var ok bool
			if b, ok = appendPlainValue(b, f.Type, fp); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	}
	return b, false
}

// plainEmpty is encoding/json's omitempty test: false, 0, "", a nil
// pointer, an empty slice; a struct is never empty.
func plainEmpty(t *plainType, p unsafe.Pointer) bool {
	switch t.Kind {
	case plainString:
		return *(*string)(p) == ""
	case plainBool:
		return !*(*bool)(p)
	case plainInt:
		return plaintype.LoadInt(t.Size, p) == 0
	case plainUint:
		return plaintype.LoadUint(t.Size, p) == 0
	case plainFloat:
		return plaintype.LoadFloat(t.Size, p) == 0
	case plainStrings, plainSlice:
		return reflect.NewAt(t.Go, p).Elem().Len() == 0
	case plainPointer:
		return *(*unsafe.Pointer)(p) == nil
	}
	return false
}

// plainZero is encoding/json's omitzero test, reflect's IsZero (a float's
// -0 is not zero, an empty slice is not nil).
func plainZero(t *plainType, p unsafe.Pointer) bool {
	return reflect.NewAt(t.Go, p).Elem().IsZero()
}
