package native

// This file builds the schema model (schema.go) from Go types: it decides the
// JSON shape of every request and response type exactly as encoding/json
// encodes it. Message naming is in schemanames.go.
//
// Addressability: encoding/json calls a MarshalJSON or MarshalText method
// with a pointer receiver only on addressable values. The server decodes
// into, and encodes from, pointers it allocates (reflect.New), so a top-level
// value, everything behind a pointer, every slice element and the fields and
// array elements of those are addressable. Map values are not, and neither
// are the fields and array elements they hold. A type whose marshaling
// method has a pointer receiver is written in its default shape there but
// read back through the method, so no single shape describes it: the builder
// refuses it, naming the path, and suggests *T or a value receiver.

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// schemaInput is one endpoint as the server knows it.
type schemaInput struct {
	Name              string
	Request, Response BodyKind
	// ReqType and RespType are the JSON parts' Go types (the element type,
	// ListRequest rather than *ListRequest; a pointer is tolerated and
	// dereferenced); nil when the BodyKind has no JSON part.
	ReqType, RespType reflect.Type
	// ReqMsg and RespMsg are the message types of a stream of messages;
	// nil when the BodyKind has none.
	ReqMsg, RespMsg reflect.Type
	Decl            endpointDecl
}

var (
	schemaMarshalerType     = reflect.TypeFor[json.Marshaler]()
	schemaTextMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	schemaTimeType          = reflect.TypeFor[time.Time]()
	schemaNumberType        = reflect.TypeFor[json.Number]()
)

// buildSchema builds the Schema for eps: Endpoints in the order given,
// Messages holding every message their types reach, exactly once, named as
// described in schemanames.go. Protocol is left 0 for the caller to fill. It
// fails if an endpoint is malformed (unknown BodyKind, a JSON type missing
// or present against its BodyKind, a duplicate or empty name) or a type
// cannot travel as JSON (see checkJSONType).
func buildSchema(eps []schemaInput) (*Schema, error) {
	// Walk the endpoints in name order so that everything that depends on
	// the order types are first met (anonymous struct names, tie-breaks)
	// depends on the set of endpoints, not on their registration order.
	order := make([]int, len(eps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return eps[order[a]].Name < eps[order[b]].Name })

	b := newSchemaBuilder()
	tops := make([]schemaTop, len(eps))
	for k, i := range order {
		ep := eps[i]
		if ep.Name == "" {
			return nil, errors.New("native: schema: endpoint with an empty name")
		}
		if k > 0 && eps[order[k-1]].Name == ep.Name {
			return nil, fmt.Errorf("native: schema: endpoint %s listed twice", ep.Name)
		}
		tops[i].prefix = schemaSanitize(ep.Name)
		var err error
		if tops[i].req, err = b.topType(ep.Name, "request", ep.Request, ep.ReqType); err != nil {
			return nil, err
		}
		if tops[i].resp, err = b.topType(ep.Name, "response", ep.Response, ep.RespType); err != nil {
			return nil, err
		}
		if tops[i].reqMsg, err = b.msgType(ep.Name, "request", ep.Request, ep.ReqMsg); err != nil {
			return nil, err
		}
		if tops[i].respMsg, err = b.msgType(ep.Name, "response", ep.Response, ep.RespMsg); err != nil {
			return nil, err
		}
	}

	named := make([]schemaTop, len(order))
	for k, i := range order {
		named[k] = tops[i]
	}
	msgs := b.assignNames(named)

	sc := &Schema{Endpoints: make([]Endpoint, len(eps)), Messages: make(map[string]*Message, len(msgs))}
	for i, ep := range eps {
		sc.Endpoints[i] = Endpoint{
			Name:            ep.Name,
			Request:         ep.Request,
			Response:        ep.Response,
			RequestType:     tops[i].req.toType(),
			ResponseType:    tops[i].resp.toType(),
			RequestMessage:  tops[i].reqMsg.toType(),
			ResponseMessage: tops[i].respMsg.toType(),
			Safe:            ep.Decl.safe,
			Idempotent:      ep.Decl.idempotent,
		}
	}
	for _, m := range msgs {
		out := &Message{Name: m.name, Fields: make([]Field, len(m.fields))}
		for i, f := range m.fields {
			out.Fields[i] = Field{Name: f.name, GoName: f.goName, Type: *f.node.toType(), Optional: f.optional, Quoted: f.quoted, Number: f.number}
		}
		sc.Messages[m.name] = out
	}
	return sc, nil
}

