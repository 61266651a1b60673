package gateway

// This file interns native types by shape, so that each distinct shape is
// spelled and named once however often, and however deep, it occurs: the
// descriptor builder shares wrappers by shape and the linker shares value
// codecs by shape. Spelling a type afresh at every use made a list nested N
// deep cost about N³ (N wrappers, each spelling its element at every level).

import (
	"strings"

	"github.com/framegate/framegate/native"
)

// shape is one distinct type shape of a schema.
type shape struct {
	kind native.Kind
	key  native.Kind // map key kind; "" for other kinds
	msg  string      // message name, for KindMessage
	elem *shape      // list element or map value

	spelling string      // canonical spelling, once asked for
	name     string      // readable name, once asked for
	wrapper  string      // wrapper message name, once planned
	codec    *valueCodec // once linked
}

// shapeID identifies a shape: equal IDs, equal shapes.
type shapeID struct {
	kind, key native.Kind
	msg       string
	elem      *shape
}

// shapeTable interns the types of one schema.
type shapeTable struct {
	byID   map[shapeID]*shape
	byType map[*native.Type]*shape
}

func newShapeTable() *shapeTable {
	return &shapeTable{byID: map[shapeID]*shape{}, byType: map[*native.Type]*shape{}}
}

// of returns the shape of t, interning t and its element types on first
// use. The recursion is as deep as t, which checkSchema bounds.
func (st *shapeTable) of(t *native.Type) *shape {
	if sh, ok := st.byType[t]; ok {
		return sh
	}
	id := shapeID{kind: t.Kind}
	switch t.Kind {
	case native.KindMessage:
		id.msg = t.Message
	case native.KindMap:
		id.key = t.Key
		id.elem = st.of(t.Elem)
	case native.KindList:
		id.elem = st.of(t.Elem)
	}
	sh, ok := st.byID[id]
	if !ok {
		sh = &shape{kind: id.kind, key: id.key, msg: id.msg, elem: id.elem}
		st.byID[id] = sh
	}
	st.byType[t] = sh
	return sh
}

// key is the canonical spelling of a shape, for comments and owners:
// "list<map<string, store.Entry>>".
func (st *shapeTable) key(sh *shape) string {
	if sh.spelling != "" {
		return sh.spelling
	}
	switch sh.kind {
	case native.KindMessage:
		sh.spelling = "message " + sh.msg
		if strings.Contains(sh.msg, ".") {
			sh.spelling = sh.msg
		}
	case native.KindList:
		sh.spelling = "list<" + st.key(sh.elem) + ">"
	case native.KindMap:
		sh.spelling = "map<" + string(sh.key) + ", " + st.key(sh.elem) + ">"
	default:
		sh.spelling = string(sh.kind)
	}
	return sh.spelling
}

// name is the readable name of a shape, the first candidate for the name
// of its wrapper: "Int64List", "StringFooMap", "Int64ListList". msgNames
// maps schema message names to proto names.
func (st *shapeTable) name(sh *shape, msgNames map[string]string) string {
	if sh.name != "" {
		return sh.name
	}
	switch sh.kind {
	case native.KindMessage:
		sh.name = msgNames[sh.msg]
	case native.KindList:
		sh.name = st.name(sh.elem, msgNames) + "List"
	case native.KindMap:
		sh.name = kindName(sh.key) + st.name(sh.elem, msgNames) + "Map"
	default:
		sh.name = kindName(sh.kind)
	}
	return sh.name
}
