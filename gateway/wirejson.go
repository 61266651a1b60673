package gateway

// This file transcodes protobuf wire bytes to native JSON in one pass,
// without building a message object: the gRPC face's request direction.
// It writes exactly what encode.go writes for the message proto.Unmarshal
// would build from the same bytes (see that file for the value rules), and
// refuses what that path refuses: bytes proto.Unmarshal cannot read (a
// malformed tag or length, a string that is not UTF-8, in any field, even
// one a later field overrides), and fields the schema does not know
// (unknownInWire's error, word for word).
//
// Proto's rules for a field met more than once are kept: the last scalar
// wins, the occurrences of a message field merge (read as one message from
// the concatenation of their bytes), list elements add up, packed or not,
// the last map entry of a key wins, and a google.protobuf.Value holds the
// last member of its oneof, merged only with the occurrences of that
// member since another one was set.
//
// A message is read in two steps: its tags are scanned into occurrences
// (field, wire type, where its value lies), kept on a stack shared by
// every level, and sorted by field; the fields are then written in the
// codec's order from their occurrences, nested messages recursively from
// their segments. Nothing is allocated per call once the state's slices
// have grown (wireJSONPool).

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

// span is a range of the wire bytes.
type span struct{ off, end int }

// wireOcc is one occurrence of a known field in wire bytes.
type wireOcc struct {
	num protowire.Number
	idx int // the field's index in its message descriptor
	typ protowire.Type
	u   uint64 // a varint or fixed value
	val span   // the payload of a length-delimited value
}

// wireEntry is one map entry: its key as JSON writes it (in keys) and the
// occurrences of its value (on the occurrence stack).
type wireEntry struct {
	key      span
	vlo, vhi int // the occurrences of its value field: occ[vlo:vhi]
}

// wireJSON is the state of one transcoding. Its stacks hold every level's
// working data by index, since a deeper level may grow (and move) them.
type wireJSON struct {
	buf  []byte // the message's wire bytes; spans index it
	top  protoreflect.MessageDescriptor
	out  []byte
	occ  []wireOcc
	segs []span
	ents []wireEntry
	keys []byte // map keys' JSON text
	// depth counts the messages being read, one inside the other.
	depth int
}

// maxWireDepth is how deep messages may nest: protobuf-go's default
// recursion limit, past which proto.Unmarshal refuses them too.
const maxWireDepth = 10000

// enter counts one more level of nesting, or refuses it; leave undoes it.
func (d *wireJSON) enter() error {
	if d.depth++; d.depth > maxWireDepth {
		return errorf("messages nested more than %d deep", maxWireDepth)
	}
	return nil
}

func (d *wireJSON) leave() { d.depth-- }

var wireJSONPool = sync.Pool{New: func() any { return new(wireJSON) }}

// appendJSONFromWire appends the native JSON object of wire, the wire bytes
// of a message of c, to dst.
func (c *messageCodec) appendJSONFromWire(dst, wire []byte) ([]byte, error) {
	d := wireJSONPool.Get().(*wireJSON)
	d.reset(wire, c.desc, dst)
	d.segs = append(d.segs, span{0, len(wire)})
	err := d.message(c, 0, 1)
	out := d.out
	d.release()
	return out, refusal(err, wire, c.desc)
}

// refusal returns the error of a message whose transcoding failed with err:
// unknownInWire's when the message has a field the schema does not know,
// whatever else is wrong with it and wherever, as the message path checks
// for those first.
func refusal(err error, wire []byte, md protoreflect.MessageDescriptor) error {
	if err == nil {
		return nil
	}
	if u := unknownInWire(wire, md); u != nil {
		if pe, ok := u.(*pathError); ok {
			pe.rooted = true
		}
		return u
	}
	return err
}

