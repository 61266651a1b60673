package gateway

// The wire codec of plain structs: protobuf wire bytes straight into the
// request struct of an in-process handler, and its response struct
// straight to wire bytes (native.LocalClient.CallValue), where the JSON
// path goes wire -> JSON -> struct and struct -> JSON -> wire. That path
// costs a unary call through the gRPC face about a tenth of its CPU time
// (unary/gateway-grpc/16).
//
// It is a shortcut, never a second meaning, as native's plain JSON codec
// is: it handles only what it is certain the JSON path turns into the same
// struct (decoding) or the same message (encoding), and declines the rest,
// which then takes the JSON path, whose results and errors stand. It
// declines an unknown field, a wrong wire type, a field repeated that is
// not a list, a list of scalars not packed or in more than one run, an
// integer out of its Go field's range or not in the normal form of its
// proto kind, a bool other than 0 or 1, NaN, infinities and -0, invalid
// UTF-8, a nil element in a list of pointers, and malformed bytes. A
// request too large for its JSON to be certain to fit the backend's body
// limit goes the JSON path too (maxWireFor).
//
// Types: the struct must be plain (package plaintype), and each of its
// fields must match the proto field of the same JSON name: a scalar of the
// same kind (bool, int32 <- int8/16/32, int64 <- int/int64, uint32 <-
// uint8/16/32, uint64 <- uint/uint64, float, double, string), a pointer to
// one (a proto3 optional field), a nested plain struct or a pointer to one
// (a message field), or a slice of any of those but pointers to scalars (a
// repeated field). Maps, bytes, timestamps, any, lists of lists and
// structs with omitzero struct fields have no wire codec: such methods
// always take the JSON path. FuzzWireValue checks the two paths agree.

import (
	"math"
	"reflect"
	"slices"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/internal/plaintype"
	"github.com/framegate/framegate/native"
)

// wireStruct is the wire codec of one plain struct type.
type wireStruct struct {
	typ     *plaintype.Type
	fields  []wireField // by field number
	maxName int         // the longest JSON member name in the tree
	// zero bounds the length of the JSON path's JSON of the zero value,
	// which writes every field (a scalar's zero, null, a nested struct's
	// zero), and maxZero is the largest zero in the tree (maxWireFor).
	zero, maxZero int
}

// wireField is one field of a wireStruct.
type wireField struct {
	num    protowire.Number
	kind   protoreflect.Kind
	wt     protowire.Type // of a scalar value or element
	off    uintptr
	goKind plaintype.Kind // of the value, or of a list's elements
	size   uintptr        // of a scalar value or element
	ptr    bool           // a Go pointer: an optional scalar, or a message
	list   bool
	slice  reflect.Type // of a list: []E, E as the Go field declares it
	elemGo reflect.Type // the target of a pointer (of a list's elements)
	sub    *wireStruct  // of a message field
}

// buildWireStruct returns the wire codec of the plain struct type t for
// messages of mc, or nil when t and mc do not match field for field.
func buildWireStruct(mc *messageCodec, t *plaintype.Type) *wireStruct {
	if mc == nil || t == nil || t.Kind != plaintype.Struct || len(mc.fields) != len(t.Fields) {
		return nil
	}
	ws := &wireStruct{typ: t, zero: len("{}")}
	for i := range mc.fields {
		fc := &mc.fields[i]
		j := slices.IndexFunc(t.Fields, func(f plaintype.Field) bool { return f.Name == fc.jsonName })
		if j < 0 || fc.quoted || fc.typ.wrapper != nil {
			return nil
		}
		gf := &t.Fields[j]
		wf, ok := matchField(fc, gf)
		if !ok {
			return nil
		}
		ws.maxName = max(ws.maxName, len(gf.Name))
		zero := len("false") // the longest of false, null, "" and 0
		if wf.sub != nil {
			ws.maxName = max(ws.maxName, wf.sub.maxName)
			ws.maxZero = max(ws.maxZero, wf.sub.maxZero)
			if !wf.ptr && !wf.list {
				zero = wf.sub.zero
			}
		}
		ws.zero += len(`"":,`) + len(gf.Name) + zero
		ws.fields = append(ws.fields, wf)
	}
	ws.maxZero = max(ws.maxZero, ws.zero)
	slices.SortFunc(ws.fields, func(a, b wireField) int { return int(a.num) - int(b.num) })
	return ws
}

// matchField returns the codec of Go field gf held in proto field fc.
func matchField(fc *fieldCodec, gf *plaintype.Field) (wireField, bool) {
	fd := fc.fd
	wf := wireField{num: fd.Number(), kind: fd.Kind(), off: gf.Offset, list: fd.IsList()}
	if fd.IsMap() || fd.IsExtension() {
		return wf, false
	}
	gt := gf.Type
	if wf.list {
		if gt.Kind != plaintype.Slice && gt.Kind != plaintype.Strings {
			return wf, false
		}
		wf.slice = reflect.SliceOf(gt.Elem.Go)
		gt = gt.Elem
	}
	if gt.Kind == plaintype.Pointer {
		if wf.list && fd.Kind() != protoreflect.MessageKind {
			return wf, false // a list of pointers to scalars
		}
		wf.ptr, wf.elemGo = true, gt.Elem.Go
		gt = gt.Elem
	}
	wf.goKind, wf.size = gt.Kind, gt.Size
	nk := fc.typ.kind
	if wf.list {
		nk = fc.typ.elem.kind
	}
	wf.wt = wireTypeOf(nk)
	if fd.Kind() != protoreflect.MessageKind && !wf.list && wf.ptr != fd.HasPresence() {
		return wf, false // a pointer to a scalar is exactly a proto3 optional field
	}
	switch fd.Kind() {
	case protoreflect.MessageKind:
		msgKind := fc.typ.kind == native.KindMessage
		if wf.list {
			msgKind = fc.typ.kind == native.KindList && fc.typ.elem.kind == native.KindMessage
		}
		// omitzero on a struct value leaves out what the proto side would
		// hold as an empty message: the JSON path decides.
		if gt.Kind != plaintype.Struct || !msgKind || !wf.ptr && !wf.list && gf.OmitZero {
			return wf, false
		}
		mc := fc.typ.msg
		if wf.list {
			mc = fc.typ.elem.msg
		}
		if wf.sub = buildWireStruct(mc, gt); wf.sub == nil {
			return wf, false
		}
		return wf, true
	case protoreflect.BoolKind:
		return wf, gt.Kind == plaintype.Bool
	case protoreflect.Int32Kind:
		return wf, gt.Kind == plaintype.Int && gt.Size <= 4
	case protoreflect.Int64Kind:
		return wf, gt.Kind == plaintype.Int && gt.Size == 8
	case protoreflect.Uint32Kind:
		return wf, gt.Kind == plaintype.Uint && gt.Size <= 4
	case protoreflect.Uint64Kind:
		return wf, gt.Kind == plaintype.Uint && gt.Size == 8
	case protoreflect.FloatKind:
		return wf, gt.Kind == plaintype.Float && gt.Size == 4
	case protoreflect.DoubleKind:
		return wf, gt.Kind == plaintype.Float && gt.Size == 8
	case protoreflect.StringKind:
		return wf, gt.Kind == plaintype.String
	}
	return wf, false
}

// ---- decoding ----

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

// ---- encoding ----

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
