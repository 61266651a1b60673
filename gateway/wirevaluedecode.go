package gateway

// The decoding half of the wire codec of plain structs (wirevalue.go says
// what it is).

import (
	"math"
	"reflect"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// wireReader decodes one message into plain structs.
type wireReader struct {
	src string // the whole message as a string, made once: strings are cut from it
	b   []byte
}

// decode decodes wire, a message, into a new value of ws's type and
// returns a pointer to it, or reports false to decline.
func (ws *wireStruct) decode(wire []byte) (any, bool) {
	v := reflect.New(ws.typ.Go)
	r := wireReader{b: wire}
	if !r.message(ws, wire, v.UnsafePointer()) {
		return nil, false
	}
	return v.Interface(), true
}

// message decodes b into the zero struct of ws at p.
func (r *wireReader) message(ws *wireStruct, b []byte, p unsafe.Pointer) bool {
	var seen uint64 // fields set, by index; plain structs have at most 64
	last := -1      // the index of the list being read, to refuse a second run
	var done uint64 // lists whose run has ended
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		i := ws.index(num)
		if i < 0 {
			return false
		}
		f := &ws.fields[i]
		bit := uint64(1) << i
		if f.list {
			if done&bit != 0 || seen&bit != 0 && packedKind(f) {
				return false
			}
			if last >= 0 && last != i {
				done |= uint64(1) << last
			}
			last = i
		} else {
			if seen&bit != 0 {
				return false
			}
			if last >= 0 {
				done |= uint64(1) << last
				last = -1
			}
		}
		seen |= bit
		fp := unsafe.Add(p, f.off)
		if n = r.field(f, typ, b, fp); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// packedKind reports whether f is a list of scalars other than strings,
// which proto3 packs.
func packedKind(f *wireField) bool {
	return f.list && f.kind != protoreflect.MessageKind && f.kind != protoreflect.StringKind
}

// index returns the index of field num in ws.fields, or -1.
func (ws *wireStruct) index(num protowire.Number) int {
	for i := range ws.fields {
		if ws.fields[i].num == num {
			return i
		}
	}
	return -1
}

// field decodes the value of f, of wire type typ, at the start of b into
// the field at p, and returns the bytes it took, or -1 to decline.
func (r *wireReader) field(f *wireField, typ protowire.Type, b []byte, p unsafe.Pointer) int {
	switch {
	case f.kind == protoreflect.MessageKind:
		v, n := protowire.ConsumeBytes(b)
		if n < 0 || typ != protowire.BytesType {
			return -1
		}
		switch {
		case f.list:
			s := reflect.NewAt(f.slice, p).Elem()
			if s.Len() == 0 {
				s.Set(reflect.MakeSlice(s.Type(), 0, runLength(f.num, b)))
			}
			ep := reflect.New(f.sub.typ.Go)
			if !r.message(f.sub, v, ep.UnsafePointer()) {
				return -1
			}
			if f.ptr {
				s.Set(reflect.Append(s, ep))
			} else {
				s.Set(reflect.Append(s, ep.Elem()))
			}
		case f.ptr:
			ep := reflect.New(f.sub.typ.Go)
			if !r.message(f.sub, v, ep.UnsafePointer()) {
				return -1
			}
			*(*unsafe.Pointer)(p) = ep.UnsafePointer()
		default:
			if !r.message(f.sub, v, p) {
				return -1
			}
		}
		return n
	case f.list && f.kind == protoreflect.StringKind:
		v, n := protowire.ConsumeBytes(b)
		if n < 0 || typ != protowire.BytesType {
			return -1
		}
		s, ok := r.str(v)
		if !ok {
			return -1
		}
		ss := (*[]string)(p) // a slice of a string kind: []string's layout
		if *ss == nil {
			*ss = make([]string, 0, runLength(f.num, b))
		}
		*ss = append(*ss, s)
		return n
	case f.list:
		// Packed, in one run: proto3's form. Unpacked lists go the JSON
		// path.
		v, n := protowire.ConsumeBytes(b)
		if n < 0 || typ != protowire.BytesType || len(v) == 0 {
			return -1
		}
		count := packedCount(f.wt, v)
		if count < 0 {
			return -1
		}
		s := reflect.MakeSlice(f.slice, count, count)
		base := s.UnsafePointer()
		for k := range count {
			m := r.scalar(f, f.wt, v, unsafe.Add(base, uintptr(k)*f.size))
			if m < 0 {
				return -1
			}
			v = v[m:]
		}
		reflect.NewAt(s.Type(), p).Elem().Set(s)
		return n
	case f.ptr:
		ep := reflect.New(f.elemGo)
		n := r.scalar(f, typ, b, ep.UnsafePointer())
		if n >= 0 {
			*(*unsafe.Pointer)(p) = ep.UnsafePointer()
		}
		return n
	}
	return r.scalar(f, typ, b, p)
}

// runLength returns how many length-delimited values of field num follow
// one another from the start of b, a value's: the length of a list the
// message holds in one run, to allocate it once.
func runLength(num protowire.Number, b []byte) int {
	count := 0
	for {
		_, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return max(count, 1)
		}
		count++
		b = b[n:]
		got, typ, m := protowire.ConsumeTag(b)
		if m < 0 || got != num || typ != protowire.BytesType {
			return count
		}
		b = b[m:]
	}
}

// packedCount returns the number of elements of wire type wt in the packed
// run v, or -1 when v is not whole elements.
func packedCount(wt protowire.Type, v []byte) int {
	switch wt {
	case protowire.Fixed32Type:
		if len(v)%4 != 0 {
			return -1
		}
		return len(v) / 4
	case protowire.Fixed64Type:
		if len(v)%8 != 0 {
			return -1
		}
		return len(v) / 8
	}
	if v[len(v)-1]&0x80 != 0 {
		return -1
	}
	count := 0
	for _, c := range v {
		if c < 0x80 {
			count++
		}
	}
	return count
}

// str returns v, a proto string, cut from r.src, or false for invalid
// UTF-8 (the JSON path refuses it).
func (r *wireReader) str(v []byte) (string, bool) {
	if !utf8.Valid(v) {
		return "", false
	}
	if len(v) == 0 {
		return "", true
	}
	if r.src == "" {
		r.src = string(r.b)
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(v))) - uintptr(unsafe.Pointer(unsafe.SliceData(r.b)))
	return r.src[off : off+uintptr(len(v))], true
}

