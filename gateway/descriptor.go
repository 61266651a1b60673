package gateway

// This file builds protobuf descriptors from the native schema model.
//
// All services and messages of one proto package go into one synthesized
// proto3 file, "<pkg with dots as slashes>/native_endpoints.proto", built as
// a descriptorpb.FileDescriptorProto and validated by protodesc.NewFile.
// Messages are created with dynamicpb. Names follow names.go, field types
// fieldtypes.go.
//
// Methods (request and response body kinds):
//
//	request none        input google.protobuf.Empty
//	request json        input the message, or for any other type the
//	                    synthesized `<Method>Request { <type> value = 1; }`
//	request stream      client streaming, input google.api.HttpBody; each
//	                    message's data is the next chunk
//	request json+stream client streaming, input
//	                    `<Service><Method>Upload { <type> request = 1; bytes data = 2; }`:
//	                    the first message carries request (and may carry
//	                    data), later ones only data
//	response none       output google.protobuf.Empty
//	response json       output the message, or `<Method>Response { <type> value = 1; }`
//	response stream     server streaming, output google.api.HttpBody
//	response json+stream server streaming, output
//	                    `<Service><Method>Download { <type> response = 1; bytes data = 2; }`,
//	                    the mirror image of Upload
//	request messages    client streaming, input the message type, or
//	                    `<Method>Request { <type> value = 1; }`: one gRPC
//	                    message per native message
//	request json+messages client streaming, input
//	                    `<Service><Method>Input { <type> request = 1; <msg type> message = 2; }`:
//	                    the first message carries request (and may carry
//	                    message), later ones only message
//	response messages   server streaming, output the message type, or
//	                    `<Method>Response { <type> value = 1; }`: one gRPC
//	                    message per native message
//
// `<Method>Request` and `<Method>Response` fall back to
// `<Service><Method>Request`/`Response` when the short name is taken.

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The well-known files the synthesized file imports must be in
	// protoregistry.GlobalFiles.
	_ "google.golang.org/genproto/googleapis/api/httpbody"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"

	"github.com/framegate/framegate/native"
)

// The imported files and the well-known message names.
const (
	timestampFile = "google/protobuf/timestamp.proto"
	structFile    = "google/protobuf/struct.proto"
	emptyFile     = "google/protobuf/empty.proto"
	httpBodyFile  = "google/api/httpbody.proto"

	timestampName = ".google.protobuf.Timestamp"
	valueName     = ".google.protobuf.Value"
	emptyName     = ".google.protobuf.Empty"
	httpBodyName  = ".google.api.HttpBody"
)

// protoSet is the protobuf view of one native schema: the synthesized file,
// a resolver for it and its imports, and the method table. It is immutable
// once built; the server swaps a whole new one in when endpoints change.
type protoSet struct {
	pkg      string
	schema   *native.Schema // what it was built from
	file     protoreflect.FileDescriptor
	files    *protoregistry.Files     // file and, recursively, its imports
	services []protoreflect.FullName  // sorted
	methods  map[string]*method       // by full method, "/native.Store/List"
	messages map[string]*messageCodec // by schema message name

	openapiOnce sync.Once // builds openapi on first use
	openapi     []byte
	openapiErr  error

	webOnce sync.Once               // builds web on first use
	web     map[string]http.Handler // connect-go handlers by full method (webrpc.go)

	apiOnce    sync.Once // builds the rest on first use, for the gateway API
	sorted     []*method // by endpoint name
	byEndpoint map[string]*method
	fileSet    *descriptorpb.FileDescriptorSet // file and its imports; shared, read-only
}

// fileDescriptors returns the synthesized files (one per proto package).
func (p *protoSet) fileDescriptors() []protoreflect.FileDescriptor {
	return []protoreflect.FileDescriptor{p.file}
}

// resolver resolves the synthesized files, their declarations and their
// imports, for reflection.
func (p *protoSet) resolver() *protoregistry.Files { return p.files }

// serviceNames returns the full names of the synthesized services, sorted.
func (p *protoSet) serviceNames() []protoreflect.FullName { return p.services }

// lookup returns the method for a gRPC full method name, or nil.
func (p *protoSet) lookup(fullMethod string) *method { return p.methods[fullMethod] }

// method is one native endpoint seen as a gRPC method.
type method struct {
	endpoint        native.Endpoint
	fullMethod      string // "/native.Store/List"
	desc            protoreflect.MethodDescriptor
	in, out         protoreflect.MessageDescriptor
	clientStreaming bool
	serverStreaming bool

	// req and resp locate the JSON parts; nil when there is none.
	req, resp *body
	// reqData and respData are the bytes fields that carry stream chunks
	// (HttpBody.data, Upload.data, Download.data); nil without a stream.
	reqData, respData protoreflect.FieldDescriptor
	// reqMsg and respMsg locate each message of a stream of messages; nil
	// without one.
	reqMsg, respMsg *body
	// The wire codecs of value calls to an in-process backend
	// (grpcvalue.go).
	methodValues
}

