package gateway

// The hand-written schema shared by the descriptor and transcoder tests, and
// the Go types it describes (the transcoder tests prove with encoding/json
// that the JSON written for the proto messages fits them).

import (
	"time"

	"github.com/framegate/framegate/native"
)

func tk(k native.Kind) native.Type { return native.Type{Kind: k} }

func tmsg(name string) native.Type { return native.Type{Kind: native.KindMessage, Message: name} }

func tlist(e native.Type) native.Type { return native.Type{Kind: native.KindList, Elem: &e} }

func tmap(k native.Kind, e native.Type) native.Type {
	return native.Type{Kind: native.KindMap, Key: k, Elem: &e}
}

func tp(t native.Type) *native.Type { return &t }

// fld returns a field; opts holds "optional" and/or "quoted".
func fld(name string, t native.Type, opts ...string) native.Field {
	f := native.Field{Name: name, Type: t}
	for _, o := range opts {
		switch o {
		case "optional":
			f.Optional = true
		case "quoted":
			f.Quoted = true
		}
	}
	return f
}

// richInner is recursive through a list, a pointer, and mutually through
// richOther. Pointers carry omitempty: the transcoder leaves absent
// optional members out, and so these types re-encode byte for byte.
type richInner struct {
	Name  string      `json:"name"`
	Kids  []richInner `json:"kids"`
	Next  *richInner  `json:"next,omitempty"`
	Other *richOther  `json:"other,omitempty"`
}

type richOther struct {
	Back *richInner `json:"back,omitempty"`
	N    int32      `json:"n"`
}

// rich has a field of every kind and shape.
type rich struct {
	B          bool                         `json:"b"`
	I32        int32                        `json:"i32"`
	I64        int64                        `json:"i64"`
	U32        uint32                       `json:"u32"`
	U64        uint64                       `json:"u64"`
	F32        float32                      `json:"f32"`
	F64        float64                      `json:"f64"`
	S          string                       `json:"s"`
	Raw        []byte                       `json:"raw"`
	T          time.Time                    `json:"t"`
	Any        any                          `json:"any"`
	Msg        richInner                    `json:"msg"`
	OptI64     *int64                       `json:"optI64,omitempty"`
	OptS       *string                      `json:"optS,omitempty"`
	OptB       *bool                        `json:"optB,omitempty"`
	OptF32     *float32                     `json:"optF32,omitempty"`
	OptRaw     *[]byte                      `json:"optRaw,omitempty"`
	OptMsg     *richInner                   `json:"optMsg,omitempty"`
	OptT       *time.Time                   `json:"optT,omitempty"`
	OptAny     *any                         `json:"optAny,omitempty"`
	OptList    *[]string                    `json:"optList,omitempty"`
	QI64       int64                        `json:"qi64,string"`
	QU64       uint64                       `json:"qu64,string"`
	QB         bool                         `json:"qb,string"`
	QS         string                       `json:"qs,string"`
	QF         float64                      `json:"qf,string"`
	QOpt       *int64                       `json:"qopt,string,omitempty"`
	Ints       []int64                      `json:"ints"`
	Grid       [][]int64                    `json:"grid"`
	Cube       [][][]string                 `json:"cube"`
	ByName     map[string]richInner         `json:"byName"`
	ByID       map[int64]string             `json:"byId"`
	ByU64      map[uint64]int32             `json:"byU64"`
	ByI32      map[int32]bool               `json:"byI32"`
	ByU32      map[uint32][]string          `json:"byU32"`
	Nested     map[string]map[int32]float64 `json:"nested"`
	ListOfMaps []map[string]time.Time       `json:"listOfMaps"`
	Times      []time.Time                  `json:"times"`
	Anys       []any                        `json:"anys"`
	Blobs      [][]byte                     `json:"blobs"`
	Dur        time.Duration                `json:"dur"`
	Weird      string                       `json:"weird-name"`
	Small      int8                         `json:"small"`
	Tiny       uint16                       `json:"tiny"`
	Others     []richOther                  `json:"others"`
}

