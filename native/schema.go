package native

// This file holds the schema model: the description of every endpoint's
// request and response, and of the JSON shape of their types. The server
// builds it from Go types when handlers are registered (schemabuild.go) and
// answers it on the control endpoint DescribeEndpoint, so a gateway in
// another process sees exactly what one in the same process sees.

// BodyKind says which body parts a request or response carries after its
// header.
type BodyKind string

// The body kinds.
const (
	BodyNone       BodyKind = "none"        // no body
	BodyJSON       BodyKind = "json"        // one JSON value
	BodyStream     BodyKind = "stream"      // a byte stream
	BodyJSONStream BodyKind = "json+stream" // a JSON value, then a byte stream
	// BodyMessages is a stream of JSON messages (Sender, Receiver); on the
	// wire a stream part whose bytes are length-prefixed messages.
	BodyMessages BodyKind = "messages"
	// BodyJSONMessages is a JSON value, then a stream of messages.
	BodyJSONMessages BodyKind = "json+messages"
)

// HasJSON reports whether k carries a JSON part.
func (k BodyKind) HasJSON() bool {
	return k == BodyJSON || k == BodyJSONStream || k == BodyJSONMessages
}

// HasStream reports whether k carries a stream part on the wire: a byte
// stream or a stream of messages (HasMessages tells them apart).
func (k BodyKind) HasStream() bool {
	return k == BodyStream || k == BodyJSONStream || k.HasMessages()
}

// HasMessages reports whether k's stream part is a stream of messages.
func (k BodyKind) HasMessages() bool { return k == BodyMessages || k == BodyJSONMessages }

func (k BodyKind) valid() bool {
	switch k {
	case BodyNone, BodyJSON, BodyStream, BodyJSONStream, BodyMessages, BodyJSONMessages:
		return true
	}
	return false
}

// Kind is the JSON shape of a value.
type Kind string

// The kinds. Go types map to them as encoding/json encodes them:
//
//	bool                         KindBool
//	int8, int16, int32           KindInt32
//	int, int64 (time.Duration)   KindInt64
//	uint8, uint16, uint32        KindUint32
//	uint, uint64, uintptr        KindUint64
//	float32, float64             KindFloat32, KindFloat64
//	string, encoding.TextMarshaler  KindString
//	[]byte                       KindBytes (base64 in JSON)
//	time.Time                    KindTimestamp (RFC 3339 in JSON)
//	any, json.RawMessage, json.Marshaler  KindAny (any JSON value)
//	struct                       KindMessage (Type.Message names it)
//	slice, array                 KindList (Type.Elem)
//	map                          KindMap (Type.Key, Type.Elem)
const (
	KindBool      Kind = "bool"
	KindInt32     Kind = "int32"
	KindInt64     Kind = "int64"
	KindUint32    Kind = "uint32"
	KindUint64    Kind = "uint64"
	KindFloat32   Kind = "float32"
	KindFloat64   Kind = "float64"
	KindString    Kind = "string"
	KindBytes     Kind = "bytes"
	KindTimestamp Kind = "timestamp"
	KindAny       Kind = "any"
	KindMessage   Kind = "message"
	KindList      Kind = "list"
	KindMap       Kind = "map"
)

// Type is the shape of one value.
type Type struct {
	Kind Kind `json:"kind"`
	// Message names the message in Schema.Messages, for KindMessage.
	Message string `json:"message,omitempty"`
	// Elem is the element type of a list or the value type of a map.
	Elem *Type `json:"elem,omitempty"`
	// Key is the kind of a map's keys: KindString, or an integer kind
	// (which JSON writes as a decimal string).
	Key Kind `json:"key,omitempty"`
}

// Field is one JSON object member of a message.
type Field struct {
	// Name is the member name encoding/json writes (the json tag's name, or
	// the Go field name).
	Name string `json:"name"`
	// GoName is the Go field name, for documentation.
	GoName string `json:"go_name,omitempty"`
	Type   Type   `json:"type"`
	// Optional is set for pointer fields: absent, null and a zero value are
	// different things.
	Optional bool `json:"optional,omitempty"`
	// Quoted is set for fields tagged `json:",string"`: the number or bool
	// travels inside a JSON string.
	Quoted bool `json:"quoted,omitempty"`
	// Number is the protobuf field number pinned by a `native:"N"` struct
	// tag. 0 (absent from the JSON) means unpinned: the field is numbered
	// by its position in Message.Fields, from 1, as before pinning
	// existed. In one Message either every field has a Number or none has
	// (Message.CheckNumbers).
	Number int32 `json:"number,omitempty"`
}

// Message is the shape of a JSON object encoded from a Go struct. Fields are
// in the order encoding/json writes them (declaration order, embedded
// structs' fields inlined); that order is stable for an unchanged struct.
type Message struct {
	// Name is unique within a Schema: the Go package name and type name
	// ("store.ListRequest"), made unique with more of the package path when
	// two packages share a name, and derived from the enclosing message and
	// field for anonymous structs ("store.ListResponse.Entry").
	Name   string  `json:"name"`
	Fields []Field `json:"fields"`
}

// Endpoint describes one registered endpoint.
type Endpoint struct {
	Name     string   `json:"name"`
	Request  BodyKind `json:"request"`
	Response BodyKind `json:"response"`
	// RequestType and ResponseType are the types of the JSON parts; nil when
	// the corresponding BodyKind has no JSON part.
	RequestType  *Type `json:"request_type,omitempty"`
	ResponseType *Type `json:"response_type,omitempty"`
	// RequestMessage and ResponseMessage are the types of the messages of
	// a stream of messages (BodyMessages, BodyJSONMessages): the T of the
	// handler's Receiver[T] and Sender[T]; nil for other kinds. Schemas
	// from before message streams have neither, and decode as they did.
	RequestMessage  *Type `json:"request_message,omitempty"`
	ResponseMessage *Type `json:"response_message,omitempty"`
	// Safe and Idempotent are what Register's options declared (see Safe
	// and Idempotent); Safe implies Idempotent.
	Safe       bool `json:"safe,omitempty"`
	Idempotent bool `json:"idempotent,omitempty"`
}

// Schema describes a server: its endpoints and every message their types
// reach. It is what DescribeEndpoint answers.
type Schema struct {
	// Protocol is the wire protocol version the server speaks.
	Protocol  int                 `json:"protocol"`
	Endpoints []Endpoint          `json:"endpoints"`
	Messages  map[string]*Message `json:"messages"`
}

// DescribeEndpoint is the name of the built-in control endpoint that answers
// the server's Schema. Names starting with "native." are reserved for
// control endpoints and never appear in Schema.Endpoints.
const DescribeEndpoint = "native.Describe"
