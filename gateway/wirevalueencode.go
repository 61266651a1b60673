package gateway

// The encoding half of the wire codec of plain structs (wirevalue.go says
// what it is).

import (
	"math"
	"reflect"
	"slices"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/internal/plaintype"
)

// encode appends the wire bytes of *v, a pointer to a value of ws's type,
// to dst, or reports false to decline.
func (ws *wireStruct) encode(dst []byte, v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Type().Elem() != ws.typ.Go || rv.IsNil() {
		return dst, false
	}
	return ws.appendMessage(dst, rv.UnsafePointer())
}

// appendMessage appends the fields of the struct of ws at p.
func (ws *wireStruct) appendMessage(b []byte, p unsafe.Pointer) ([]byte, bool) {
	for i := range ws.fields {
		f := &ws.fields[i]
		fp := unsafe.Add(p, f.off)
		var ok bool
		switch {
		case f.kind == protoreflect.MessageKind && f.list:
			b, ok = f.appendMessages(b, fp)
		case f.kind == protoreflect.MessageKind:
			mp := fp
			if f.ptr {
				if mp = *(*unsafe.Pointer)(fp); mp == nil {
					continue
				}
			}
			b, ok = f.appendSub(b, mp, !f.ptr)
		case f.list && f.kind == protoreflect.StringKind:
			for _, s := range *(*[]string)(fp) {
				if !utf8.ValidString(s) {
					return b, false
				}
				b = protowire.AppendTag(b, f.num, protowire.BytesType)
				b = protowire.AppendString(b, s)
			}
			ok = true
		case f.list:
			b, ok = f.appendPacked(b, fp)
		case f.ptr:
			sp := *(*unsafe.Pointer)(fp)
			if sp == nil {
				continue
			}
			b, ok = f.appendScalar(b, sp, true)
		default:
			b, ok = f.appendScalar(b, fp, false)
		}
		if !ok {
			return b, false
		}
	}
	return b, true
}

// appendSub appends the message field f holding the struct at p: its tag,
// its length and its fields; nothing when omitEmpty is set and no field
// is written, as the JSON path leaves a struct value field that is not
// optional unset when its message would be empty.
func (f *wireField) appendSub(b []byte, p unsafe.Pointer, omitEmpty bool) ([]byte, bool) {
	tag := len(b)
	b = protowire.AppendTag(b, f.num, protowire.BytesType)
	start := len(b)
	b, ok := f.sub.appendMessage(b, p)
	if !ok {
		return b, false
	}
	if omitEmpty && len(b) == start {
		return b[:tag], true
	}
	var n [binary64]byte
	size := protowire.AppendVarint(n[:0], uint64(len(b)-start))
	return slices.Insert(b, start, size...), true
}

// binary64 is the longest varint.
const binary64 = 10

// appendMessages appends the elements of the list of structs (or of
// pointers to structs) at p.
func (f *wireField) appendMessages(b []byte, p unsafe.Pointer) ([]byte, bool) {
	s := reflect.NewAt(f.slice, p).Elem()
	base, step := s.UnsafePointer(), f.slice.Elem().Size()
	for k := range s.Len() {
		ep := unsafe.Add(base, uintptr(k)*step)
		if f.ptr {
			if ep = *(*unsafe.Pointer)(ep); ep == nil {
				return b, false // null in the JSON list: the JSON path says what it means
			}
		}
		var ok bool
		if b, ok = f.appendSub(b, ep, false); !ok {
			return b, false
		}
	}
	return b, true
}

// appendPacked appends the packed list of scalars at p, nothing when it is
// empty.
func (f *wireField) appendPacked(b []byte, p unsafe.Pointer) ([]byte, bool) {
	s := reflect.NewAt(f.slice, p).Elem()
	if s.Len() == 0 {
		return b, true
	}
	b = protowire.AppendTag(b, f.num, protowire.BytesType)
	start := len(b)
	base := s.UnsafePointer()
	for k := range s.Len() {
		var ok bool
		if b, ok = f.appendValue(b, unsafe.Add(base, uintptr(k)*f.size)); !ok {
			return b, false
		}
	}
	var n [binary64]byte
	size := protowire.AppendVarint(n[:0], uint64(len(b)-start))
	return slices.Insert(b, start, size...), true
}

// appendScalar appends the singular scalar field f whose value is at p:
// nothing when it is zero, unless present says it is there (a proto3
// optional field's pointer is set).
func (f *wireField) appendScalar(b []byte, p unsafe.Pointer, present bool) ([]byte, bool) {
	if !present && scalarZero(f, p) {
		return b, true
	}
	b = protowire.AppendTag(b, f.num, f.wt)
	return f.appendValue(b, p)
}

// scalarZero reports whether the scalar of f at p is its zero value.
func scalarZero(f *wireField, p unsafe.Pointer) bool {
	switch f.kind {
	case protoreflect.StringKind:
		return *(*string)(p) == ""
	case protoreflect.BoolKind:
		return !*(*bool)(p)
	case protoreflect.FloatKind:
		return *(*uint32)(p) == 0
	case protoreflect.DoubleKind, protoreflect.Int64Kind, protoreflect.Uint64Kind:
		return *(*uint64)(p) == 0
	case protoreflect.Int32Kind:
		return plaintype.LoadInt(f.size, p) == 0
	}
	return plaintype.LoadUint(f.size, p) == 0
}

// appendValue appends the value of the scalar of f at p, without a tag.
func (f *wireField) appendValue(b []byte, p unsafe.Pointer) ([]byte, bool) {
	switch f.kind {
	case protoreflect.StringKind:
		s := *(*string)(p)
		if !utf8.ValidString(s) {
			return b, false
		}
		return protowire.AppendString(b, s), true
	case protoreflect.BoolKind:
		return protowire.AppendVarint(b, protowire.EncodeBool(*(*bool)(p))), true
	case protoreflect.FloatKind:
		v := *(*float32)(p)
		if !finiteNonNegZero(float64(v)) {
			return b, false
		}
		return protowire.AppendFixed32(b, math.Float32bits(v)), true
	case protoreflect.DoubleKind:
		v := *(*float64)(p)
		if !finiteNonNegZero(v) {
			return b, false
		}
		return protowire.AppendFixed64(b, math.Float64bits(v)), true
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return protowire.AppendVarint(b, uint64(plaintype.LoadInt(f.size, p))), true
	}
	return protowire.AppendVarint(b, plaintype.LoadUint(f.size, p)), true
}