// appendFieldJSONFromWire appends the native JSON of field f of wire, the
// wire bytes of a message of descriptor md, to dst: the value of a
// synthesized <Method>Request. The other fields are checked, not written.
func appendFieldJSONFromWire(dst, wire []byte, md protoreflect.MessageDescriptor, f *fieldCodec) ([]byte, error) {
	d := wireJSONPool.Get().(*wireJSON)
	d.reset(wire, md, dst)
	d.segs = append(d.segs, span{0, len(wire)})
	err := d.field1(md, f)
	out := d.out
	d.release()
	return out, refusal(err, wire, md)
}

func (d *wireJSON) reset(wire []byte, md protoreflect.MessageDescriptor, dst []byte) {
	d.buf, d.top, d.out = wire, md, dst
	d.occ, d.segs, d.ents, d.keys = d.occ[:0], d.segs[:0], d.ents[:0], d.keys[:0]
	d.depth = 0
}

// release returns d to the pool, unless a huge message grew it.
func (d *wireJSON) release() {
	d.buf, d.top, d.out = nil, nil, nil
	if cap(d.occ) > 1<<14 || cap(d.keys) > 1<<16 {
		return
	}
	wireJSONPool.Put(d)
}

// field1 writes field f of the message in segment 0 and checks the others.
func (d *wireJSON) field1(md protoreflect.MessageDescriptor, f *fieldCodec) error {
	base, err := d.scan(md, 0, 1)
	if err != nil {
		return err
	}
	d.sortOcc(base)
	lo, hi := base, len(d.occ)
	want := f.fd.Index()
	for lo < hi && d.occ[lo].idx < want {
		if err := d.checkOcc(md, lo); err != nil {
			return err
		}
		lo++
	}
	end := lo
	for end < hi && d.occ[end].idx == want {
		end++
	}
	for k := end; k < hi; k++ {
		if err := d.checkOcc(md, k); err != nil {
			return err
		}
	}
	if err := d.field(f, lo, end); err != nil {
		return atPath(err, "."+f.jsonName)
	}
	return nil
}

// errMalformed is the error of wire bytes proto.Unmarshal cannot read.
func errMalformed(md protoreflect.MessageDescriptor) error {
	return errorf("the bytes of %s are not valid protobuf wire format", md.FullName())
}

// scan appends the occurrences of the fields of md in segments
// segs[sb:sb+sn], in wire order, and returns where they begin. It checks
// what proto.Unmarshal checks at this level.
func (d *wireJSON) scan(md protoreflect.MessageDescriptor, sb, sn int) (int, error) {
	base := len(d.occ)
	fields := md.Fields()
	for s := sb; s < sb+sn; s++ {
		i, end := d.segs[s].off, d.segs[s].end
		for i < end {
			num, typ, n := protowire.ConsumeTag(d.buf[i:end])
			if n < 0 {
				return 0, errMalformed(md)
			}
			i += n
			fd := fields.ByNumber(num)
			if fd == nil || !wireTypeFits(fd, typ) {
				// The entry points name the unknown field (refusal);
				// this error stands when malformed bytes come first.
				return 0, errMalformed(md)
			}
			o := wireOcc{num: num, idx: fd.Index(), typ: typ}
			switch typ {
			case protowire.VarintType:
				o.u, n = protowire.ConsumeVarint(d.buf[i:end])
			case protowire.Fixed32Type:
				var v uint32
				v, n = protowire.ConsumeFixed32(d.buf[i:end])
				o.u = uint64(v)
			case protowire.Fixed64Type:
				o.u, n = protowire.ConsumeFixed64(d.buf[i:end])
			case protowire.BytesType:
				var v []byte
				v, n = protowire.ConsumeBytes(d.buf[i:end])
				o.val = span{i + n - len(v), i + n}
				if n >= 0 && fd.Kind() == protoreflect.StringKind && !utf8.Valid(v) {
					return 0, errorf("invalid UTF-8 in field %s", fd.FullName())
				}
			}
			if n < 0 {
				return 0, errMalformed(md)
			}
			i += n
			d.occ = append(d.occ, o)
		}
	}
	return base, nil
}

