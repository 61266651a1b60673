package gateway

// This file holds the tables that drive the transcoder, and links them to
// the descriptors once protodesc has built them. The tables come from the
// native schema, never from protojson's defaults: they know each field's
// native JSON name, Go-side optionality and `,string` quoting, and where
// proto needed a wrapper that the native JSON does not have.

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/framegate/framegate/native"
)

// valueCodec says how a value of one native type is held in proto.
type valueCodec struct {
	kind native.Kind
	key  native.Kind   // map key kind
	elem *valueCodec   // list element or map value
	msg  *messageCodec // for KindMessage
	// wrapper is, for a list or map type that is itself a list element or
	// a map value, the single field (values or entries) of its wrapper
	// message.
	wrapper protoreflect.FieldDescriptor
}

// fieldCodec is one field of a message: a native JSON member and the proto
// field that holds it.
type fieldCodec struct {
	jsonName string
	key      []byte // `"<jsonName>":` as encoding/json writes it
	fd       protoreflect.FieldDescriptor
	typ      *valueCodec
	// optional is set for Go pointer fields (and fields promoted through
	// an embedded pointer), whose presence the proto side keeps (proto3
	// optional, or message presence; lists and maps cannot). Without it,
	// an unset proto field and the Go zero value are the same thing.
	optional bool
	// quoted is set when `,string` applies: the field is tagged so and its
	// kind is a bool, number or string (encoding/json ignores the option
	// for other kinds).
	quoted bool
}

// messageCodec is a message: its descriptor and its fields in the order
// encoding/json writes them.
type messageCodec struct {
	name   string // schema message name, or proto name for synthesized ones
	desc   protoreflect.MessageDescriptor
	fields []fieldCodec
	// known maps the fields' JSON names to their index in fields.
	known map[string]int
}

// body locates the native JSON part of a request or response in its proto
// message: either the whole message (msg) or one field of it (field: the
// value field of a <Method>Request, the request field of an Upload, ...).
type body struct {
	msg   *messageCodec
	field *fieldCodec
}