// checkJSONType reports why values of t cannot travel as JSON in a shape the
// Schema can describe, naming the path to the bad part, e.g.
//
//	native: type store.ListRequest: field Filter.Notify: chan int cannot be encoded as JSON
//
// t is treated as addressable (the server allocates it with reflect.New). It
// returns nil for every type buildSchema accepts.
func checkJSONType(t reflect.Type) error {
	if t == nil {
		return errors.New("native: nil type")
	}
	if _, _, err := newSchemaBuilder().typeOf(t, true, ""); err != nil {
		return fmt.Errorf("native: type %v: %s", t, schemaErrText(err))
	}
	return nil
}

// schemaPathError is a type the schema cannot describe, at a path below the
// top-level type.
type schemaPathError struct {
	path string // "Filter.Notify", "Items[]", "" for the top-level type
	msg  string
}

// Error returns "field <path>: <msg>", "element <path>: <msg>" for a path
// into a top-level list or map, or just msg at the top.
func (e *schemaPathError) Error() string {
	switch {
	case e.path == "":
		return e.msg
	case strings.HasPrefix(e.path, "["):
		return "element " + e.path + ": " + e.msg
	}
	return "field " + e.path + ": " + e.msg
}

// schemaErrText returns err's text without a "native: " prefix.
func schemaErrText(err error) string { return strings.TrimPrefix(err.Error(), "native: ") }

// schemaFieldPath extends path with a field's Go name.
func schemaFieldPath(path, goName string) string {
	if path == "" {
		return goName
	}
	return path + "." + goName
}

// schemaTop is one endpoint's request and response shapes; prefix is the
// sanitized endpoint name, used to name anonymous top-level structs.
type schemaTop struct {
	prefix          string
	req, resp       *schemaNode
	reqMsg, respMsg *schemaNode // the messages of a stream of messages
}

// schemaNode is a Type whose message references are still Go types; they
// get their names once every type is known.
type schemaNode struct {
	kind Kind
	msg  *schemaMsg  // KindMessage
	elem *schemaNode // KindList, KindMap
	key  Kind        // KindMap
}

// toType converts n to a Type; nil for a nil n.
func (n *schemaNode) toType() *Type {
	if n == nil {
		return nil
	}
	t := &Type{Kind: n.kind, Key: n.key, Elem: n.elem.toType()}
	if n.msg != nil {
		t.Message = n.msg.name
	}
	return t
}

// schemaMsg is a message being built: one per Go struct type.
type schemaMsg struct {
	t      reflect.Type
	seq    int // order first met, for deterministic tie-breaks
	fields []schemaMsgField
	jf     []schemaJSONField
	name   string // set by assignNames
}

// schemaMsgField is one Field of a schemaMsg.
type schemaMsgField struct {
	name, goName     string
	node             *schemaNode
	optional, quoted bool
	number           int32 // pinned; 0 when the struct pins none
}

// schemaBuilder walks Go types and collects the messages they reach.
type schemaBuilder struct {
	msgs  map[reflect.Type]*schemaMsg
	order []*schemaMsg
	// nonAddr holds struct types already checked in a non-addressable
	// position (see the file comment).
	nonAddr map[reflect.Type]bool
	// inline holds the non-struct types being expanded inline, to refuse
	// types such as type L []L that no finite Type describes.
	inline map[reflect.Type]bool
}

// newSchemaBuilder returns an empty builder.
func newSchemaBuilder() *schemaBuilder {
	return &schemaBuilder{
		msgs:    map[reflect.Type]*schemaMsg{},
		nonAddr: map[reflect.Type]bool{},
		inline:  map[reflect.Type]bool{},
	}
}

// topType checks one endpoint's body kind against its JSON part's Go type
// and walks it.
func (b *schemaBuilder) topType(ep, part string, k BodyKind, t reflect.Type) (*schemaNode, error) {
	if !k.valid() {
		return nil, fmt.Errorf("native: endpoint %s: unknown %s body kind %q", ep, part, k)
	}
	return b.partType(ep, part, k, t, k.HasJSON(), "a JSON type", "no JSON part, but a type", "")
}

// msgType checks one endpoint's body kind against the Go type of its
// stream's messages and walks it.
func (b *schemaBuilder) msgType(ep, part string, k BodyKind, t reflect.Type) (*schemaNode, error) {
	return b.partType(ep, part, k, t, k.HasMessages(), "a message type", "no messages, but a message type", " message")
}