// sortOcc sorts the occurrences from base on by field, keeping wire order
// within a field. Fields mostly come in order, which the check finds in
// one pass.
func (d *wireJSON) sortOcc(base int) {
	run := d.occ[base:]
	if !slices.IsSortedFunc(run, cmpOcc) {
		slices.SortStableFunc(run, cmpOcc)
	}
}

func cmpOcc(a, b wireOcc) int { return a.idx - b.idx }

// message writes the message of c held in segments segs[sb:sb+sn].
func (d *wireJSON) message(c *messageCodec, sb, sn int) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.leave()
	base, err := d.scan(c.desc, sb, sn)
	if err != nil {
		return err
	}
	defer func() { d.occ = d.occ[:base] }()
	d.sortOcc(base)
	k, hi := base, len(d.occ)
	d.out = append(d.out, '{')
	first := true
	for i := range c.fields {
		f := &c.fields[i]
		lo := k
		for k < hi && d.occ[k].idx == i {
			k++
		}
		if f.optional && d.absent(f, lo, k) {
			continue
		}
		if !first {
			d.out = append(d.out, ',')
		}
		first = false
		d.out = append(d.out, f.key...)
		if err := d.field(f, lo, k); err != nil {
			return atPath(err, "."+f.jsonName)
		}
	}
	d.out = append(d.out, '}')
	return nil
}

// absent reports whether optional field f, with occurrences occ[lo:hi], is
// left out of the JSON: it is unset, or an empty list or map.
func (d *wireJSON) absent(f *fieldCodec, lo, hi int) bool {
	if f.typ.kind != native.KindList {
		return lo == hi
	}
	switch f.fd.Kind() {
	case protoreflect.MessageKind, protoreflect.StringKind, protoreflect.BytesKind:
		return lo == hi
	}
	for k := lo; k < hi; k++ {
		if o := &d.occ[k]; o.typ != protowire.BytesType || o.val.end > o.val.off {
			return false // an unpacked element, or a packed one
		}
	}
	return true
}

// field writes field f from its occurrences occ[lo:hi].
func (d *wireJSON) field(f *fieldCodec, lo, hi int) error {
	switch c := f.typ; {
	case c.kind == native.KindList:
		return d.list(c, f.fd, lo, hi)
	case c.kind == native.KindMap:
		return d.mapValue(c, f.fd, lo, hi)
	case c.kind == native.KindTimestamp && lo == hi:
		d.out = append(d.out, `"0001-01-01T00:00:00Z"`...)
		return nil
	case c.kind == native.KindBytes && f.optional && hi > lo && d.occ[hi-1].val.end == d.occ[hi-1].val.off:
		d.out = append(d.out, `""`...) // a pointer to an empty slice
		return nil
	}
	return d.single(f.typ, f.fd.Message(), f.quoted, lo, hi)
}

// single writes a value that is not a repeated or map field from its
// occurrences occ[lo:hi]: the last for a scalar (none: the zero value),
// all of them merged for a message; md is the message's descriptor.
func (d *wireJSON) single(c *valueCodec, md protoreflect.MessageDescriptor, quoted bool, lo, hi int) error {
	if md == nil {
		var o wireOcc
		if hi > lo {
			o = d.occ[hi-1]
		}
		return d.scalar(c.kind, quoted, o.u, d.buf[o.val.off:o.val.end])
	}
	sb := d.pushSegs(lo, hi)
	err := d.value(c, md, sb, hi-lo)
	d.segs = d.segs[:sb]
	return err
}

// pushSegs pushes the payloads of occurrences occ[lo:hi] on the segment
// stack and returns where they begin.
func (d *wireJSON) pushSegs(lo, hi int) int {
	sb := len(d.segs)
	for k := lo; k < hi; k++ {
		d.segs = append(d.segs, d.occ[k].val)
	}
	return sb
}