// link builds the protoSet from the validated file: the resolver, the codec
// tables and the method table.
func (b *builder) link(file protoreflect.FileDescriptor) (*protoSet, error) {
	files := new(protoregistry.Files)
	if err := registerFile(files, file); err != nil {
		return nil, fmt.Errorf("gateway: registering the synthesized descriptors: %w", err)
	}
	codecs := make(map[string]*messageCodec, len(b.plans)) // by proto name
	for _, p := range b.plans {
		name := p.schema
		if name == "" {
			name = p.name
		}
		codecs[p.name] = &messageCodec{name: name, desc: file.Messages().ByName(protoreflect.Name(p.name))}
	}
	// One codec per shape: a type nested N deep is linked once per level,
	// not once per level at every level above it.
	var shapeCodec func(sh *shape) *valueCodec
	shapeCodec = func(sh *shape) *valueCodec {
		if sh.codec != nil {
			return sh.codec
		}
		c := &valueCodec{kind: sh.kind, key: sh.key}
		switch sh.kind {
		case native.KindMessage:
			c.msg = codecs[b.msgNames[sh.msg]]
		case native.KindList, native.KindMap:
			c.elem = shapeCodec(sh.elem)
			if sh.wrapper != "" {
				c.wrapper = codecs[sh.wrapper].desc.Fields().Get(0)
			}
		}
		sh.codec = c
		return c
	}
	valueOf := func(t *native.Type) *valueCodec { return shapeCodec(b.shapes.of(t)) }
	for _, p := range b.plans {
		c := codecs[p.name]
		c.fields = make([]fieldCodec, len(p.fields))
		c.known = make(map[string]int, len(p.fields))
		for i, f := range p.fields {
			c.known[f.jsonName] = i
			c.fields[i] = fieldCodec{
				jsonName: f.jsonName,
				key:      append(appendString(nil, f.jsonName, true), ':'),
				fd:       c.desc.Fields().Get(i),
				typ:      valueOf(f.typ),
				optional: f.optional,
				quoted:   f.quoted && isScalar(f.typ.Kind) && f.typ.Kind != native.KindBytes,
			}
		}
	}

	ps := &protoSet{pkg: b.pkg, schema: b.s, file: file, files: files, methods: map[string]*method{}, messages: map[string]*messageCodec{}}
	for _, p := range b.plans {
		if p.schema != "" {
			ps.messages[p.schema] = codecs[p.name]
		}
	}
	for i := 0; i < file.Services().Len(); i++ {
		ps.services = append(ps.services, file.Services().Get(i).FullName())
	}
	for _, mp := range b.methods {
		desc := file.Services().ByName(protoreflect.Name(mp.service)).Methods().ByName(protoreflect.Name(mp.name))
		m := &method{
			endpoint:        mp.endpoint,
			fullMethod:      fullMethodName(b.pkg, mp.service, mp.name),
			desc:            desc,
			in:              desc.Input(),
			out:             desc.Output(),
			clientStreaming: desc.IsStreamingClient(),
			serverStreaming: desc.IsStreamingServer(),
		}
		m.req, m.reqData = linkBody(mp.endpoint.Request, mp.endpoint.RequestType, mp.inPlan, codecs, ps.messages, m.in)
		m.resp, m.respData = linkBody(mp.endpoint.Response, mp.endpoint.ResponseType, mp.outPlan, codecs, ps.messages, m.out)
		m.reqMsg = linkMessages(mp.endpoint.Request, mp.endpoint.RequestMessage, mp.inPlan, codecs, ps.messages)
		m.respMsg = linkMessages(mp.endpoint.Response, mp.endpoint.ResponseMessage, mp.outPlan, codecs, ps.messages)
		ps.methods[m.fullMethod] = m
	}
	return ps, nil
}

// linkBody returns where the JSON part of a request or response of body
// kind k and type t lives in message md, and which field carries its stream
// chunks.
func linkBody(k native.BodyKind, t *native.Type, plan *msgPlan, codecs, schemaCodecs map[string]*messageCodec, md protoreflect.MessageDescriptor) (*body, protoreflect.FieldDescriptor) {
	switch k {
	case native.BodyJSON:
		if plan == nil {
			return &body{msg: schemaCodecs[t.Message]}, nil
		}
		return &body{field: &codecs[plan.name].fields[0]}, nil
	case native.BodyStream:
		return nil, md.Fields().ByName("data")
	case native.BodyJSONStream:
		c := codecs[plan.name]
		return &body{field: &c.fields[0]}, c.fields[1].fd
	case native.BodyJSONMessages:
		return &body{field: &codecs[plan.name].fields[0]}, nil
	}
	return nil, nil
}

// linkMessages returns where each message of a stream of messages of body
// kind k and message type t lives in the gRPC message: the whole message,
// the value of a synthesized wrapper, or an Input's message field. It is
// nil for other kinds.
func linkMessages(k native.BodyKind, t *native.Type, plan *msgPlan, codecs, schemaCodecs map[string]*messageCodec) *body {
	switch k {
	case native.BodyMessages:
		if plan == nil {
			return &body{msg: schemaCodecs[t.Message]}
		}
		return &body{field: &codecs[plan.name].fields[0]}
	case native.BodyJSONMessages:
		return &body{field: &codecs[plan.name].fields[1]}
	}
	return nil
}

// registerFile registers fd and, first, its imports, recursively.
func registerFile(files *protoregistry.Files, fd protoreflect.FileDescriptor) error {
	if _, err := files.FindFileByPath(fd.Path()); err == nil {
		return nil
	}
	imports := fd.Imports()
	for i := 0; i < imports.Len(); i++ {
		if err := registerFile(files, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return files.RegisterFile(fd)
}
