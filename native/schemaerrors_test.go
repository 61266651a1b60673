package native

import (
	"encoding"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// Types that cannot travel.
type (
	sbFilter      struct{ Notify chan int }
	sbListRequest struct {
		Page   int
		Filter *sbFilter
	}
	sbEmbUnexportedPtr struct{ *sbEmbA }
	sbRecList          []sbRecList
	sbRecMap           map[string]sbRecMap
	sbRecPtr           *sbRecPtr
	sbInMap            struct {
		OK  *sbPtrText
		Bad sbPtrText
	}
	sbEmbBadTag struct {
		Q int `json:"q',omitempty"`
	}
	sbDeepMap struct {
		M map[string][]map[int][2]sbInMap
	}
)

// TestCheckJSONTypeErrors checks that types that cannot travel are refused by
// checkJSONType and buildSchema alike, naming the path.
func TestCheckJSONTypeErrors(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[sbListRequest](), "native: type native.sbListRequest: field Filter.Notify: chan int cannot be encoded as JSON"},
		{reflect.TypeFor[chan int](), "native: type chan int: chan int cannot be encoded as JSON"},
		{reflect.TypeFor[func()](), "native: type func(): func() cannot be encoded as JSON"},
		{reflect.TypeFor[struct{ C complex64 }](), "field C: complex64 cannot be encoded as JSON"},
		{reflect.TypeFor[struct{ C []complex128 }](), "field C[]: complex128 cannot be encoded as JSON"},
		{reflect.TypeFor[struct{ P unsafe.Pointer }](), "field P: unsafe.Pointer cannot be encoded as JSON"},
		{reflect.TypeFor[map[string]func()](), "element []: func() cannot be encoded as JSON"},
		{reflect.TypeFor[struct{ M map[bool]int }](), "field M: map key type bool cannot be encoded as JSON"},
		{reflect.TypeFor[map[float64]int](), "map key type float64 cannot be encoded as JSON"},
		{reflect.TypeFor[map[[2]int]int](), "map key type [2]int cannot be encoded as JSON"},
		{reflect.TypeFor[map[any]int](), "map key type interface {} is an interface"},
		{reflect.TypeFor[map[encoding.TextMarshaler]int](), "map key type encoding.TextMarshaler is an interface"},
		{reflect.TypeFor[map[sbPtrText]int](), "map key type native.sbPtrText cannot be encoded as JSON"},
		{reflect.TypeFor[sbEmbUnexportedPtr](), "field X: promoted through an embedded pointer to the unexported struct type native.sbEmbA"},
		{reflect.TypeFor[struct {
			A int `json:"a\\b"`
		}](), `field A: json tag name "a\\b" is not one encoding/json accepts`},
		{reflect.TypeFor[struct{ sbEmbBadTag }](), `field sbEmbBadTag.Q: json tag name "q'" is not one`},
		{reflect.TypeFor[sbRecList](), "element []: native.sbRecList contains itself"},
		{reflect.TypeFor[sbRecMap](), "element []: native.sbRecMap contains itself"},
		{reflect.TypeFor[sbRecPtr](), "native.sbRecPtr is a pointer to itself"},
		// Pointer-receiver marshaling methods where values are not addressable.
		{reflect.TypeFor[map[string]sbPtrText](), "element []: native.sbPtrText implements encoding.TextMarshaler only through (*native.sbPtrText).MarshalText"},
		{reflect.TypeFor[map[string]sbPtrMarshaler](), "element []: native.sbPtrMarshaler implements json.Marshaler only through (*native.sbPtrMarshaler).MarshalJSON"},
		{reflect.TypeFor[map[string][2]sbPtrText](), "element [][]: native.sbPtrText implements"},
		{reflect.TypeFor[map[string]sbFields](), "element [].T: native.sbPtrText implements"},
		{reflect.TypeFor[sbDeepMap](), "field M[][][][].Bad: native.sbPtrText implements"},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			err := checkJSONType(tt.typ)
			if err == nil || !strings.HasPrefix(err.Error(), "native: type ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("checkJSONType(%v) = %v, want an error containing %q", tt.typ, err, tt.want)
			}
			_, err = buildSchema([]schemaInput{{Name: "t.Get", Request: BodyJSON, Response: BodyNone, ReqType: tt.typ}})
			if err == nil || !strings.HasPrefix(err.Error(), "native: endpoint t.Get: request: type ") || !strings.Contains(err.Error(), strings.TrimPrefix(tt.want, "native: ")) {
				t.Fatalf("buildSchema = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := checkJSONType(nil); err == nil {
		t.Error("checkJSONType(nil) = nil")
	}
}

// TestBuildSchemaEndpointErrors checks the refusal of malformed endpoints.
func TestBuildSchemaEndpointErrors(t *testing.T) {
	intT := reflect.TypeFor[int]()
	tests := []struct {
		name string
		eps  []schemaInput
		want string
	}{
		{"missing type", []schemaInput{{Name: "a", Request: BodyJSON, Response: BodyNone}}, "native: endpoint a: request body kind json needs a JSON type"},
		{"extra type", []schemaInput{{Name: "a", Request: BodyNone, Response: BodyStream, RespType: intT}}, "native: endpoint a: response body kind stream has no JSON part"},
		{"bad kind", []schemaInput{{Name: "a", Request: "xml", Response: BodyNone}}, `native: endpoint a: unknown request body kind "xml"`},
		{"missing message type", []schemaInput{{Name: "a", Request: BodyNone, Response: BodyMessages}}, "native: endpoint a: response body kind messages needs a message type"},
		{"extra message type", []schemaInput{{Name: "a", Request: BodyNone, Response: BodyStream, RespMsg: intT}}, "native: endpoint a: response body kind stream has no messages, but a message type int was given"},
		{"bad message type", []schemaInput{{Name: "a", Request: BodyMessages, ReqMsg: reflect.TypeFor[chan int](), Response: BodyNone}}, "native: endpoint a: request message: type chan int:"},
		{"empty name", []schemaInput{{Request: BodyNone, Response: BodyNone}}, "native: schema: endpoint with an empty name"},
		{"duplicate", []schemaInput{{Name: "a", Request: BodyNone, Response: BodyNone}, {Name: "b", Request: BodyNone, Response: BodyNone}, {Name: "a", Request: BodyNone, Response: BodyNone}}, "native: schema: endpoint a listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildSchema(tt.eps)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
