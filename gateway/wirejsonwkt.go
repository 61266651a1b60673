package gateway

// This file is the well-known types' part of wirejson.go:
// google.protobuf.Timestamp as time.Time.MarshalJSON writes it, and
// google.protobuf.Value (with Struct and ListValue) as the JSON value a Go
// any holds.

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

// timestamp writes a google.protobuf.Timestamp as time.Time.MarshalJSON.
func (d *wireJSON) timestamp(md protoreflect.MessageDescriptor, sb, sn int) error {
	base, err := d.scan(md, sb, sn)
	if err != nil {
		return err
	}
	var sec int64
	var nanos int32
	for _, o := range d.occ[base:] {
		switch o.num {
		case timestampSeconds:
			sec = int64(o.u)
		case timestampNanos:
			nanos = int32(o.u)
		}
	}
	d.occ = d.occ[:base]
	buf, ok := appendTime(d.out, sec, nanos)
	if !ok {
		return errorf("timestamp {seconds: %d, nanos: %d} cannot be encoded as a Go time.Time", sec, nanos)
	}
	d.out = buf
	return nil
}

// anyValue writes a google.protobuf.Value, of descriptor md, as the JSON
// value it holds; an empty Value is null.
func (d *wireJSON) anyValue(md protoreflect.MessageDescriptor, sb, sn int) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.leave()
	base, err := d.scan(md, sb, sn)
	if err != nil {
		return err
	}
	defer func() { d.occ = d.occ[:base] }()
	if len(d.occ) == base {
		d.out = append(d.out, "null"...)
		return nil
	}
	last := d.occ[len(d.occ)-1]
	// The member set last wins; a struct or list merges the occurrences
	// since another member was set, and the replaced ones are checked.
	from := len(d.occ) - 1
	for from > base && d.occ[from-1].num == last.num {
		from--
	}
	for k := base; k < from; k++ {
		if err := d.checkOcc(md, k); err != nil {
			return err
		}
	}
	switch last.num {
	case valueNull:
		d.out = append(d.out, "null"...)
	case valueNumber:
		f := math.Float64frombits(last.u)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errorf("%v cannot be encoded as JSON", f)
		}
		d.out = appendFloat(d.out, f, 64)
	case valueString:
		d.out = appendString(d.out, bytesString(d.buf[last.val.off:last.val.end]), true)
	case valueBool:
		d.out = strconv.AppendBool(d.out, last.u != 0)
	case valueStruct:
		return d.structValue(md.Fields().ByNumber(valueStruct).Message(), from, len(d.occ))
	case valueList:
		return d.listValue(md.Fields().ByNumber(valueList).Message(), from, len(d.occ))
	}
	return nil
}

// structValue writes a google.protobuf.Struct, of descriptor md, merged
// from occurrences occ[lo:hi], as a JSON object with sorted keys.
func (d *wireJSON) structValue(md protoreflect.MessageDescriptor, lo, hi int) error {
	base, err := d.scanOcc(md, lo, hi)
	if err != nil {
		return err
	}
	defer func() { d.occ = d.occ[:base] }()
	fields := md.Fields().ByNumber(structFields)
	valMD := fields.MapValue().Message()
	return d.writeMap(fields.Message(), native.KindString, base, len(d.occ), func(vlo, vhi int) error {
		sb := d.pushSegs(vlo, vhi)
		err := d.anyValue(valMD, sb, vhi-vlo)
		d.segs = d.segs[:sb]
		return err
	})
}

// listValue writes a google.protobuf.ListValue, of descriptor md, merged
// from occurrences occ[lo:hi], as a JSON array.
func (d *wireJSON) listValue(md protoreflect.MessageDescriptor, lo, hi int) error {
	base, err := d.scanOcc(md, lo, hi)
	if err != nil {
		return err
	}
	defer func() { d.occ = d.occ[:base] }()
	valMD := md.Fields().ByNumber(listValues).Message()
	d.out = append(d.out, '[')
	for k := base; k < len(d.occ); k++ {
		if k > base {
			d.out = append(d.out, ',')
		}
		d.segs = append(d.segs, d.occ[k].val)
		err := d.anyValue(valMD, len(d.segs)-1, 1)
		d.segs = d.segs[:len(d.segs)-1]
		if err != nil {
			return atPath(err, "["+strconv.Itoa(k-base)+"]")
		}
	}
	d.out = append(d.out, ']')
	return nil
}
