package native

import (
	"encoding"
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// Types with marshaling methods, for the kind rules.
type (
	sbValueMarshaler struct{ A int }
	sbPtrMarshaler   struct{ A int }
	sbPtrText        struct{ A int }
	sbTextInt        int
	sbTextByte       byte
	sbMyByte         uint8
	sbBlob           []byte
	sbMyString       string
	sbEmbedsTime     struct{ time.Time }
	sbChanMarshaler  chan int
)

func (sbValueMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{"custom":true}`), nil }
func (*sbPtrMarshaler) MarshalJSON() ([]byte, error)  { return []byte(`[1,2]`), nil }
func (*sbPtrText) MarshalText() ([]byte, error)       { return []byte("ptr-text"), nil }
func (sbTextInt) MarshalText() ([]byte, error)        { return []byte("text-int"), nil }
func (sbTextByte) MarshalText() ([]byte, error)       { return []byte("b"), nil }
func (sbChanMarshaler) MarshalJSON() ([]byte, error)  { return []byte(`null`), nil }

// sbShape renders a Type compactly: "int64", "list<uint32>",
// "map<string,native.Node>", a message by its name.
func sbShape(t *Type) string {
	switch {
	case t == nil:
		return "<nil>"
	case t.Kind == KindMessage:
		return t.Message
	case t.Kind == KindList:
		return "list<" + sbShape(t.Elem) + ">"
	case t.Kind == KindMap:
		return "map<" + string(t.Key) + "," + sbShape(t.Elem) + ">"
	}
	return string(t.Kind)
}

// sbBuild builds a schema with one endpoint "t.Get" answering typ.
func sbBuild(t *testing.T, typ reflect.Type) (*Schema, *Type) {
	t.Helper()
	sc, err := buildSchema([]schemaInput{{Name: "t.Get", Request: BodyNone, Response: BodyJSON, RespType: typ}})
	if err != nil {
		t.Fatalf("buildSchema(%v): %v", typ, err)
	}
	if err := checkJSONType(typ); err != nil {
		t.Fatalf("checkJSONType(%v) = %v, but buildSchema accepted it", typ, err)
	}
	sbCheckRefs(t, sc)
	return sc, sc.Endpoints[0].ResponseType
}

// sbCheckRefs checks that every message reference resolves and every message
// is keyed by its own name.
func sbCheckRefs(t *testing.T, sc *Schema) {
	t.Helper()
	var check func(where string, ty *Type)
	check = func(where string, ty *Type) {
		for ; ty != nil; ty = ty.Elem {
			if ty.Kind == KindMessage && sc.Messages[ty.Message] == nil {
				t.Errorf("%s refers to missing message %q", where, ty.Message)
			}
		}
	}
	for _, ep := range sc.Endpoints {
		check(ep.Name, ep.RequestType)
		check(ep.Name, ep.ResponseType)
	}
	for name, m := range sc.Messages {
		if m.Name != name {
			t.Errorf("message %q is keyed %q", m.Name, name)
		}
		for _, f := range m.Fields {
			check(name+"."+f.Name, &f.Type)
		}
	}
}

// TestSchemaKinds checks the Kind of every kind of Go type, at the top level.
func TestSchemaKinds(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[bool](), "bool"},
		{reflect.TypeFor[int8](), "int32"},
		{reflect.TypeFor[int16](), "int32"},
		{reflect.TypeFor[int32](), "int32"},
		{reflect.TypeFor[int](), "int64"},
		{reflect.TypeFor[int64](), "int64"},
		{reflect.TypeFor[time.Duration](), "int64"},
		{reflect.TypeFor[uint8](), "uint32"},
		{reflect.TypeFor[uint16](), "uint32"},
		{reflect.TypeFor[uint32](), "uint32"},
		{reflect.TypeFor[uint](), "uint64"},
		{reflect.TypeFor[uint64](), "uint64"},
		{reflect.TypeFor[uintptr](), "uint64"},
		{reflect.TypeFor[float32](), "float32"},
		{reflect.TypeFor[float64](), "float64"},
		{reflect.TypeFor[json.Number](), "float64"}, // written as a bare number
		{reflect.TypeFor[string](), "string"},
		{reflect.TypeFor[sbMyString](), "string"},
		{reflect.TypeFor[*int](), "int64"},
		{reflect.TypeFor[**string](), "string"},
		// Bytes: base64 for byte slices, a list of numbers for arrays.
		{reflect.TypeFor[[]byte](), "bytes"},
		{reflect.TypeFor[sbBlob](), "bytes"},
		{reflect.TypeFor[[]sbMyByte](), "bytes"},
		{reflect.TypeFor[[4]byte](), "list<uint32>"},
		{reflect.TypeFor[[]sbTextByte](), "list<string>"},
		// Special types and marshaling methods.
		{reflect.TypeFor[time.Time](), "timestamp"},
		{reflect.TypeFor[*time.Time](), "timestamp"},
		{reflect.TypeFor[json.RawMessage](), "any"},
		{reflect.TypeFor[any](), "any"},
		{reflect.TypeFor[error](), "any"},
		{reflect.TypeFor[json.Marshaler](), "any"},
		{reflect.TypeFor[encoding.TextMarshaler](), "string"},
		{reflect.TypeFor[sbValueMarshaler](), "any"},
		{reflect.TypeFor[sbPtrMarshaler](), "any"},
		{reflect.TypeFor[*sbPtrMarshaler](), "any"},
		{reflect.TypeFor[sbChanMarshaler](), "any"},
		{reflect.TypeFor[sbEmbedsTime](), "any"}, // promoted MarshalJSON
		{reflect.TypeFor[sbPtrText](), "string"},
		{reflect.TypeFor[sbTextInt](), "string"},
		{reflect.TypeFor[net.IP](), "string"}, // a []byte with MarshalText
		{reflect.TypeFor[netip.Addr](), "string"},
		// Containers.
		{reflect.TypeFor[[]int](), "list<int64>"},
		{reflect.TypeFor[[][]string](), "list<list<string>>"},
		{reflect.TypeFor[[]*int16](), "list<int32>"},
		{reflect.TypeFor[[]sbPtrText](), "list<string>"},    // slice elements are addressable
		{reflect.TypeFor[[2]sbPtrMarshaler](), "list<any>"}, // so is an addressable array's
		{reflect.TypeFor[map[string]int](), "map<string,int64>"},
		{reflect.TypeFor[map[sbMyString][]byte](), "map<string,bytes>"},
		{reflect.TypeFor[map[int8]bool](), "map<int32,bool>"},
		{reflect.TypeFor[map[uint16]bool](), "map<uint32,bool>"},
		{reflect.TypeFor[map[int]bool](), "map<int64,bool>"},
		{reflect.TypeFor[map[uintptr]bool](), "map<uint64,bool>"},
		{reflect.TypeFor[map[netip.Addr]bool](), "map<string,bool>"},
		{reflect.TypeFor[map[sbTextInt]bool](), "map<string,bool>"}, // MarshalText beats the integer
		{reflect.TypeFor[map[*sbPtrText]bool](), "map<string,bool>"},
		{reflect.TypeFor[map[string]*sbPtrText](), "map<string,string>"}, // a pointer's target is addressable
		{reflect.TypeFor[map[string][]sbPtrMarshaler](), "map<string,list<any>>"},
		{reflect.TypeFor[map[string]sbValueMarshaler](), "map<string,any>"},
		{reflect.TypeFor[map[string]map[int64]*float32](), "map<string,map<int64,float32>>"},
		{reflect.TypeFor[sbFields](), "native.sbFields"},
		{reflect.TypeFor[*sbFields](), "native.sbFields"},
		{reflect.TypeFor[[]map[string]*sbFields](), "list<map<string,native.sbFields>>"},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			_, got := sbBuild(t, tt.typ)
			if s := sbShape(got); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// sbFields exercises the struct field rules.
type sbFields struct {
	A      int               `json:"a"`
	B      string            `json:"b,omitempty"`
	C      int64             `json:",string"`
	D      *int              `json:"d,string"`
	E      **int             // optional, like any pointer
	F      **int             `json:",string"` // not quoted: encoding/json follows one pointer only
	G      bool              `json:",string"`
	H      string            `json:",string"`
	I      []int             `json:",string"` // not quoted: not a scalar
	J      sbTextInt         `json:",string"` // not quoted: MarshalText ignores it
	K      time.Duration     `json:",string"`
	L      float64           `json:",omitempty,string"`
	N      json.Number       `json:",string"`
	Skip   chan int          `json:"-"` // skipped, so it cannot fail
	Dash   int               `json:"-,"`
	Iface  any               `json:"iface"`
	O      *[]int            `json:"o"`
	P      map[string]*int   `json:"p"`
	Q      []*int            `json:"q"`
	R      any               `json:",string"`
	S      *sbPtrText        `json:"s,string"`
	T      sbPtrText         `json:"t"`
	Unicod int               `json:"ünï"`
	U      unsafe.Pointer    `json:"-"`
	V      map[string]string `json:",omitzero"`
	hidden int
	fn     func()
}

// TestSchemaFields checks the struct field rules: names, tags, skipping,
// Optional and Quoted, and field order.
func TestSchemaFields(t *testing.T) {
	type want struct {
		name, goName, shape string
		optional, quoted    bool
	}
	wants := []want{
		{"a", "A", "int64", false, false},
		{"b", "B", "string", false, false},
		{"C", "C", "int64", false, true},
		{"d", "D", "int64", true, true},
		{"E", "E", "int64", true, false},
		{"F", "F", "int64", true, false},
		{"G", "G", "bool", false, true},
		{"H", "H", "string", false, true},
		{"I", "I", "list<int64>", false, false},
		{"J", "J", "string", false, false},
		{"K", "K", "int64", false, true},
		{"L", "L", "float64", false, true},
		{"N", "N", "float64", false, true},
		{"-", "Dash", "int64", false, false},
		{"iface", "Iface", "any", false, false},
		{"o", "O", "list<int64>", true, false},
		{"p", "P", "map<string,int64>", false, false},
		{"q", "Q", "list<int64>", false, false},
		{"R", "R", "any", false, false},
		{"s", "S", "string", true, false},
		{"t", "T", "string", false, false},
		{"ünï", "Unicod", "int64", false, false},
		{"V", "V", "map<string,string>", false, false},
	}
	sc, _ := sbBuild(t, reflect.TypeFor[sbFields]())
	m := sc.Messages["native.sbFields"]
	if m == nil {
		t.Fatalf("no message native.sbFields in %v", sbNames(sc))
	}
	var got []want
	for _, f := range m.Fields {
		got = append(got, want{f.Name, f.GoName, sbShape(&f.Type), f.Optional, f.Quoted})
	}
	if !reflect.DeepEqual(got, wants) {
		t.Errorf("fields:\n got %+v\nwant %+v", got, wants)
	}
}

// sbNames lists a schema's message names.
func sbNames(sc *Schema) []string {
	var names []string
	for n := range sc.Messages {
		names = append(names, n)
	}
	return names
}

// sbFieldList renders a message's fields as "name:shape" with "?" for
// Optional.
func sbFieldList(t *testing.T, sc *Schema, msg string) string {
	t.Helper()
	m := sc.Messages[msg]
	if m == nil {
		t.Fatalf("no message %q in %v", msg, sbNames(sc))
	}
	var parts []string
	for _, f := range m.Fields {
		p := f.Name + ":" + sbShape(&f.Type)
		if f.Optional {
			p += "?"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

type (
	sbOmit struct {
		A int      `json:"a,omitempty"`
		B []int    `json:"b,omitzero"`
		C *string  `json:"c,omitempty"`
		D struct{} `json:"d,omitempty,omitzero"`
	}
	sbNoOmit struct {
		A int      `json:"a"`
		B []int    `json:"b"`
		C *string  `json:"c"`
		D struct{} `json:"d"`
	}
)

// TestSchemaOmitEmptyChangesNothing checks that omitempty and omitzero leave
// the fields as they are.
func TestSchemaOmitEmptyChangesNothing(t *testing.T) {
	sc1, _ := sbBuild(t, reflect.TypeFor[sbOmit]())
	sc2, _ := sbBuild(t, reflect.TypeFor[sbNoOmit]())
	f1, f2 := sbFieldList(t, sc1, "native.sbOmit"), sbFieldList(t, sc2, "native.sbNoOmit")
	if f1 != strings.ReplaceAll(f2, "sbNoOmit", "sbOmit") {
		t.Errorf("omitempty changed the fields:\n%s\n%s", f1, f2)
	}
}

// Embedding, after the cases in encoding/json's tests.
type (
	sbEmbA struct {
		X int
		Y int
	}
	sbEmbB struct {
		X int
		Z int
	}
	sbEmbC struct {
		X string `json:"X"`
	}
	SbEmbExported struct{ P int }
	SbMyInt       int
	sbMyInt       int
	sbDupInner    struct{ D int }
	sbDup1        struct{ sbDupInner }
	sbDup2        struct{ sbDupInner }
	SbEmbRec      struct {
		*SbEmbRec
		N int
	}

	sbEmbConflict struct { // X is ambiguous: dropped
		sbEmbA
		sbEmbB
		W int
	}
	sbEmbTagWins struct { // the tagged X wins at equal depth
		sbEmbA
		sbEmbC
	}
	sbEmbShallow struct { // the shallower X wins
		sbEmbA
		X string
	}
	sbEmbPtr struct { // promoted through a pointer: optional
		*SbEmbExported
		V int
	}
	sbEmbTagged struct { // a tagged embedded struct is a normal field
		sbEmbA `json:"a"`
		SbEmbExported
	}
	sbEmbNonStruct struct { // embedded non-structs: exported is a field, unexported is skipped
		SbMyInt
		sbMyInt
		*time.Location `json:"-"`
	}
	SbIface  interface{ M() }
	sbEmbDup struct {
		sbDup1
		sbDup2
	} // D met twice at the same depth: dropped
	sbEmbDeep struct {
		sbEmbTagWins
		Y string
	} // Y shallow, X tagged from two levels down
	sbEmbIface struct {
		error
		SbIface
	} // embedded interfaces: unexported skipped, exported a field
)

// TestSchemaEmbedding checks embedded fields against encoding/json's
// inlining and dominance rules.
func TestSchemaEmbedding(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[sbEmbConflict](), "Y:int64 Z:int64 W:int64"},
		{reflect.TypeFor[sbEmbTagWins](), "Y:int64 X:string"},
		{reflect.TypeFor[sbEmbShallow](), "Y:int64 X:string"},
		{reflect.TypeFor[sbEmbPtr](), "P:int64? V:int64"},
		{reflect.TypeFor[sbEmbTagged](), "a:native.sbEmbA P:int64"},
		{reflect.TypeFor[sbEmbNonStruct](), "SbMyInt:int64"},
		{reflect.TypeFor[sbEmbDup](), ""},
		{reflect.TypeFor[SbEmbRec](), "N:int64"},
		{reflect.TypeFor[sbEmbDeep](), "X:string Y:string"},
		{reflect.TypeFor[sbEmbIface](), "SbIface:any"},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			sc, top := sbBuild(t, tt.typ)
			if got := sbFieldList(t, sc, top.Message); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Recursive types.
type (
	sbNode struct {
		Name     string
		Children []sbNode
		Next     *sbNode
		ByName   map[string]*sbNode
		Arr      [1]*sbNode
	}
	sbTreeA struct {
		B  *sbTreeB
		Bs []sbTreeB
	}
	sbTreeB    struct{ A map[int]sbTreeA }
	sbNodes    []sbListNode // recursion through a named list is fine via a struct
	sbListNode struct{ Kids sbNodes }
	sbMapNode  map[string]sbMapNodeS
	sbMapNodeS struct{ Sub sbMapNode }
)

// TestSchemaRecursive checks that recursive and mutually recursive types
// refer to their messages by name.
func TestSchemaRecursive(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want map[string]string
	}{
		{reflect.TypeFor[sbNode](), map[string]string{
			"native.sbNode": "Name:string Children:list<native.sbNode> Next:native.sbNode? ByName:map<string,native.sbNode> Arr:list<native.sbNode>",
		}},
		{reflect.TypeFor[sbTreeA](), map[string]string{
			"native.sbTreeA": "B:native.sbTreeB? Bs:list<native.sbTreeB>",
			"native.sbTreeB": "A:map<int64,native.sbTreeA>",
		}},
		{reflect.TypeFor[sbNodes](), map[string]string{"native.sbListNode": "Kids:list<native.sbListNode>"}},
		{reflect.TypeFor[sbMapNode](), map[string]string{"native.sbMapNodeS": "Sub:map<string,native.sbMapNodeS>"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			sc, _ := sbBuild(t, tt.typ)
			got := map[string]string{}
			for name := range sc.Messages {
				got[name] = sbFieldList(t, sc, name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestBuildSchemaEndpoints checks the endpoints of a schema: order, body
// kinds and types.
func TestBuildSchemaEndpoints(t *testing.T) {
	sc, err := buildSchema([]schemaInput{
		{Name: "z.Upload", Request: BodyJSONStream, Response: BodyNone, ReqType: reflect.TypeFor[sbNode]()},
		{Name: "a.Download", Request: BodyNone, Response: BodyStream},
		{Name: "m.Both", Request: BodyJSON, Response: BodyJSONStream, ReqType: reflect.TypeFor[int](), RespType: reflect.TypeFor[[]sbTreeA]()},
	})
	if err != nil {
		t.Fatal(err)
	}
	sbCheckRefs(t, sc)
	var got []string
	for _, ep := range sc.Endpoints {
		got = append(got, ep.Name+" "+string(ep.Request)+":"+sbShape(ep.RequestType)+" "+string(ep.Response)+":"+sbShape(ep.ResponseType))
	}
	want := []string{
		"z.Upload json+stream:native.sbNode none:<nil>",
		"a.Download none:<nil> stream:<nil>",
		"m.Both json:int64 json+stream:list<native.sbTreeA>",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if sc.Protocol != 0 || len(sc.Messages) != 3 {
		t.Errorf("protocol %d, messages %v", sc.Protocol, sbNames(sc))
	}
	// An empty schema has empty, not nil, collections.
	sc, err = buildSchema(nil)
	if err != nil || sc.Endpoints == nil || sc.Messages == nil {
		t.Errorf("buildSchema(nil) = %+v, %v", sc, err)
	}
	// The schema's own types travel: DescribeEndpoint answers them.
	if err := checkJSONType(reflect.TypeFor[Schema]()); err != nil {
		t.Error(err)
	}
}