// msgPlan describes one message to synthesize before its descriptor exists.
type msgPlan struct {
	name    string // proto name, in the package
	schema  string // schema message name; "" for synthesized messages
	comment string
	fields  []fieldPlan
}

// fieldPlan describes one field of a msgPlan.
type fieldPlan struct {
	jsonName string // native JSON name; the proto name derives from it
	typ      *native.Type
	optional bool // native Optional; proto3 optional only for scalars
	quoted   bool
	number   int32 // native Number; 0 numbers the field by position
}

// methodPlan describes one method before its descriptor exists.
type methodPlan struct {
	endpoint         native.Endpoint
	service, name    string
	in, out          string   // type names, fully qualified with a leading dot
	inPlan, outPlan  *msgPlan // synthesized input/output messages, nil otherwise
	cStream, sStream bool
}

// builder holds the state of one buildProtoSet call.
type builder struct {
	s        *native.Schema
	pkg      string
	names    *nameTable
	msgNames map[string]string // schema message name -> proto name
	shapes   *shapeTable
	imports  map[string]bool
	plans    []*msgPlan // every message, in file order
	methods  []*methodPlan
}

// buildProtoSet builds the descriptors and method table for schema s in
// proto package pkg ("" means DefaultPackage), refusing a schema past lim.
// It stops with ctx's error once ctx is done (checked between its steps,
// each linear in the schema's size).
func buildProtoSet(ctx context.Context, s *native.Schema, pkg string, lim SchemaLimits) (*protoSet, error) {
	if pkg == "" {
		pkg = DefaultPackage
	}
	if err := checkPackage(pkg); err != nil {
		return nil, err
	}
	if err := checkSchema(ctx, s, lim); err != nil {
		return nil, err
	}
	if err := checkFieldNumbers(s); err != nil {
		return nil, err
	}
	b := &builder{s: s, pkg: pkg, names: newNameTable(), shapes: newShapeTable(), imports: map[string]bool{}}
	if err := b.planMethods(); err != nil {
		return nil, err
	}
	var err error
	if b.msgNames, err = messageNames(s.Messages, b.names); err != nil {
		return nil, err
	}
	b.planMessages()
	b.planMethodMessages()
	if err := interrupted(ctx); err != nil {
		return nil, err
	}
	fdp := b.fileProto()
	if err := interrupted(ctx); err != nil {
		return nil, err
	}
	file, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("gateway: invalid synthesized descriptor: %w", err)
	}
	if err := interrupted(ctx); err != nil {
		return nil, err
	}
	return b.link(file)
}

// interrupted is the error of a build whose ctx is done, nil while it is
// not.
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("gateway: building descriptors: %w", context.Cause(ctx))
}

// planMethods maps every endpoint to a service and method, claims the
// service names and rejects two endpoints with one gRPC method.
func (b *builder) planMethods() error {
	seen := map[string]string{} // full method -> endpoint name
	for _, ep := range b.s.Endpoints {
		svc, name := endpointNames(ep.Name)
		full := fullMethodName(b.pkg, svc, name)
		if prev, ok := seen[full]; ok {
			return fmt.Errorf("gateway: endpoints %q and %q both map to %s", prev, ep.Name, full)
		}
		seen[full] = ep.Name
		b.names.claim(svc, fmt.Sprintf("service %q (endpoint %q)", svc, ep.Name))
		b.methods = append(b.methods, &methodPlan{endpoint: ep, service: svc, name: name})
	}
	sort.Slice(b.methods, func(i, j int) bool {
		mi, mj := b.methods[i], b.methods[j]
		if mi.service != mj.service {
			return mi.service < mj.service
		}
		return mi.name < mj.name
	})
	return nil
}

// planMessages plans every schema message, sorted by proto name.
func (b *builder) planMessages() {
	keys := make([]string, 0, len(b.s.Messages))
	for k := range b.s.Messages {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return b.msgNames[keys[i]] < b.msgNames[keys[j]] })
	for _, k := range keys {
		m := b.s.Messages[k]
		p := &msgPlan{name: b.msgNames[k], schema: k, comment: fmt.Sprintf(" Native message %q.", k)}
		for i := range m.Fields {
			f := &m.Fields[i]
			p.fields = append(p.fields, fieldPlan{jsonName: f.Name, typ: &f.Type, optional: f.Optional, quoted: f.Quoted, number: f.Number})
		}
		b.plans = append(b.plans, p)
	}
}

