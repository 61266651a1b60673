package gateway

// This file is the well-known types' part of jsonwire.go: a timestamp
// becomes a google.protobuf.Timestamp, and any JSON value a
// google.protobuf.Value (with Struct and ListValue), as decode.go builds
// them.

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/framegate/framegate/internal/clip"
)

// timestamp appends a length-delimited google.protobuf.Timestamp.
func (w *jsonWire) timestamp(sec int64, nanos int32) {
	at := w.beginLen()
	if sec != 0 {
		w.out = protowire.AppendTag(w.out, timestampSeconds, protowire.VarintType)
		w.out = protowire.AppendVarint(w.out, uint64(sec))
	}
	if nanos != 0 {
		w.out = protowire.AppendTag(w.out, timestampNanos, protowire.VarintType)
		w.out = protowire.AppendVarint(w.out, uint64(int64(nanos)))
	}
	w.endLen(at)
}

// anyValue reads any JSON value into the fields of a google.protobuf.Value.
// Numbers become doubles, as they do in a Go any.
func (w *jsonWire) anyValue() error {
	switch w.dec.PeekKind() {
	case '[':
		if _, err := w.dec.ReadToken(); err != nil {
			return w.jsonErr(err)
		}
		w.out = protowire.AppendTag(w.out, valueList, protowire.BytesType)
		at := w.beginLen()
		for i := 0; w.dec.PeekKind() != ']'; i++ {
			w.out = protowire.AppendTag(w.out, listValues, protowire.BytesType)
			at2 := w.beginLen()
			if err := w.anyValue(); err != nil {
				return atPath(err, "["+strconv.Itoa(i)+"]")
			}
			w.endLen(at2)
		}
		if _, err := w.dec.ReadToken(); err != nil {
			return w.jsonErr(err)
		}
		w.endLen(at)
		return nil
	case '{':
		if _, err := w.dec.ReadToken(); err != nil {
			return w.jsonErr(err)
		}
		w.out = protowire.AppendTag(w.out, valueStruct, protowire.BytesType)
		at := w.beginLen()
		for w.dec.PeekKind() != '}' {
			name, err := w.name()
			if err != nil {
				return err
			}
			w.out = protowire.AppendTag(w.out, structFields, protowire.BytesType)
			entry := w.beginLen()
			w.out = protowire.AppendTag(w.out, 1, protowire.BytesType)
			w.out = protowire.AppendBytes(w.out, name)
			keyAt := len(w.out) - len(name)
			w.out = protowire.AppendTag(w.out, 2, protowire.BytesType)
			val := w.beginLen()
			if err := w.anyValue(); err != nil {
				return atPath(err, "["+clip.Quote(string(w.out[keyAt:keyAt+len(name)]))+"]")
			}
			w.endLen(val)
			w.endLen(entry)
		}
		if _, err := w.dec.ReadToken(); err != nil {
			return w.jsonErr(err)
		}
		w.endLen(at)
		return nil
	}
	js, err := w.scalar()
	if err != nil {
		return err
	}
	switch js.kind {
	case 'n':
		w.out = protowire.AppendTag(w.out, valueNull, protowire.VarintType)
		w.out = protowire.AppendVarint(w.out, 0)
	case 't', 'f':
		w.out = protowire.AppendTag(w.out, valueBool, protowire.VarintType)
		w.out = protowire.AppendVarint(w.out, protowire.EncodeBool(js.kind == 't'))
	case '"':
		w.out = protowire.AppendTag(w.out, valueString, protowire.BytesType)
		w.out = protowire.AppendString(w.out, js.text)
	default:
		f, err := strconv.ParseFloat(js.text, 64)
		if err != nil {
			return errorf("number %s does not fit a double", clip.Text(js.text, clip.Max))
		}
		w.out = protowire.AppendTag(w.out, valueNumber, protowire.Fixed64Type)
		w.out = protowire.AppendFixed64(w.out, math.Float64bits(f))
	}
	return nil
}
