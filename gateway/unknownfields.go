package gateway

// This file refuses gRPC request messages that carry fields the schema does
// not know: the gRPC face's share of the one rule by which every face reads
// requests (see decode.go and native/requestjson.go).

import (
	"fmt"
	"strconv"
	"strings"

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

// unknownInWire returns an error naming the first field of the wire bytes
// b of a message of descriptor md (or of a message inside it) that md does
// not know, or whose wire type is not its field's: what proto.Unmarshal
// would keep as unknown bytes, and unknownField would find. Malformed
// bytes are left to proto.Unmarshal to report (nil). It reads b once and
// allocates nothing on the way, unlike a walk of the decoded message.
func unknownInWire(b []byte, md protoreflect.MessageDescriptor) error {
	return unknownInWireAt(b, md, 1)
}

// unknownInWireAt is unknownInWire for a message nested depth deep. Past
// maxWireDepth it looks no further: proto.Unmarshal refuses the message.
func unknownInWireAt(b []byte, md protoreflect.MessageDescriptor, depth int) error {
	if depth > maxWireDepth {
		return nil
	}
	var counts map[protowire.Number]int // occurrences of repeated message fields
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil || !wireTypeFits(fd, typ) {
			if protowire.ConsumeFieldValue(num, typ, b) < 0 {
				return nil // malformed, not unknown: proto.Unmarshal says so
			}
			return errorf("unknown field number %d (wire type %s) in %s; grpcurl describe lists the fields it has", num, wireType(typ), md.FullName())
		}
		if fd.Message() == nil {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil
			}
			b = b[n:]
			continue
		}
		sub, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		index := 0
		if fd.IsList() {
			if counts == nil {
				counts = map[protowire.Number]int{}
			}
			index = counts[num]
			counts[num]++
		}
		err := unknownInWireAt(sub, fd.Message(), depth+1)
		if err == nil {
			continue
		}
		name := "." + fd.JSONName()
		switch {
		case fd.IsMap():
			if pe, ok := err.(*pathError); ok {
				// The entry's own path (.value) gives way to the key.
				pe.path = strings.TrimPrefix(pe.path, ".value")
			}
			return atPath(err, name+"["+clip.Quote(mapKeyInWire(sub, fd.MapKey()))+"]")
		case fd.IsList():
			return atPath(err, name+"["+strconv.Itoa(index)+"]")
		}
		return atPath(err, name)
	}
	return nil
}

// wireTypeFits reports whether a field of fd's kind can arrive with wire
// type typ (a repeated scalar also packed, as length-delimited bytes).
func wireTypeFits(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	var want protowire.Type
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		want = protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		want = protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		want = protowire.Fixed64Type
	case protoreflect.GroupKind:
		want = protowire.StartGroupType
	default: // string, bytes, message
		return typ == protowire.BytesType
	}
	return typ == want || typ == protowire.BytesType && fd.IsList()
}

// mapKeyInWire returns the key of a map entry's wire bytes as text, for a
// path; "" when it has none or it cannot be read.
func mapKeyInWire(entry []byte, key protoreflect.FieldDescriptor) string {
	for len(entry) > 0 {
		num, typ, n := protowire.ConsumeTag(entry)
		if n < 0 {
			return ""
		}
		entry = entry[n:]
		if num == 1 {
			switch {
			case typ == protowire.BytesType:
				v, _ := protowire.ConsumeString(entry)
				return v
			case typ == protowire.VarintType:
				v, _ := protowire.ConsumeVarint(entry)
				switch key.Kind() {
				case protoreflect.BoolKind:
					return strconv.FormatBool(v != 0)
				case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
					return strconv.FormatInt(protowire.DecodeZigZag(v), 10)
				case protoreflect.Int32Kind:
					return strconv.FormatInt(int64(int32(v)), 10)
				case protoreflect.Int64Kind:
					return strconv.FormatInt(int64(v), 10)
				}
				return strconv.FormatUint(v, 10)
			}
		}
		if n = protowire.ConsumeFieldValue(num, typ, entry); n < 0 {
			return ""
		}
		entry = entry[n:]
	}
	return ""
}
