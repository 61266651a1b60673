// Package plaintype describes plain Go structs by reflection, once per
// type: the kind of each value and where each field lies in memory. The
// codecs that read and write such structs through unsafe pointers without
// encoding/json's general machinery are built on it: native's plain JSON
// codec (native/plainjson.go) and the gateway's protobuf wire codec for
// in-process calls (gateway/wirevalue.go).
//
// A plain struct has exported fields of kinds string, bool, int*, uint*,
// float*, slices, pointers and plain structs, under json tags that give at
// most a name of letters, digits and underscores and omitempty or
// omitzero; no field is embedded, no struct has more than 64 fields, and
// no type in it has its own JSON or text (un)marshaling methods. []byte
// (base64 to encoding/json) and cycles are not plain.
package plaintype

import (
	"encoding"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Kind is what a Type is, and so how it is read and written.
type Kind uint8

const (
	String Kind = iota
	Bool
	Int
	Uint
	Float
	Strings // a slice whose elements are of kind string
	Slice
	Pointer
	Struct
)

// Type is one type of a plain struct's tree: what it is and where its parts
// lie in memory.
type Type struct {
	Kind   Kind
	Go     reflect.Type
	Size   uintptr // of an int, uint or float
	Elem   *Type   // of a slice or a pointer
	Fields []Field // of a struct
}

// Field is one field of a plain struct.
type Field struct {
	Name      string // the JSON member name
	Offset    uintptr
	OmitEmpty bool
	OmitZero  bool
	Type      *Type
}

// types maps a reflect.Type to its *Type, nil when the type is not a
// plain struct.
var types sync.Map

// For returns the Type of struct type t, built once, or nil when t is not
// a plain struct.
func For(t reflect.Type) *Type {
	if c, ok := types.Load(t); ok {
		return c.(*Type)
	}
	var c *Type
	if t.Kind() == reflect.Struct {
		b := builder{building: map[reflect.Type]bool{}}
		c = b.build(t)
	}
	actual, _ := types.LoadOrStore(t, c)
	return actual.(*Type)
}

// builder builds the Type tree of a type.
type builder struct {
	building map[reflect.Type]bool // struct types being built: a cycle is not plain
}

var (
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	marshalerToType     = reflect.TypeFor[jsonv2.MarshalerTo]()
	unmarshalerFromType = reflect.TypeFor[jsonv2.UnmarshalerFrom]()
)

// hasJSONMethods reports whether t or *t marshals or unmarshals itself,
// or is json.Number, which encoding/json writes as a number (it has v2's
// methods since Go 1.27, and its special case in v1 before).
func hasJSONMethods(t reflect.Type) bool {
	if t == reflect.TypeFor[json.Number]() {
		return true
	}
	for _, i := range []reflect.Type{textMarshalerType, textUnmarshalerType, jsonMarshalerType, jsonUnmarshalerType, marshalerToType, unmarshalerFromType} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return true
		}
	}
	return false
}

// build returns t's Type, or nil when t is not plain.
func (b *builder) build(t reflect.Type) *Type {
	if hasJSONMethods(t) {
		return nil
	}
	pt := &Type{Go: t, Size: t.Size()}
	switch t.Kind() {
	case reflect.String:
		pt.Kind = String
	case reflect.Bool:
		pt.Kind = Bool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		pt.Kind = Int
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		pt.Kind = Uint
	case reflect.Float32, reflect.Float64:
		pt.Kind = Float
	case reflect.Slice:
		// []byte is base64 to encoding/json: not plain.
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		pt.Kind = Slice
		if pt.Elem = b.build(t.Elem()); pt.Elem == nil {
			return nil
		}
		if pt.Elem.Kind == String {
			pt.Kind = Strings
		}
	case reflect.Pointer:
		pt.Kind = Pointer
		if pt.Elem = b.build(t.Elem()); pt.Elem == nil {
			return nil
		}
	case reflect.Struct:
		if b.building[t] {
			return nil
		}
		b.building[t] = true
		defer delete(b.building, t)
		pt.Kind = Struct
		var ok bool
		if pt.Fields, ok = b.fields(t); !ok {
			return nil
		}
	default:
		return nil
	}
	return pt
}

// fields returns the fields of struct t that JSON sees, or false when t is
// not plain.
func (b *builder) fields(t reflect.Type) ([]Field, bool) {
	var fields []Field
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("json")
		switch {
		case f.Anonymous:
			return nil, false
		case !f.IsExported():
			if tagged {
				return nil, false
			}
			continue
		case tag == "-":
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		pf := Field{Name: name, Offset: f.Offset}
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "":
			case "omitempty":
				pf.OmitEmpty = true
			case "omitzero":
				pf.OmitZero = true
			default:
				return nil, false
			}
		}
		if !plainName(name) || slices.ContainsFunc(fields, func(g Field) bool { return g.Name == name }) {
			return nil, false
		}
		// omitzero asks an IsZero method where the type has one.
		if pf.OmitZero && hasIsZero(f.Type) {
			return nil, false
		}
		if pf.Type = b.build(f.Type); pf.Type == nil {
			return nil, false
		}
		fields = append(fields, pf)
	}
	if len(fields) > 64 {
		return nil, false
	}
	return fields, true
}

func hasIsZero(t reflect.Type) bool {
	_, ok := t.MethodByName("IsZero")
	_, pok := reflect.PointerTo(t).MethodByName("IsZero")
	return ok || pok
}

// plainName reports whether a member name is letters, digits and
// underscores, which every JSON codec reads the same way.
func plainName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// LoadInt returns the signed integer of size bytes (1, 2, 4 or 8) at p.
func LoadInt(size uintptr, p unsafe.Pointer) int64 {
	switch size {
	case 1:
		return int64(*(*int8)(p))
	case 2:
		return int64(*(*int16)(p))
	case 4:
		return int64(*(*int32)(p))
	}
	return *(*int64)(p)
}

// LoadUint returns the unsigned integer of size bytes (1, 2, 4 or 8) at p.
func LoadUint(size uintptr, p unsafe.Pointer) uint64 {
	switch size {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

// LoadFloat returns the float of size bytes (4 or 8) at p.
func LoadFloat(size uintptr, p unsafe.Pointer) float64 {
	if size == 4 {
		return float64(*(*float32)(p))
	}
	return *(*float64)(p)
}
