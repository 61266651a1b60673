package gateway

// This file refuses gRPC request messages that carry fields the schema does
// not know: the gRPC face's share of the one rule by which every face reads
// requests (see decode.go and native/requestjson.go).

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/internal/clip"
)

// unknownField returns an error naming the first field of m, or of a
// message inside it, that m's descriptor does not know (proto keeps such
// fields as unknown bytes), or nil.
func unknownField(m protoreflect.Message) error {
	if u := m.GetUnknown(); len(u) > 0 {
		num, typ, n := protowire.ConsumeTag(u)
		if n < 0 {
			return errorf("unknown fields in %s", m.Descriptor().FullName())
		}
		return errorf("unknown field number %d (wire type %s) in %s; grpcurl describe lists the fields it has",
			num, wireType(typ), m.Descriptor().FullName())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := "." + fd.JSONName()
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				if err = unknownField(v.Message()); err != nil {
					err = atPath(err, name+"["+clip.Quote(k.String())+"]")
				}
				return err == nil
			})
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			l := v.List()
			for i := range l.Len() {
				if err = unknownField(l.Get(i).Message()); err != nil {
					err = atPath(err, name+"["+strconv.Itoa(i)+"]")
					break
				}
			}
		case fd.Message() != nil:
			if err = unknownField(v.Message()); err != nil {
				err = atPath(err, name)
			}
		}
		return err == nil
	})
	return err
}

// wireType names a protobuf wire type.
func wireType(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "length-delimited"
	case protowire.StartGroupType, protowire.EndGroupType:
		return "group"
	}
	return fmt.Sprint(int(t))
}