// scalar decodes one scalar value of f, of wire type typ, at the start of b
// into the value at p, and returns the bytes it took, or -1.
func (r *wireReader) scalar(f *wireField, typ protowire.Type, b []byte, p unsafe.Pointer) int {
	if typ != f.wt {
		return -1
	}
	switch f.kind {
	case protoreflect.StringKind:
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return -1
		}
		s, ok := r.str(v)
		if !ok {
			return -1
		}
		*(*string)(p) = s
		return n
	case protoreflect.FloatKind:
		v, n := protowire.ConsumeFixed32(b)
		f := math.Float32frombits(v)
		if n < 0 || !finiteNonNegZero(float64(f)) {
			return -1
		}
		*(*float32)(p) = f
		return n
	case protoreflect.DoubleKind:
		v, n := protowire.ConsumeFixed64(b)
		f := math.Float64frombits(v)
		if n < 0 || !finiteNonNegZero(f) {
			return -1
		}
		*(*float64)(p) = f
		return n
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return -1
	}
	switch f.kind {
	case protoreflect.BoolKind:
		if v > 1 {
			return -1
		}
		*(*bool)(p) = v == 1
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		i := int64(v)
		if f.kind == protoreflect.Int32Kind && i != int64(int32(i)) || !storeInt(f.size, p, i) {
			return -1
		}
	default: // Uint32Kind, Uint64Kind
		if f.kind == protoreflect.Uint32Kind && v > math.MaxUint32 || !storeUint(f.size, p, v) {
			return -1
		}
	}
	return n
}

// finiteNonNegZero reports whether f is neither NaN, nor infinite, nor -0:
// values whose way through the JSON path this codec does not follow.
func finiteNonNegZero(f float64) bool {
	return !math.IsNaN(f) && !math.IsInf(f, 0) && !(f == 0 && math.Signbit(f))
}

// storeInt stores i in the int of size bytes at p, or reports false when
// it does not fit.
func storeInt(size uintptr, p unsafe.Pointer, i int64) bool {
	switch size {
	case 1:
		if i != int64(int8(i)) {
			return false
		}
		*(*int8)(p) = int8(i)
	case 2:
		if i != int64(int16(i)) {
			return false
		}
		*(*int16)(p) = int16(i)
	case 4:
		if i != int64(int32(i)) {
			return false
		}
		*(*int32)(p) = int32(i)
	default:
		*(*int64)(p) = i
	}
	return true
}

// storeUint stores v in the uint of size bytes at p, or reports false when
// it does not fit.
func storeUint(size uintptr, p unsafe.Pointer, v uint64) bool {
	switch size {
	case 1:
		if v > math.MaxUint8 {
			return false
		}
		*(*uint8)(p) = uint8(v)
	case 2:
		if v > math.MaxUint16 {
			return false
		}
		*(*uint16)(p) = uint16(v)
	case 4:
		if v > math.MaxUint32 {
			return false
		}
		*(*uint32)(p) = uint32(v)
	default:
		*(*uint64)(p) = v
	}
	return true
}