// planMethodMessages plans the synthesized request and response messages
// and picks every method's input and output type.
func (b *builder) planMethodMessages() {
	for _, mp := range b.methods {
		ep := mp.endpoint
		owner := fmt.Sprintf("endpoint %q", ep.Name)
		switch ep.Request {
		case native.BodyNone:
			mp.in = b.use(emptyFile, emptyName)
		case native.BodyJSON:
			if ep.RequestType.Kind == native.KindMessage {
				mp.in = b.qualify(b.msgNames[ep.RequestType.Message])
				break
			}
			mp.inPlan = b.synth(owner+" request", fmt.Sprintf(" Request of native endpoint %q, whose JSON body is the bare value.", ep.Name),
				fieldPlan{jsonName: "value", typ: ep.RequestType}, mp.name+"Request", mp.service+mp.name+"Request")
		case native.BodyStream:
			mp.in, mp.cStream = b.use(httpBodyFile, httpBodyName), true
		case native.BodyMessages:
			mp.in, mp.inPlan = b.messageOrWrapper(ep.RequestMessage, owner+" request messages",
				fmt.Sprintf(" Message of the client stream of native endpoint %q, whose messages are bare values.", ep.Name),
				mp.name+"Request", mp.service+mp.name+"Request")
			mp.cStream = true
		case native.BodyJSONMessages:
			mp.inPlan = b.synth(owner+" input", fmt.Sprintf(" Client stream of native endpoint %q. The first message carries request\n"+
				" (the JSON value) and may carry message; later messages carry only message,\n the next message of the stream.", ep.Name),
				fieldPlan{jsonName: "request", typ: ep.RequestType}, mp.service+mp.name+"Input")
			mp.inPlan.fields = append(mp.inPlan.fields, fieldPlan{jsonName: "message", typ: ep.RequestMessage, optional: true})
			mp.cStream = true
		case native.BodyJSONStream:
			mp.inPlan = b.synth(owner+" upload", fmt.Sprintf(" Client stream of native endpoint %q. The first message carries request\n"+
				" (the JSON body) and may carry data; later messages carry only data, the\n next chunk of the byte stream.", ep.Name),
				fieldPlan{jsonName: "request", typ: ep.RequestType}, mp.service+mp.name+"Upload")
			mp.inPlan.fields = append(mp.inPlan.fields, fieldPlan{jsonName: "data", typ: &native.Type{Kind: native.KindBytes}})
			mp.cStream = true
		}
		switch ep.Response {
		case native.BodyNone:
			mp.out = b.use(emptyFile, emptyName)
		case native.BodyJSON:
			if ep.ResponseType.Kind == native.KindMessage {
				mp.out = b.qualify(b.msgNames[ep.ResponseType.Message])
				break
			}
			mp.outPlan = b.synth(owner+" response", fmt.Sprintf(" Response of native endpoint %q, whose JSON body is the bare value.", ep.Name),
				fieldPlan{jsonName: "value", typ: ep.ResponseType}, mp.name+"Response", mp.service+mp.name+"Response")
		case native.BodyStream:
			mp.out, mp.sStream = b.use(httpBodyFile, httpBodyName), true
		case native.BodyMessages:
			mp.out, mp.outPlan = b.messageOrWrapper(ep.ResponseMessage, owner+" response messages",
				fmt.Sprintf(" Message of the server stream of native endpoint %q, whose messages are bare values.", ep.Name),
				mp.name+"Response", mp.service+mp.name+"Response")
			mp.sStream = true
		case native.BodyJSONStream:
			mp.outPlan = b.synth(owner+" download", fmt.Sprintf(" Server stream of native endpoint %q. The first message carries response\n"+
				" (the JSON body) and may carry data; later messages carry only data, the\n next chunk of the byte stream.", ep.Name),
				fieldPlan{jsonName: "response", typ: ep.ResponseType}, mp.service+mp.name+"Download")
			mp.outPlan.fields = append(mp.outPlan.fields, fieldPlan{jsonName: "data", typ: &native.Type{Kind: native.KindBytes}})
			mp.sStream = true
		}
		if mp.inPlan != nil {
			mp.in = b.qualify(mp.inPlan.name)
		}
		if mp.outPlan != nil {
			mp.out = b.qualify(mp.outPlan.name)
		}
	}
}

// messageOrWrapper returns the type of the gRPC messages of a stream of
// native messages of type t: the schema message itself, or a synthesized
// message whose one field, value, holds t (named by the first free
// candidate), with its plan.
func (b *builder) messageOrWrapper(t *native.Type, owner, comment string, candidates ...string) (string, *msgPlan) {
	if t.Kind == native.KindMessage {
		return b.qualify(b.msgNames[t.Message]), nil
	}
	return "", b.synth(owner, comment, fieldPlan{jsonName: "value", typ: t}, candidates...)
}

