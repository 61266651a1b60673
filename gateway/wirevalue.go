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
	"reflect"
	"slices"

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
	size   uintptr // of a scalar value or element
	ptr    bool    // a Go pointer: an optional scalar, or a message
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
	wf.size = gt.Size
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
