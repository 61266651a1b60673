package native

import (
	mrand "math/rand"
	mrand2 "math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// Anonymous structs.
type (
	sbAnonOuter struct {
		Entry   struct{ A int }
		Entries []struct{ B int }
		ByKey   map[string]struct{ C int }
		Nested  struct{ Inner []struct{ D int } }
		Same1   struct{ S int }
		Same2   struct{ S int } // the same type as Same1: one message
	}
	sbAnonColA struct {
		X struct{ A int } `json:"a"`
	}
	sbAnonColB struct {
		X struct{ B int } `json:"b"`
	}
	sbAnonCol struct { // two promoted fields with the Go name X
		sbAnonColA
		sbAnonColB
	}
)

// Generic types.
type (
	sbPage[T any]               struct{ Items []T }
	sbPair[K comparable, V any] struct {
		Key K
		Val V
	}
)

// sbLocalA and sbLocalB return two types declared with the same name in
// different functions.
func sbLocalA() reflect.Type {
	type sbLocal struct{ A int }
	return reflect.TypeFor[sbLocal]()
}

func sbLocalB() reflect.Type {
	type sbLocal struct{ B int }
	return reflect.TypeFor[sbLocal]()
}

// sbResp is an endpoint answering t.
func sbResp(name string, t reflect.Type) schemaInput {
	return schemaInput{Name: name, Request: BodyNone, Response: BodyJSON, RespType: t}
}

// sbMessageShapes builds eps and returns every message's fields, keyed by
// message name, plus one "@endpoint" entry per endpoint.
func sbMessageShapes(t *testing.T, eps ...schemaInput) map[string]string {
	t.Helper()
	sc, err := buildSchema(eps)
	if err != nil {
		t.Fatal(err)
	}
	sbCheckRefs(t, sc)
	got := map[string]string{}
	for name := range sc.Messages {
		got[name] = sbFieldList(t, sc, name)
	}
	for _, ep := range sc.Endpoints {
		got["@"+ep.Name] = sbShape(ep.RequestType) + " -> " + sbShape(ep.ResponseType)
	}
	return got
}

// TestSchemaNames checks message naming: anonymous structs, package names,
// collisions and generics, in both endpoint orders.
func TestSchemaNames(t *testing.T) {
	type S = map[string]string
	tests := []struct {
		name string
		eps  []schemaInput
		want S
	}{
		{"anonymous fields", []schemaInput{sbResp("a", reflect.TypeFor[sbAnonOuter]())}, S{
			"@a":                              "<nil> -> native.sbAnonOuter",
			"native.sbAnonOuter":              "Entry:native.sbAnonOuter.Entry Entries:list<native.sbAnonOuter.Entries> ByKey:map<string,native.sbAnonOuter.ByKey> Nested:native.sbAnonOuter.Nested Same1:native.sbAnonOuter.Same1 Same2:native.sbAnonOuter.Same1",
			"native.sbAnonOuter.Entry":        "A:int64",
			"native.sbAnonOuter.Entries":      "B:int64",
			"native.sbAnonOuter.ByKey":        "C:int64",
			"native.sbAnonOuter.Nested":       "Inner:list<native.sbAnonOuter.Nested.Inner>",
			"native.sbAnonOuter.Nested.Inner": "D:int64",
			"native.sbAnonOuter.Same1":        "S:int64",
		}},
		{"anonymous top level", []schemaInput{{
			Name: "store.List", Request: BodyJSON, Response: BodyJSON,
			ReqType:  reflect.TypeFor[struct{ Sub *struct{ Z int } }](),
			RespType: reflect.TypeFor[[]struct{ R int }](),
		}}, S{
			"@store.List":            "store_List.Request -> list<store_List.Response>",
			"store_List.Request":     "Sub:store_List.Request.Sub?",
			"store_List.Request.Sub": "Z:int64",
			"store_List.Response":    "R:int64",
		}},
		{"anonymous name taken", []schemaInput{
			sbResp("a_b", reflect.TypeFor[struct{ Y int }]()),
			sbResp("a.b", reflect.TypeFor[struct{ X int }]()),
		}, S{
			"@a.b":           "<nil> -> a_b.Response",
			"@a_b":           "<nil> -> a_b.Response_2",
			"a_b.Response":   "X:int64",
			"a_b.Response_2": "Y:int64",
		}},
		{"anonymous promoted twice", []schemaInput{sbResp("a", reflect.TypeFor[sbAnonCol]())}, S{
			"@a":                   "<nil> -> native.sbAnonCol",
			"native.sbAnonCol":     "a:native.sbAnonCol.X b:native.sbAnonCol.X_2",
			"native.sbAnonCol.X":   "A:int64",
			"native.sbAnonCol.X_2": "B:int64",
		}},
		{"package name", []schemaInput{sbResp("a", reflect.TypeFor[mrand2.Rand]())}, S{
			"@a":        "<nil> -> rand.Rand",
			"rand.Rand": "",
		}},
		{"package collision", []schemaInput{
			sbResp("a", reflect.TypeFor[mrand2.Rand]()),
			sbResp("b", reflect.TypeFor[[]*mrand.Rand]()),
		}, S{
			"@a":                "<nil> -> math_rand_v2.Rand",
			"@b":                "<nil> -> list<math_rand.Rand>",
			"math_rand_v2.Rand": "",
			"math_rand.Rand":    "",
		}},
		{"generics", []schemaInput{
			sbResp("a", reflect.TypeFor[sbPage[int]]()),
			sbResp("b", reflect.TypeFor[sbPage[netip.Addr]]()),
			sbResp("c", reflect.TypeFor[sbPair[string, map[string]*sbPage[uint8]]]()),
		}, S{
			"@a":                       "<nil> -> native.sbPage_int",
			"@b":                       "<nil> -> native.sbPage_netip_Addr",
			"@c":                       "<nil> -> native.sbPair_string_map_string_native_sbPage_uint8",
			"native.sbPage_int":        "Items:list<int64>",
			"native.sbPage_netip_Addr": "Items:list<string>",
			"native.sbPair_string_map_string_native_sbPage_uint8": "Key:string Val:map<string,native.sbPage_uint8>",
			"native.sbPage_uint8": "Items:bytes",
		}},
		{"generic collision", []schemaInput{
			sbResp("a", reflect.TypeFor[sbPage[int]]()),
			sbResp("b", reflect.TypeFor[sbPage[[]int]]()),
		}, S{
			"@a": "<nil> -> github_com_framegate_framegate_native.sbPage_int_2",
			"@b": "<nil> -> github_com_framegate_framegate_native.sbPage_int",
			"github_com_framegate_framegate_native.sbPage_int_2": "Items:list<int64>",
			"github_com_framegate_framegate_native.sbPage_int":   "Items:list<list<int64>>",
		}},
		{"local types", []schemaInput{
			sbResp("a", sbLocalB()),
			sbResp("b", sbLocalA()),
		}, S{
			"@a": "<nil> -> github_com_framegate_framegate_native.sbLocal_2",
			"@b": "<nil> -> github_com_framegate_framegate_native.sbLocal",
			"github_com_framegate_framegate_native.sbLocal":   "A:int64",
			"github_com_framegate_framegate_native.sbLocal_2": "B:int64",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sbMessageShapes(t, tt.eps...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got:\n%v\nwant:\n%v", got, tt.want)
			}
			// The same endpoints in another order give the same names.
			rev := slices.Clone(tt.eps)
			slices.Reverse(rev)
			if again := sbMessageShapes(t, rev...); !reflect.DeepEqual(again, got) {
				t.Errorf("reversed endpoints:\n%v\nfirst:\n%v", again, got)
			}
		})
	}
}

// TestSchemaNamesDeterministic builds a schema full of collisions and shared
// anonymous types from every permutation of its endpoints.
func TestSchemaNamesDeterministic(t *testing.T) {
	shared := reflect.TypeFor[struct{ V []sbPage[int] }]()
	eps := []schemaInput{
		sbResp("d", reflect.TypeFor[map[string]sbPair[int, struct{ V []sbPage[int] }]]()),
		sbResp("c", shared),
		{Name: "b", Request: BodyJSON, Response: BodyJSON, ReqType: sbLocalA(), RespType: reflect.TypeFor[sbPage[[]int]]()},
		{Name: "a", Request: BodyJSON, Response: BodyJSON, ReqType: sbLocalB(), RespType: reflect.TypeFor[*mrand.Rand]()},
		sbResp("e", reflect.TypeFor[[]mrand2.Rand]()),
	}
	want := sbMessageShapes(t, eps...)
	var permute func(k int)
	n := 0
	permute = func(k int) {
		if k == len(eps) {
			n++
			if got := sbMessageShapes(t, eps...); !reflect.DeepEqual(got, want) {
				t.Fatalf("order %v:\n%v\nwant\n%v", eps, got, want)
			}
			return
		}
		for i := k; i < len(eps); i++ {
			eps[k], eps[i] = eps[i], eps[k]
			permute(k + 1)
			eps[k], eps[i] = eps[i], eps[k]
		}
	}
	permute(0)
	if n != 120 || len(want) != 5+8 {
		t.Errorf("%d permutations, %d entries: %v", n, len(want), want)
	}
}

// TestSchemaSanitize checks the identifier and import path helpers.
func TestSchemaSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"store", "store"},
		{"github.com/a/store", "github_com_a_store"},
		{"Page[int]", "Page_int"},
		{"Pair[string,[]*int]", "Pair_string_int"},
		{"a__b", "a__b"},
		{"_x_", "_x_"},
		{"[x]", "_x"},
		{"Größe", "Gr_e"},
		{"", "_"},
		{"...", "_"},
		{"gopkg.in/yaml.v3", "gopkg_in_yaml_v3"},
		{"9fans.net/go", "_9fans_net_go"},
		{"-9", "_9"},
	}
	for _, tt := range tests {
		if got := schemaSanitize(tt.in); got != tt.want {
			t.Errorf("schemaSanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	cuts := []struct{ in, want string }{
		{"Page[int]", "Page[int]"},
		{"Page[example.com/x/store.Key]", "Page[store.Key]"},
		{"Pair[string,map[string]*net/netip.Prefix]", "Pair[string,map[string]*netip.Prefix]"},
		{"P[a/b.C,d/e-f.G[h/i.J]]", "P[b.C,e-f.G[i.J]]"},
	}
	for _, tt := range cuts {
		if got := schemaCutPaths(tt.in); got != tt.want {
			t.Errorf("schemaCutPaths(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