// synth plans a synthesized message with one field, named by the first free
// candidate.
func (b *builder) synth(owner, comment string, f fieldPlan, candidates ...string) *msgPlan {
	p := &msgPlan{name: b.names.pick(owner, candidates...), comment: comment, fields: []fieldPlan{f}}
	b.plans = append(b.plans, p)
	return p
}

// use records an import and returns name.
func (b *builder) use(file, name string) string {
	b.imports[file] = true
	return name
}

// qualify returns the fully qualified type name of a message of the package.
func (b *builder) qualify(name string) string { return "." + b.pkg + "." + name }

// fileProto builds the file descriptor proto from the plans. Wrapper plans
// are appended while the loop runs.
func (b *builder) fileProto() *descriptorpb.FileDescriptorProto {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:           proto.String(strings.ReplaceAll(b.pkg, ".", "/") + "/native_endpoints.proto"),
		Package:        proto.String(b.pkg),
		Syntax:         proto.String("proto3"),
		SourceCodeInfo: &descriptorpb.SourceCodeInfo{},
	}
	comment := func(text string, path ...int32) {
		fdp.SourceCodeInfo.Location = append(fdp.SourceCodeInfo.Location, &descriptorpb.SourceCodeInfo_Location{
			Path: path, Span: []int32{0, 0, 0}, LeadingComments: proto.String(text + "\n"),
		})
	}
	for i := 0; i < len(b.plans); i++ {
		fdp.MessageType = append(fdp.MessageType, b.messageProto(b.plans[i]))
		comment(b.plans[i].comment, 4, int32(i))
	}
	var svc *descriptorpb.ServiceDescriptorProto
	for _, mp := range b.methods {
		if svc == nil || svc.GetName() != mp.service {
			svc = &descriptorpb.ServiceDescriptorProto{Name: proto.String(mp.service)}
			fdp.Service = append(fdp.Service, svc)
			comment(fmt.Sprintf(" Native endpoints of service %q.", mp.service), 6, int32(len(fdp.Service)-1))
		}
		m := &descriptorpb.MethodDescriptorProto{
			Name:       proto.String(mp.name),
			InputType:  proto.String(mp.in),
			OutputType: proto.String(mp.out),
		}
		if mp.cStream {
			m.ClientStreaming = proto.Bool(true)
		}
		if mp.sStream {
			m.ServerStreaming = proto.Bool(true)
		}
		switch {
		case mp.endpoint.Safe:
			m.Options = &descriptorpb.MethodOptions{IdempotencyLevel: descriptorpb.MethodOptions_NO_SIDE_EFFECTS.Enum()}
		case mp.endpoint.Idempotent:
			m.Options = &descriptorpb.MethodOptions{IdempotencyLevel: descriptorpb.MethodOptions_IDEMPOTENT.Enum()}
		}
		svc.Method = append(svc.Method, m)
		comment(fmt.Sprintf(" Native endpoint %q: request %s, response %s.", mp.endpoint.Name, mp.endpoint.Request, mp.endpoint.Response),
			6, int32(len(fdp.Service)-1), 2, int32(len(svc.Method)-1))
	}
	for _, f := range []string{emptyFile, httpBodyFile, structFile, timestampFile} {
		if b.imports[f] {
			fdp.Dependency = append(fdp.Dependency, f)
		}
	}
	return fdp
}

// messageProto builds the descriptor proto of one planned message.
func (b *builder) messageProto(p *msgPlan) *descriptorpb.DescriptorProto {
	jsonNames := make([]string, len(p.fields))
	isMap := make([]bool, len(p.fields))
	optional := make([]bool, len(p.fields))
	numbers := make([]int32, len(p.fields))
	for i, f := range p.fields {
		jsonNames[i], isMap[i] = f.jsonName, f.typ.Kind == native.KindMap
		optional[i] = f.optional && isScalar(f.typ.Kind)
		numbers[i] = fieldNumber(f.number, i)
	}
	names, oneofs := fieldNames(jsonNames, numbers, isMap, optional)
	dp := &descriptorpb.DescriptorProto{Name: proto.String(p.name)}
	for i := range p.fields {
		f := &p.fields[i]
		fp := &descriptorpb.FieldDescriptorProto{
			Name:     proto.String(names[i]),
			Number:   proto.Int32(numbers[i]),
			JsonName: proto.String(f.jsonName),
		}
		b.setFieldType(fp, f.typ, dp, b.qualify(p.name))
		if oneofs[i] != "" {
			fp.Proto3Optional = proto.Bool(true)
			fp.OneofIndex = proto.Int32(int32(len(dp.OneofDecl)))
			dp.OneofDecl = append(dp.OneofDecl, &descriptorpb.OneofDescriptorProto{Name: proto.String(oneofs[i])})
		}
		dp.Field = append(dp.Field, fp)
	}
	return dp
}