// partType walks t, the Go type of a part of an endpoint's body, which
// the body kind k has (has) or not: a type missing or present against k
// is refused.
func (b *schemaBuilder) partType(ep, part string, k BodyKind, t reflect.Type, has bool, needs, extra, what string) (*schemaNode, error) {
	switch {
	case has && t == nil:
		return nil, fmt.Errorf("native: endpoint %s: %s body kind %s needs %s", ep, part, k, needs)
	case !has && t != nil:
		return nil, fmt.Errorf("native: endpoint %s: %s body kind %s has %s %v was given", ep, part, k, extra, t)
	case t == nil:
		return nil, nil
	}
	n, _, err := b.typeOf(t, true, "")
	if err != nil {
		return nil, fmt.Errorf("native: endpoint %s: %s%s: type %v: %s", ep, part, what, t, schemaErrText(err))
	}
	return n, nil
}

// typeOf returns the shape of t at path. addr says whether values there are
// addressable. plain reports a bool, number or string encoded by kind
// (not through a marshaling method), the only values `json:",string"`
// quotes.
func (b *schemaBuilder) typeOf(t reflect.Type, addr bool, path string) (n *schemaNode, plain bool, err error) {
	if t.Kind() == reflect.Pointer {
		var seen []reflect.Type
		for t.Kind() == reflect.Pointer {
			if slices.Contains(seen, t) {
				return nil, false, &schemaPathError{path, fmt.Sprintf("%v is a pointer to itself and cannot be encoded as JSON", t)}
			}
			seen = append(seen, t)
			t = t.Elem()
		}
		addr = true // what a pointer points to is addressable
	}
	if t == schemaTimeType {
		return &schemaNode{kind: KindTimestamp}, false, nil
	}
	iface := t.Kind() == reflect.Interface
	if t.Implements(schemaMarshalerType) {
		return &schemaNode{kind: KindAny}, false, nil
	}
	if !iface && reflect.PointerTo(t).Implements(schemaMarshalerType) {
		if !addr {
			return nil, false, schemaNonAddrError(path, t, "json.Marshaler", "MarshalJSON")
		}
		return &schemaNode{kind: KindAny}, false, nil
	}
	if t.Implements(schemaTextMarshalerType) {
		return &schemaNode{kind: KindString}, false, nil
	}
	if !iface && reflect.PointerTo(t).Implements(schemaTextMarshalerType) {
		if !addr {
			return nil, false, schemaNonAddrError(path, t, "encoding.TextMarshaler", "MarshalText")
		}
		return &schemaNode{kind: KindString}, false, nil
	}
	if t == schemaNumberType {
		// encoding/json writes a json.Number as a bare number literal.
		return &schemaNode{kind: KindFloat64}, true, nil
	}
	if k, ok := schemaScalarKind(t.Kind()); ok {
		return &schemaNode{kind: k}, true, nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return &schemaNode{kind: KindAny}, false, nil
	case reflect.Struct:
		m, err := b.message(t, path)
		if err == nil && !addr {
			err = b.checkNonAddr(t, path)
		}
		if err != nil {
			return nil, false, err
		}
		return &schemaNode{kind: KindMessage, msg: m}, false, nil
	case reflect.Slice:
		if e := reflect.PointerTo(t.Elem()); t.Elem().Kind() == reflect.Uint8 &&
			!e.Implements(schemaMarshalerType) && !e.Implements(schemaTextMarshalerType) {
			return &schemaNode{kind: KindBytes}, false, nil // base64, as encoding/json
		}
		return b.container(t, KindList, "", true, path)
	case reflect.Array:
		return b.container(t, KindList, "", addr, path)
	case reflect.Map:
		key, err := schemaMapKey(t.Key(), path)
		if err != nil {
			return nil, false, err
		}
		return b.container(t, KindMap, key, false, path) // map values are never addressable
	}
	return nil, false, &schemaPathError{path, fmt.Sprintf("%v cannot be encoded as JSON", t)}
}

// container returns the list or map shape of t, whose element is
// addressable when elemAddr is set.
func (b *schemaBuilder) container(t reflect.Type, kind, key Kind, elemAddr bool, path string) (*schemaNode, bool, error) {
	if b.inline[t] {
		return nil, false, &schemaPathError{path, fmt.Sprintf("%v contains itself without a struct in between, which no schema type describes", t)}
	}
	b.inline[t] = true
	defer delete(b.inline, t)
	elem, _, err := b.typeOf(t.Elem(), elemAddr, path+"[]")
	if err != nil {
		return nil, false, err
	}
	return &schemaNode{kind: kind, elem: elem, key: key}, false, nil
}