// scanOcc scans the message of md merged from the payloads of occurrences
// occ[lo:hi] (see scan).
func (d *wireJSON) scanOcc(md protoreflect.MessageDescriptor, lo, hi int) (int, error) {
	sb := d.pushSegs(lo, hi)
	base, err := d.scan(md, sb, hi-lo)
	d.segs = d.segs[:sb]
	return base, err
}

// value writes a message-kind value of c, of descriptor md, held in
// segments segs[sb:sb+sn].
func (d *wireJSON) value(c *valueCodec, md protoreflect.MessageDescriptor, sb, sn int) error {
	switch c.kind {
	case native.KindMessage:
		return d.message(c.msg, sb, sn)
	case native.KindTimestamp:
		return d.timestamp(md, sb, sn)
	case native.KindAny:
		return d.anyValue(md, sb, sn)
	}
	// A list or map in its wrapper message.
	if err := d.enter(); err != nil {
		return err
	}
	defer d.leave()
	base, err := d.scan(md, sb, sn)
	if err != nil {
		return err
	}
	defer func() { d.occ = d.occ[:base] }()
	if c.kind == native.KindList {
		return d.list(c, c.wrapper, base, len(d.occ))
	}
	return d.mapValue(c, c.wrapper, base, len(d.occ))
}

// scalar writes a scalar of kind k: u holds a varint or fixed value, b a
// string or bytes; both are zero for an unset field.
func (d *wireJSON) scalar(k native.Kind, quoted bool, u uint64, b []byte) error {
	if quoted && k == native.KindString {
		// encoding/json writes the JSON string once more as a string.
		start := len(d.out)
		d.out = appendString(d.out, bytesString(b), true)
		inner := string(d.out[start:])
		d.out = appendString(d.out[:start], inner, false)
		return nil
	}
	if quoted {
		d.out = append(d.out, '"')
	}
	switch k {
	case native.KindBool:
		d.out = strconv.AppendBool(d.out, u != 0)
	case native.KindInt32:
		d.out = strconv.AppendInt(d.out, int64(int32(u)), 10)
	case native.KindInt64:
		d.out = strconv.AppendInt(d.out, int64(u), 10)
	case native.KindUint32:
		d.out = strconv.AppendUint(d.out, uint64(uint32(u)), 10)
	case native.KindUint64:
		d.out = strconv.AppendUint(d.out, u, 10)
	case native.KindFloat32, native.KindFloat64:
		f, bits := math.Float64frombits(u), 64
		if k == native.KindFloat32 {
			f, bits = float64(math.Float32frombits(uint32(u))), 32
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errorf("%v cannot be encoded as JSON", f)
		}
		d.out = appendFloat(d.out, f, bits)
	case native.KindString:
		d.out = appendString(d.out, bytesString(b), true)
	case native.KindBytes:
		if len(b) == 0 {
			d.out = append(d.out, "null"...)
		} else {
			d.out = appendBytes(d.out, b)
		}
	}
	if quoted {
		d.out = append(d.out, '"')
	}
	return nil
}

// bytesString is b as a string, without a copy: for reading only, while b
// does not change.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// checkOcc checks occurrence k of a field of md that is not written: a
// message's bytes are read as proto.Unmarshal reads them.
func (d *wireJSON) checkOcc(md protoreflect.MessageDescriptor, k int) error {
	o := d.occ[k]
	if sub := md.Fields().Get(o.idx).Message(); sub != nil {
		return d.check(sub, o.val)
	}
	return nil
}

// check reads the message of md in s as proto.Unmarshal would, writing
// nothing: for values that a later one replaces.
func (d *wireJSON) check(md protoreflect.MessageDescriptor, s span) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.leave()
	d.segs = append(d.segs, s)
	base, err := d.scan(md, len(d.segs)-1, 1)
	d.segs = d.segs[:len(d.segs)-1]
	if err != nil {
		return err
	}
	defer func() { d.occ = d.occ[:base] }()
	for k := base; err == nil && k < len(d.occ); k++ {
		err = d.checkOcc(md, k)
	}
	return err
}
