package native

// A JSON codec for plain Go structs, built once per type by reflection: the
// messages and requests most endpoints take are a handful of strings,
// numbers and string lists, and encoding/json/v2's general machinery was
// 85% of the CPU time of the goroutine that receives a stream of small
// messages (525-570 ns for the bench's ~100-byte EchoMsg). With this codec
// EchoMsg decodes in 314 ns against v2's 625 (3 allocations each) and
// encodes in 126 ns against json.Marshal's 350, and the messages/native
// bench row went from 1.69-1.83x grpc-go's messages per second to
// 2.52-2.58x (medians of four runs of three rounds, alternating builds).
//
// It is a shortcut, never a second meaning: it handles only input it is
// certain to decode exactly as jsonv2.Unmarshal does with strictJSON or
// messageJSON (requestjson.go), or as json.Unmarshal does (a caller's
// response), and declines the rest (escaped member names,
// numbers out of range or with a fraction into an integer, an object in
// an unknown member's value, a member repeated, an unknown member in strict
// mode, anything malformed...). A declined input leaves the value zero
// again and encoding/json decodes it, so results and error texts are
// v2's by construction (plaindecode.go). FuzzPlainJSONDecode checks the
// two agree.
//
// A plain struct has exported fields of kinds string, bool, int*, uint*,
// float*, slices, pointers and plain structs, under json tags that give at
// most a name of letters, digits and underscores and omitempty or
// omitzero; no field is embedded, and no type in it has its own JSON or
// text (un)marshaling methods. Other types have no plain codec and always
// go to encoding/json.

import (
	"encoding"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// plainKind is what a plainType is, and so how it is read and written.
type plainKind uint8

const (
	plainString plainKind = iota
	plainBool
	plainInt
	plainUint
	plainFloat
	plainStrings // a slice whose elements are of kind string
	plainSlice
	plainPointer
	plainStruct
)

// plainType is the codec of one type of a plain struct's tree.
type plainType struct {
	kind   plainKind
	typ    reflect.Type
	size   uintptr      // of an int, uint or float
	elem   *plainType   // of a slice or a pointer
	fields []plainField // of a struct
}

// plainField is one field of a plain struct.
type plainField struct {
	name      string // the JSON member name
	offset    uintptr
	omitempty bool
	omitzero  bool
	typ       *plainType
}

// plainCodecs maps a reflect.Type to its *plainType, nil when the type is
// not a plain struct.
var plainCodecs sync.Map

// plainCodecFor returns the codec of struct type t, or nil when t is not
// a plain struct.
func plainCodecFor(t reflect.Type) *plainType {
	if c, ok := plainCodecs.Load(t); ok {
		return c.(*plainType)
	}
	var c *plainType
	if t.Kind() == reflect.Struct {
		b := plainBuilder{building: map[reflect.Type]bool{}}
		c = b.build(t)
	}
	actual, _ := plainCodecs.LoadOrStore(t, c)
	return actual.(*plainType)
}

// plainBuilder builds the plainType tree of a type.
type plainBuilder struct {
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

// build returns t's plainType, or nil when t is not plain.
func (b *plainBuilder) build(t reflect.Type) *plainType {
	if hasJSONMethods(t) {
		return nil
	}
	pt := &plainType{typ: t, size: t.Size()}
	switch t.Kind() {
	case reflect.String:
		pt.kind = plainString
	case reflect.Bool:
		pt.kind = plainBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		pt.kind = plainInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		pt.kind = plainUint
	case reflect.Float32, reflect.Float64:
		pt.kind = plainFloat
	case reflect.Slice:
		// []byte is base64 to encoding/json: not plain.
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		pt.kind = plainSlice
		if pt.elem = b.build(t.Elem()); pt.elem == nil {
			return nil
		}
		if pt.elem.kind == plainString {
			pt.kind = plainStrings
		}
	case reflect.Pointer:
		pt.kind = plainPointer
		if pt.elem = b.build(t.Elem()); pt.elem == nil {
			return nil
		}
	case reflect.Struct:
		if b.building[t] {
			return nil
		}
		b.building[t] = true
		defer delete(b.building, t)
		pt.kind = plainStruct
		var ok bool
		if pt.fields, ok = b.fields(t); !ok {
			return nil
		}
	default:
		return nil
	}
	return pt
}

// fields returns the fields of struct t that JSON sees, or false when t is
// not plain.
func (b *plainBuilder) fields(t reflect.Type) ([]plainField, bool) {
	var fields []plainField
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
		pf := plainField{name: name, offset: f.Offset}
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "":
			case "omitempty":
				pf.omitempty = true
			case "omitzero":
				pf.omitzero = true
			default:
				return nil, false
			}
		}
		if !plainName(name) || slices.ContainsFunc(fields, func(g plainField) bool { return g.name == name }) {
			return nil, false
		}
		// omitzero asks an IsZero method where the type has one.
		if pf.omitzero && hasIsZero(f.Type) {
			return nil, false
		}
		if pf.typ = b.build(f.Type); pf.typ == nil {
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
