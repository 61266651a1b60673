package gateway

// This file writes scalars in protobuf wire format, for jsonwire.go.

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

// zeroValue reports whether v is the zero value of kind k, which proto
// leaves out of a field without presence (-0.0 is not: its bits are set).
func zeroValue(k native.Kind, v protoreflect.Value) bool {
	switch k {
	case native.KindBool:
		return !v.Bool()
	case native.KindInt32, native.KindInt64:
		return v.Int() == 0
	case native.KindUint32, native.KindUint64:
		return v.Uint() == 0
	case native.KindFloat32, native.KindFloat64:
		return v.Float() == 0 && !math.Signbit(v.Float())
	case native.KindString:
		return v.String() == ""
	}
	return len(v.Bytes()) == 0
}

// wireTypeOf is the wire type of a scalar of kind k.
func wireTypeOf(k native.Kind) protowire.Type {
	switch k {
	case native.KindFloat32:
		return protowire.Fixed32Type
	case native.KindFloat64:
		return protowire.Fixed64Type
	case native.KindString, native.KindBytes:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// appendScalarField appends field num holding v, a scalar of kind k.
func appendScalarField(b []byte, num protowire.Number, k native.Kind, v protoreflect.Value) []byte {
	return appendScalar(protowire.AppendTag(b, num, wireTypeOf(k)), k, v)
}

// appendScalar appends v, a scalar of kind k, without a tag.
func appendScalar(b []byte, k native.Kind, v protoreflect.Value) []byte {
	switch k {
	case native.KindBool:
		return protowire.AppendVarint(b, protowire.EncodeBool(v.Bool()))
	case native.KindInt32, native.KindInt64:
		return protowire.AppendVarint(b, uint64(v.Int()))
	case native.KindUint32, native.KindUint64:
		return protowire.AppendVarint(b, v.Uint())
	case native.KindFloat32:
		return protowire.AppendFixed32(b, math.Float32bits(float32(v.Float())))
	case native.KindFloat64:
		return protowire.AppendFixed64(b, math.Float64bits(v.Float()))
	case native.KindString:
		return protowire.AppendString(b, v.String())
	}
	return protowire.AppendBytes(b, v.Bytes())
}
