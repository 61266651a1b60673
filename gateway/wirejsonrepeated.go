package gateway

// This file is the repeated fields' part of wirejson.go: a list joins the
// elements of all its occurrences, packed or not; a map's entries are read
// one by one, sorted by key as encoding/json sorts a map's keys, and the
// last entry of each key wins.

import (
	"bytes"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

// list writes the repeated field fd, of native type c, from its
// occurrences occ[lo:hi]; no element is null, as for a nil slice.
func (d *wireJSON) list(c *valueCodec, fd protoreflect.FieldDescriptor, lo, hi int) error {
	start := len(d.out)
	d.out = append(d.out, '[')
	n := 0
	next := func() {
		if n > 0 {
			d.out = append(d.out, ',')
		}
		n++
	}
	md := fd.Message()
	for k := lo; k < hi; k++ {
		o := d.occ[k]
		if md != nil {
			next()
			d.segs = append(d.segs, o.val)
			err := d.value(c.elem, md, len(d.segs)-1, 1)
			d.segs = d.segs[:len(d.segs)-1]
			if err != nil {
				return atPath(err, "["+strconv.Itoa(n-1)+"]")
			}
			continue
		}
		var err error
		switch {
		case o.typ != protowire.BytesType || fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
			next()
			err = d.scalar(c.elem.kind, false, o.u, d.buf[o.val.off:o.val.end])
		default: // packed
			p := d.buf[o.val.off:o.val.end]
			for len(p) > 0 && err == nil {
				var u uint64
				m := -1
				switch fd.Kind() {
				case protoreflect.FloatKind:
					var v uint32
					v, m = protowire.ConsumeFixed32(p)
					u = uint64(v)
				case protoreflect.DoubleKind:
					u, m = protowire.ConsumeFixed64(p)
				default:
					u, m = protowire.ConsumeVarint(p)
				}
				if m < 0 {
					return errMalformed(fd.ContainingMessage())
				}
				p = p[m:]
				next()
				err = d.scalar(c.elem.kind, false, u, nil)
			}
		}
		if err != nil {
			return atPath(err, "["+strconv.Itoa(n-1)+"]")
		}
	}
	if n == 0 {
		d.out = append(d.out[:start], "null"...)
		return nil
	}
	d.out = append(d.out, ']')
	return nil
}

// mapValue writes the map field fd, of native type c, from its entries
// occ[lo:hi], sorted by key; empty is null, as for a nil map.
func (d *wireJSON) mapValue(c *valueCodec, fd protoreflect.FieldDescriptor, lo, hi int) error {
	if lo == hi {
		d.out = append(d.out, "null"...)
		return nil
	}
	valMD := fd.MapValue().Message()
	return d.writeMap(fd.Message(), c.key, lo, hi, func(vlo, vhi int) error {
		return d.single(c.elem, valMD, false, vlo, vhi)
	})
}

// writeMap writes the map entries occ[lo:hi], of entry descriptor md and
// native key kind kk, as a JSON object sorted by key (entries); value
// writes an entry's value from the occurrences of its value field.
func (d *wireJSON) writeMap(md protoreflect.MessageDescriptor, kk native.Kind, lo, hi int, value func(vlo, vhi int) error) error {
	eb, err := d.entries(md, kk, lo, hi)
	if err != nil {
		return err
	}
	defer func() { d.ents = d.ents[:eb] }()
	d.out = append(d.out, '{')
	for i := eb; i < len(d.ents); i++ {
		if i > eb {
			d.out = append(d.out, ',')
		}
		e := d.ents[i]
		key := d.keys[e.key.off:e.key.end]
		d.out = appendString(d.out, bytesString(key), true)
		d.out = append(d.out, ':')
		if err := value(e.vlo, e.vhi); err != nil {
			return atPath(err, "["+strconv.Quote(string(key))+"]")
		}
	}
	d.out = append(d.out, '}')
	return nil
}

// entries reads the map entries occ[lo:hi], of entry descriptor md and
// native key kind kk, and leaves on the entry stack, from the returned
// index, the one entry per key that wins (the last), sorted by key as
// encoding/json sorts a map's keys. The entries that lose are checked as
// proto.Unmarshal reads them. Each entry's value occurrences come first
// among its occurrences (entryValue).
func (d *wireJSON) entries(md protoreflect.MessageDescriptor, kk native.Kind, lo, hi int) (int, error) {
	eb := len(d.ents)
	for k := lo; k < hi; k++ {
		d.segs = append(d.segs, d.occ[k].val)
		ob, err := d.scan(md, len(d.segs)-1, 1)
		d.segs = d.segs[:len(d.segs)-1]
		if err != nil {
			return eb, err
		}
		d.sortOcc(ob)
		// The key is the last occurrence of field 1, which sorts first.
		var key wireOcc
		vb := ob
		for vb < len(d.occ) && d.occ[vb].num == 1 {
			key = d.occ[vb]
			vb++
		}
		ks := len(d.keys)
		switch kk {
		case native.KindString:
			d.keys = append(d.keys, d.buf[key.val.off:key.val.end]...)
		case native.KindInt32:
			d.keys = strconv.AppendInt(d.keys, int64(int32(key.u)), 10)
		case native.KindInt64:
			d.keys = strconv.AppendInt(d.keys, int64(key.u), 10)
		case native.KindUint32:
			d.keys = strconv.AppendUint(d.keys, uint64(uint32(key.u)), 10)
		case native.KindBool:
			d.keys = strconv.AppendBool(d.keys, key.u != 0)
		default:
			d.keys = strconv.AppendUint(d.keys, key.u, 10)
		}
		d.ents = append(d.ents, wireEntry{key: span{ks, len(d.keys)}, vlo: vb, vhi: len(d.occ)})
	}
	run := d.ents[eb:]
	slices.SortStableFunc(run, func(a, b wireEntry) int {
		return bytes.Compare(d.keys[a.key.off:a.key.end], d.keys[b.key.off:b.key.end])
	})
	// Keep the last entry of each key; check the others' values.
	valMD := md.Fields().ByNumber(2).Message()
	w := eb
	for i := eb; i < len(d.ents); i++ {
		e := d.ents[i]
		if i+1 < len(d.ents) && bytes.Equal(d.keys[e.key.off:e.key.end], d.keys[d.ents[i+1].key.off:d.ents[i+1].key.end]) {
			if valMD != nil {
				vlo, vhi := e.vlo, e.vhi
				for k := vlo; k < vhi; k++ {
					if err := d.check(valMD, d.occ[k].val); err != nil {
						return eb, err
					}
				}
			}
			continue
		}
		d.ents[w] = e
		w++
	}
	d.ents = d.ents[:w]
	return eb, nil
}