// schemaNonAddrError explains a pointer-receiver marshaling method that
// encoding/json cannot call at path.
func schemaNonAddrError(path string, t reflect.Type, iface, method string) error {
	return &schemaPathError{path, fmt.Sprintf(
		"%v implements %s only through (*%v).%s, which encoding/json does not call on map values and what they hold (they are not addressable), so the value would be written in another shape than it is read; use *%v or a value receiver",
		t, iface, t, method, t)}
}

// schemaScalarKind maps a bool, integer, float or string reflect kind to
// its Kind.
func schemaScalarKind(k reflect.Kind) (Kind, bool) {
	switch k {
	case reflect.Bool:
		return KindBool, true
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return KindInt32, true
	case reflect.Int, reflect.Int64:
		return KindInt64, true
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return KindUint32, true
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return KindUint64, true
	case reflect.Float32:
		return KindFloat32, true
	case reflect.Float64:
		return KindFloat64, true
	case reflect.String:
		return KindString, true
	}
	return "", false
}

// schemaMapKey returns the Key kind of a map with keys of type kt, in
// encoding/json's order of preference: string kind, TextMarshaler, integer.
func schemaMapKey(kt reflect.Type, path string) (Kind, error) {
	switch {
	case kt.Kind() == reflect.Interface:
		return "", &schemaPathError{path, fmt.Sprintf("map key type %v is an interface, which JSON cannot be decoded into", kt)}
	case kt.Kind() == reflect.String, kt.Implements(schemaTextMarshalerType):
		return KindString, nil
	case kt.Kind() != reflect.Bool && kt.Kind() != reflect.Float32 && kt.Kind() != reflect.Float64:
		if k, ok := schemaScalarKind(kt.Kind()); ok {
			return k, nil
		}
	}
	return "", &schemaPathError{path, fmt.Sprintf("map key type %v cannot be encoded as JSON: keys must be strings, integers or implement encoding.TextMarshaler", kt)}
}

// message returns the message for struct type t, building it the first time.
func (b *schemaBuilder) message(t reflect.Type, path string) (*schemaMsg, error) {
	if m, ok := b.msgs[t]; ok {
		return m, nil // built, or being built higher up a recursive type
	}
	if fp, name := schemaInvalidTagName(t, path, map[reflect.Type]bool{}); fp != "" {
		return nil, &schemaPathError{fp, fmt.Sprintf("json tag name %q is not one encoding/json accepts (letters, digits, spaces and !#$%%&()*+-./:;<=>?@[]^_{|}~), and Go releases disagree on what it does with it (1.26 uses the Go field name, 1.27 cuts it short); use a valid name", name)}
	}
	m := &schemaMsg{t: t, seq: len(b.order), jf: schemaJSONFields(t)}
	b.msgs[t] = m
	b.order = append(b.order, m)
	saved := b.inline
	b.inline = map[reflect.Type]bool{}
	defer func() { b.inline = saved }()

	nums, err := schemaFieldNumbers(m.jf, path)
	if err != nil {
		return nil, err
	}
	m.fields = make([]schemaMsgField, 0, len(m.jf))
	for i, f := range m.jf {
		fp := schemaFieldPath(path, f.goName)
		if f.unexportedPtr != nil {
			return nil, &schemaPathError{fp, fmt.Sprintf("promoted through an embedded pointer to the unexported struct type %v, which encoding/json cannot allocate when decoding; embed it by value or export it", f.unexportedPtr)}
		}
		n, plain, err := b.typeOf(f.typ, true, fp)
		if err != nil {
			return nil, err
		}
		m.fields = append(m.fields, schemaMsgField{
			name:     f.name,
			goName:   f.goName,
			node:     n,
			optional: f.viaPtr || f.typ.Kind() == reflect.Pointer,
			quoted:   f.quoted && plain,
			number:   nums[i],
		})
	}
	return m, nil
}

// checkNonAddr checks struct type t's fields where t's values are not
// addressable (see the file comment).
func (b *schemaBuilder) checkNonAddr(t reflect.Type, path string) error {
	if b.nonAddr[t] {
		return nil
	}
	b.nonAddr[t] = true
	saved := b.inline
	b.inline = map[reflect.Type]bool{}
	defer func() { b.inline = saved }()
	for _, f := range b.msgs[t].jf {
		// A field reached through an embedded pointer is addressable.
		if _, _, err := b.typeOf(f.typ, f.viaPtr, schemaFieldPath(path, f.goName)); err != nil {
			return err
		}
	}
	return nil
}
