package gateway

import (
	"fmt"
	"testing"

	"github.com/framegate/framegate/native"
)

// nestedListSchema is a schema with one endpoint whose response is a list
// nested depth levels deep: list<list<...<int64>...>>.
func nestedListSchema(depth int) *native.Schema {
	t := &native.Type{Kind: native.KindInt64}
	for range depth {
		t = &native.Type{Kind: native.KindList, Elem: t}
	}
	return &native.Schema{
		Protocol:  native.ProtocolVersion,
		Endpoints: []native.Endpoint{{Name: "Deep.Get", Request: native.BodyNone, Response: native.BodyJSON, ResponseType: t}},
		Messages:  map[string]*native.Message{},
	}
}

// wideSchema is a schema with n endpoints, each with its own request
// message of a few fields (one a list of lists, one a map of lists).
func wideSchema(n int) *native.Schema {
	s := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}
	for i := range n {
		name := fmt.Sprintf("svc.Req%d", i)
		s.Messages[name] = &native.Message{Name: name, Fields: []native.Field{
			fld("id", tk(native.KindInt64)),
			fld("name", tk(native.KindString)),
			fld("grid", tlist(tlist(tk(native.KindInt32)))),
			fld("tags", tmap(native.KindString, tlist(tk(native.KindString)))),
		}}
		s.Endpoints = append(s.Endpoints, native.Endpoint{Name: fmt.Sprintf("S%d.Call", i%50) + fmt.Sprint(i),
			Request: native.BodyJSON, RequestType: tp(tmsg(name)), Response: native.BodyJSON, ResponseType: tp(tmsg(name))})
	}
	return s
}

// BenchmarkBuildNestedLists builds the descriptors of a list nested N deep
// (the schema limit is raised so that the deep ones build): the cost must
// grow about linearly with N (names grow with the depth, so the descriptor
// itself grows with N²: a depth limit bounds that).
func BenchmarkBuildNestedLists(b *testing.B) {
	for _, n := range []int{64, 250, 500, 1000, 2000} {
		s := nestedListSchema(n)
		b.Run(fmt.Sprint("N=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildProtoSet(s, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildWide builds the descriptors of many endpoints and messages.
func BenchmarkBuildWide(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		s := wideSchema(n)
		b.Run(fmt.Sprint("endpoints=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildProtoSet(s, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
