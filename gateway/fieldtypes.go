package gateway

// This file maps native types to proto field types.
//
// Types (native.Kind -> proto):
//
//	bool, int32, int64, uint32, uint64, string, bytes   the same scalar
//	float32, float64                                    float, double
//	timestamp                                           google.protobuf.Timestamp
//	any                                                 google.protobuf.Value
//	message                                             the message
//	list                                                repeated <elem>
//	map                                                 map<key, elem>
//
// Proto cannot nest repeated and map directly, so a list or map that is
// itself a list element or a map value is held in a synthesized wrapper
// message with one field: `repeated <elem> values = 1` for a list,
// `map<key, elem> entries = 1` for a map. Wrappers are shared by shape and
// named after it: list<list<int64>> is `repeated Int64List`,
// map<string, list<string>> is `map<string, StringList>`,
// list<map<string, Foo>> is `repeated StringFooMap`. The native JSON has no
// trace of a wrapper: the transcoder wraps and unwraps.
//
// An optional (pointer) scalar field is a proto3 optional field. Optional
// message, timestamp and any fields are plain message fields (they have
// presence anyway); optional lists and maps are plain repeated and map
// fields (proto cannot say more).

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/framegate/framegate/native"
)

// setFieldType sets the label, type and type name of a field of native type
// t. A map adds its entry message to parent, whose full name is parentName.
func (b *builder) setFieldType(fp *descriptorpb.FieldDescriptorProto, t *native.Type, parent *descriptorpb.DescriptorProto, parentName string) {
	switch t.Kind {
	case native.KindList:
		fp.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		b.setElemType(fp, t.Elem)
	case native.KindMap:
		entry := mapEntryName(fp.GetName())
		key := &descriptorpb.FieldDescriptorProto{Name: proto.String("key"), Number: proto.Int32(1), JsonName: proto.String("key"),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: scalarType(t.Key).Enum()}
		val := &descriptorpb.FieldDescriptorProto{Name: proto.String("value"), Number: proto.Int32(2), JsonName: proto.String("value"),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}
		b.setElemType(val, t.Elem)
		parent.NestedType = append(parent.NestedType, &descriptorpb.DescriptorProto{
			Name:    proto.String(entry),
			Field:   []*descriptorpb.FieldDescriptorProto{key, val},
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		})
		fp.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		fp.Type = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
		fp.TypeName = proto.String(parentName + "." + entry)
	default:
		fp.Label = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
		b.setElemType(fp, t)
	}
}

// setElemType sets the type of a singular value of native type t (a list
// element, a map value or a singular field); lists and maps get a wrapper.
func (b *builder) setElemType(fp *descriptorpb.FieldDescriptorProto, t *native.Type) {
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	switch t.Kind {
	case native.KindTimestamp:
		fp.Type, fp.TypeName = msg, proto.String(b.use(timestampFile, timestampName))
	case native.KindAny:
		fp.Type, fp.TypeName = msg, proto.String(b.use(structFile, valueName))
	case native.KindMessage:
		fp.Type, fp.TypeName = msg, proto.String(b.qualify(b.msgNames[t.Message]))
	case native.KindList, native.KindMap:
		fp.Type, fp.TypeName = msg, proto.String(b.qualify(b.wrapper(t)))
	default:
		fp.Type = scalarType(t.Kind).Enum()
	}
}

// wrapper returns the name of the wrapper message for list or map type t,
// planning it on first use.
func (b *builder) wrapper(t *native.Type) string {
	sh := b.shapes.of(t)
	if sh.wrapper != "" {
		return sh.wrapper
	}
	field, what := "values", "list"
	if t.Kind == native.KindMap {
		field, what = "entries", "map"
	}
	key := b.shapes.key(sh)
	sh.wrapper = b.names.pick("wrapper of "+key, b.shapes.name(sh, b.msgNames))
	b.plans = append(b.plans, &msgPlan{
		name: sh.wrapper,
		comment: fmt.Sprintf(" Wrapper for the %s type %s, which proto cannot nest directly.\n"+
			" The native JSON is the bare %s; %s holds it.", what, key, what, field),
		fields: []fieldPlan{{jsonName: field, typ: t}},
	})
	return sh.wrapper
}

// scalarType maps a scalar kind to its proto type.
func scalarType(k native.Kind) descriptorpb.FieldDescriptorProto_Type {
	switch k {
	case native.KindBool:
		return descriptorpb.FieldDescriptorProto_TYPE_BOOL
	case native.KindInt32:
		return descriptorpb.FieldDescriptorProto_TYPE_INT32
	case native.KindInt64:
		return descriptorpb.FieldDescriptorProto_TYPE_INT64
	case native.KindUint32:
		return descriptorpb.FieldDescriptorProto_TYPE_UINT32
	case native.KindUint64:
		return descriptorpb.FieldDescriptorProto_TYPE_UINT64
	case native.KindFloat32:
		return descriptorpb.FieldDescriptorProto_TYPE_FLOAT
	case native.KindFloat64:
		return descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
	case native.KindString:
		return descriptorpb.FieldDescriptorProto_TYPE_STRING
	case native.KindBytes:
		return descriptorpb.FieldDescriptorProto_TYPE_BYTES
	}
	panic("gateway: not a scalar kind: " + string(k)) // checkSchema rejects it first
}

// kindName names a non-message kind after its proto type.
func kindName(k native.Kind) string {
	switch k {
	case native.KindFloat32:
		return "Float"
	case native.KindFloat64:
		return "Double"
	case native.KindAny:
		return "Value"
	}
	return strings.ToUpper(string(k[:1])) + string(k[1:])
}