// testSchema describes rich and a set of endpoints with every body shape.
func testSchema() *native.Schema {
	return &native.Schema{
		Protocol: 1,
		Messages: map[string]*native.Message{
			"test.Inner": {Name: "test.Inner", Fields: []native.Field{
				fld("name", tk(native.KindString)),
				fld("kids", tlist(tmsg("test.Inner"))),
				fld("next", tmsg("test.Inner"), "optional"),
				fld("other", tmsg("test.Other"), "optional"),
			}},
			"test.Other": {Name: "test.Other", Fields: []native.Field{
				fld("back", tmsg("test.Inner"), "optional"),
				fld("n", tk(native.KindInt32)),
			}},
			"test.Rich": {Name: "test.Rich", Fields: []native.Field{
				fld("b", tk(native.KindBool)),
				fld("i32", tk(native.KindInt32)),
				fld("i64", tk(native.KindInt64)),
				fld("u32", tk(native.KindUint32)),
				fld("u64", tk(native.KindUint64)),
				fld("f32", tk(native.KindFloat32)),
				fld("f64", tk(native.KindFloat64)),
				fld("s", tk(native.KindString)),
				fld("raw", tk(native.KindBytes)),
				fld("t", tk(native.KindTimestamp)),
				fld("any", tk(native.KindAny)),
				fld("msg", tmsg("test.Inner")),
				fld("optI64", tk(native.KindInt64), "optional"),
				fld("optS", tk(native.KindString), "optional"),
				fld("optB", tk(native.KindBool), "optional"),
				fld("optF32", tk(native.KindFloat32), "optional"),
				fld("optRaw", tk(native.KindBytes), "optional"),
				fld("optMsg", tmsg("test.Inner"), "optional"),
				fld("optT", tk(native.KindTimestamp), "optional"),
				fld("optAny", tk(native.KindAny), "optional"),
				fld("optList", tlist(tk(native.KindString)), "optional"),
				fld("qi64", tk(native.KindInt64), "quoted"),
				fld("qu64", tk(native.KindUint64), "quoted"),
				fld("qb", tk(native.KindBool), "quoted"),
				fld("qs", tk(native.KindString), "quoted"),
				fld("qf", tk(native.KindFloat64), "quoted"),
				fld("qopt", tk(native.KindInt64), "optional", "quoted"),
				fld("ints", tlist(tk(native.KindInt64))),
				fld("grid", tlist(tlist(tk(native.KindInt64)))),
				fld("cube", tlist(tlist(tlist(tk(native.KindString))))),
				fld("byName", tmap(native.KindString, tmsg("test.Inner"))),
				fld("byId", tmap(native.KindInt64, tk(native.KindString))),
				fld("byU64", tmap(native.KindUint64, tk(native.KindInt32))),
				fld("byI32", tmap(native.KindInt32, tk(native.KindBool))),
				fld("byU32", tmap(native.KindUint32, tlist(tk(native.KindString)))),
				fld("nested", tmap(native.KindString, tmap(native.KindInt32, tk(native.KindFloat64)))),
				fld("listOfMaps", tlist(tmap(native.KindString, tk(native.KindTimestamp)))),
				fld("times", tlist(tk(native.KindTimestamp))),
				fld("anys", tlist(tk(native.KindAny))),
				fld("blobs", tlist(tk(native.KindBytes))),
				fld("dur", tk(native.KindInt64)),
				fld("weird-name", tk(native.KindString)),
				fld("small", tk(native.KindInt32)),
				fld("tiny", tk(native.KindUint32)),
				fld("others", tlist(tmsg("test.Other"))),
			}},
			"test.ListRequest": {Name: "test.ListRequest", Fields: []native.Field{
				fld("prefix", tk(native.KindString)),
			}},
		},
		Endpoints: []native.Endpoint{
			{Name: "Echo.Rich", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tmsg("test.Rich")), ResponseType: tp(tmsg("test.Rich"))},
			{Name: "Echo.Grid", Request: native.BodyJSON, Response: native.BodyJSON,
				RequestType: tp(tlist(tlist(tk(native.KindInt64)))), ResponseType: tp(tlist(tlist(tk(native.KindInt64))))},
			{Name: "Echo.Text", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tk(native.KindString)), ResponseType: tp(tk(native.KindUint64))},
			{Name: "Echo.Any", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tk(native.KindAny)), ResponseType: tp(tmap(native.KindString, tmap(native.KindString, tk(native.KindInt64))))},
			{Name: "Store.List", Request: native.BodyJSON, Response: native.BodyStream, RequestType: tp(tmsg("test.ListRequest"))},
			{Name: "Store.Put", Request: native.BodyJSONStream, Response: native.BodyNone, RequestType: tp(tmsg("test.Rich"))},
			{Name: "Store.Append", Request: native.BodyJSONStream, Response: native.BodyJSON, RequestType: tp(tk(native.KindString)), ResponseType: tp(tk(native.KindInt64))},
			{Name: "Store.Raw", Request: native.BodyStream, Response: native.BodyStream},
			{Name: "Store.Get", Request: native.BodyJSON, Response: native.BodyJSONStream, RequestType: tp(tk(native.KindString)), ResponseType: tp(tmsg("test.Inner"))},
			{Name: "Store.Stat", Request: native.BodyNone, Response: native.BodyJSON, ResponseType: tp(tmsg("test.Other"))},
			{Name: "Ping", Request: native.BodyNone, Response: native.BodyNone},
			{Name: "files.v1.Store.Touch", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tk(native.KindTimestamp)), ResponseType: tp(tlist(tk(native.KindTimestamp)))},
			{Name: "files.v1.Store.List", Request: native.BodyJSON, Response: native.BodyJSON, RequestType: tp(tk(native.KindString)), ResponseType: tp(tmsg("test.Inner"))},
		},
	}
}
