package gateway

// OpenAPI: one OpenAPI 3.0 document describing the REST front door, built
// from the same models as everything else: the native schema for the
// synthesized endpoints (whose JSON is encoding/json's: 64-bit integers are
// numbers), and the protobuf descriptors for the gateway's own API (whose
// JSON is protojson's: 64-bit integers are strings).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"

	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
	"github.com/framegate/framegate/native"
)

type jsonObj = map[string]any

// OpenAPI returns the OpenAPI 3.0 document of the REST front door as it is
// now: the gateway's own API and every mounted native endpoint.
func (g *Gateway) OpenAPI() ([]byte, error) {
	doc, err := g.set.Load().openAPI()
	return bytes.Clone(doc), err
}

// openAPIBuilds counts the OpenAPI documents built, for tests.
var openAPIBuilds atomic.Int64

// openAPI returns the OpenAPI document of the set, built on first use and
// kept with the set: a mount swaps in a new set, and with it a new
// document. The result is shared: do not modify it.
func (set *protoSet) openAPI() ([]byte, error) {
	set.openapiOnce.Do(func() { set.openapi, set.openapiErr = buildOpenAPI(set) })
	return set.openapi, set.openapiErr
}

// buildOpenAPI builds the OpenAPI document of set.
func buildOpenAPI(set *protoSet) ([]byte, error) {
	openAPIBuilds.Add(1)
	schema := set.schema
	b := &openAPIBuilder{params: map[string][]any{}, schemas: jsonObj{}, native: schema, seenProto: map[protoreflect.FullName]bool{}}
	paths := jsonObj{}
	b.apiPaths(paths)
	for _, m := range sortedMethods(set) {
		paths[m.fullMethod] = b.endpointPath(m)
	}
	b.schemas["google.rpc.Status"] = jsonObj{
		"type": "object",
		"properties": jsonObj{
			"code":    jsonObj{"type": "integer", "format": "int32", "description": "gRPC status code"},
			"message": jsonObj{"type": "string"},
			"details": jsonObj{"type": "array", "items": jsonObj{"type": "object"}},
		},
	}
	doc := jsonObj{
		"openapi": "3.0.3",
		"info": jsonObj{
			"title":       "framegate gateway",
			"version":     "1",
			"description": "Native endpoints over REST: POST a JSON body (or GET with query parameters) to /<package>.<Service>/<Method>. Response streams are raw bytes ended by a Grpc-Status trailer; request streams are the raw request body. Streams of messages are newline-delimited JSON or Server-Sent Events, and WebSockets when the client sends messages.",
		},
		"paths":      paths,
		"components": jsonObj{"schemas": b.schemas},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (g *Gateway) serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	b, err := g.set.Load().openAPI()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

type openAPIBuilder struct {
	params    map[string][]any // query parameters by request message
	schemas   jsonObj
	native    *native.Schema
	seenProto map[protoreflect.FullName]bool
}

var errorResponse = jsonObj{
	"description": "An error: the gRPC status as JSON, with the HTTP status mapped from its code.",
	"content":     jsonObj{"application/json": jsonObj{"schema": ref("google.rpc.Status")}},
}

func ref(name string) jsonObj { return jsonObj{"$ref": "#/components/schemas/" + name} }

// nativeName is the component name of a native schema message.
func nativeName(msg string) string { return "native." + componentSafe.ReplaceAllString(msg, "_") }

var componentSafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// endpointPath describes one native endpoint.
func (b *openAPIBuilder) endpointPath(m *method) jsonObj {
	ep := m.endpoint
	ok := jsonObj{"description": "The response."}
	if ep.Response.HasMessages() {
		ok["description"] = "The response stream of messages, each sent as it is produced: newline-delimited JSON, one {\"result\": message} line each," +
			" a failure after the first ending with an {\"error\": status} line and an aborted transfer, a clean end with the trailer Grpc-Status: 0." +
			" With Accept: text/event-stream, Server-Sent Events: data: message (id: its top-level id member, if any), event: end or event: error with the status last;" +
			" Last-Event-ID reaches the handler as request metadata last-event-id."
		ok["content"] = jsonObj{
			"application/x-ndjson": jsonObj{"schema": jsonObj{"type": "object", "properties": jsonObj{
				"result": b.nativeType(ep.ResponseMessage), "error": ref("google.rpc.Status")}}},
			"text/event-stream": jsonObj{"schema": jsonObj{"type": "string"}},
		}
	} else if ep.Response.HasStream() {
		ok["description"] = "The response stream, raw, as it is produced; a complete stream ends with the trailer Grpc-Status: 0, a broken one with an aborted transfer."
		ok["content"] = jsonObj{"application/octet-stream": jsonObj{"schema": jsonObj{"type": "string", "format": "binary"}}}
	} else {
		ok["content"] = jsonObj{"application/json": jsonObj{"schema": b.nativeType(ep.ResponseType)}}
	}
	responses := jsonObj{"200": ok, "default": errorResponse}
	base := func(summary string) jsonObj {
		return jsonObj{"operationId": m.fullMethod[1:] + "_" + summary, "summary": ep.Name + " (" + summary + ")", "responses": responses}
	}
	params := b.queryParams(ep.RequestType)
	withParams := func(op jsonObj) jsonObj {
		if len(params) > 0 {
			op["parameters"] = params
		}
		return op
	}
	// The operations are exactly the methods that reach the endpoint
	// (allowedMethods): GET and HEAD only when it is safe.
	item := jsonObj{}
	for _, meth := range allowedMethods(m) {
		switch {
		case ep.Request.HasMessages():
			// OpenAPI 3.0 cannot describe a WebSocket: the operation
			// says what it carries.
			op := withParams(base("websocket"))
			op["description"] = "A WebSocket (GET with Upgrade: websocket): the client sends one JSON text message per message (an empty one ends its side;" +
				" the request from the query, or else the first message), and receives {\"result\": message} for each message of the response," +
				" then one {\"status\": status, \"trailer\": {...}} before a normal close."
			op["responses"] = jsonObj{"101": jsonObj{"description": "Switching Protocols: the WebSocket."}, "default": errorResponse}
			item["get"] = op
		case meth == http.MethodGet:
			item["get"] = withParams(base("get"))
		case meth == http.MethodHead:
			head := withParams(base("head"))
			head["responses"] = jsonObj{"200": jsonObj{"description": "The headers a GET would answer, without the body."}, "default": errorResponse}
			item["head"] = head
		case ep.Request.HasStream():
			op := withParams(base("upload"))
			if meth == http.MethodPost {
				op = withParams(base("upload_post")) // operation ids are unique
			}
			op["requestBody"] = jsonObj{"required": true, "description": "The request stream, read as it arrives.",
				"content": jsonObj{"application/octet-stream": jsonObj{"schema": jsonObj{"type": "string", "format": "binary"}}}}
			item[strings.ToLower(meth)] = op
		case ep.Request.HasJSON():
			op := base("post")
			op["requestBody"] = jsonObj{"required": true, "content": jsonObj{"application/json": jsonObj{"schema": b.nativeType(ep.RequestType)}}}
			item["post"] = op
		default:
			item["post"] = base("post")
		}
	}
	return item
}

// maxQueryParams is the most query parameters listed one by one for an
// operation; a request message with more query fields is described by one
// exploded object parameter instead, so that a message of F fields used by
// E endpoints costs the document E entries, not E×F.
const maxQueryParams = 64

// queryParams lists the top-level fields of a request message as query
// parameters (nested fields are reachable with dotted names, but OpenAPI
// 3.0 cannot list them all). The list is built once per message and shared
// by the operations that use it.
func (b *openAPIBuilder) queryParams(t *native.Type) []any {
	if t == nil || t.Kind != native.KindMessage || b.native == nil {
		return nil
	}
	if ps, ok := b.params[t.Message]; ok {
		return ps
	}
	msg := b.native.Messages[t.Message]
	if msg == nil {
		return nil
	}
	var out []any
	for _, f := range msg.Fields {
		switch f.Type.Kind {
		case native.KindMessage, native.KindMap, native.KindAny:
			continue
		case native.KindList:
			if f.Type.Elem == nil || f.Type.Elem.Kind == native.KindMessage {
				continue
			}
		}
		if len(out) == maxQueryParams {
			out = []any{jsonObj{"name": "fields", "in": "query", "required": false, "style": "form", "explode": true,
				"description": "The scalar fields of the request, each a query parameter named after it.",
				"schema":      b.nativeType(t)}}
			break
		}
		out = append(out, jsonObj{"name": f.Name, "in": "query", "required": false, "schema": b.nativeType(&f.Type)})
	}
	b.params[t.Message] = out
	return out
}

// nativeType is the JSON schema of a native type, as encoding/json writes it.
func (b *openAPIBuilder) nativeType(t *native.Type) jsonObj {
	if t == nil {
		return jsonObj{"type": "object"}
	}
	switch t.Kind {
	case native.KindBool:
		return jsonObj{"type": "boolean"}
	case native.KindInt32:
		return jsonObj{"type": "integer", "format": "int32"}
	case native.KindInt64:
		return jsonObj{"type": "integer", "format": "int64"}
	case native.KindUint32:
		return jsonObj{"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295}
	case native.KindUint64:
		return jsonObj{"type": "integer", "minimum": 0, "description": "unsigned 64-bit integer"}
	case native.KindFloat32:
		return jsonObj{"type": "number", "format": "float"}
	case native.KindFloat64:
		return jsonObj{"type": "number", "format": "double"}
	case native.KindString:
		return jsonObj{"type": "string"}
	case native.KindBytes:
		return jsonObj{"type": "string", "format": "byte", "nullable": true}
	case native.KindTimestamp:
		return jsonObj{"type": "string", "format": "date-time"}
	case native.KindAny:
		return jsonObj{"description": "any JSON value"}
	case native.KindList:
		return jsonObj{"type": "array", "items": b.nativeType(t.Elem), "nullable": true}
	case native.KindMap:
		return jsonObj{"type": "object", "additionalProperties": b.nativeType(t.Elem), "nullable": true}
	case native.KindMessage:
		name := nativeName(t.Message)
		if _, done := b.schemas[name]; !done {
			b.schemas[name] = jsonObj{} // placeholder for recursion
			b.schemas[name] = b.nativeMessage(t.Message)
		}
		return ref(name)
	}
	return jsonObj{}
}

func (b *openAPIBuilder) nativeMessage(name string) jsonObj {
	props := jsonObj{}
	if b.native != nil && b.native.Messages[name] != nil {
		for _, f := range b.native.Messages[name].Fields {
			s := b.nativeType(&f.Type)
			if f.Quoted {
				s = jsonObj{"type": "string", "description": "a " + string(f.Type.Kind) + " inside a JSON string"}
			}
			if f.Optional {
				if _, isRef := s["$ref"]; isRef {
					s = jsonObj{"allOf": []any{s}, "nullable": true}
				} else {
					s["nullable"] = true
				}
			}
			props[f.Name] = s
		}
	}
	return jsonObj{"type": "object", "properties": props, "description": "Go type " + name}
}

// apiPaths describes the gateway's own API from its descriptors.
func (b *openAPIBuilder) apiPaths(paths jsonObj) {
	svc := gatewayv1.File_framegate_gateway_v1_gateway_proto.Services().ByName("GatewayService")
	list := svc.Methods().ByName("ListEndpoints")
	get := svc.Methods().ByName("GetSchema")
	paths["/v1/endpoints"] = jsonObj{"get": jsonObj{
		"operationId": "GatewayService_ListEndpoints",
		"summary":     "List every native endpoint the gateway exposes.",
		"responses":   jsonObj{"200": b.protoResponse(list.Output()), "default": errorResponse},
	}}
	paths["/v1/endpoints/{name}"] = jsonObj{"get": jsonObj{
		"operationId": "GatewayService_GetSchema",
		"summary":     "Describe one endpoint and its types.",
		"parameters":  []any{jsonObj{"name": "name", "in": "path", "required": true, "schema": jsonObj{"type": "string"}}},
		"responses":   jsonObj{"200": b.protoResponse(get.Output()), "default": errorResponse},
	}}
}

func (b *openAPIBuilder) protoResponse(md protoreflect.MessageDescriptor) jsonObj {
	return jsonObj{"description": "OK", "content": jsonObj{"application/json": jsonObj{"schema": b.protoMessage(md)}}}
}

// protoMessage is the JSON schema of a message as protojson writes it.
func (b *openAPIBuilder) protoMessage(md protoreflect.MessageDescriptor) jsonObj {
	switch md.FullName() {
	case "google.protobuf.Struct":
		return jsonObj{"type": "object", "additionalProperties": true}
	case "google.protobuf.Value":
		return jsonObj{"description": "any JSON value"}
	case "google.protobuf.ListValue":
		return jsonObj{"type": "array", "items": jsonObj{}}
	case "google.protobuf.Timestamp":
		return jsonObj{"type": "string", "format": "date-time"}
	case "google.protobuf.Duration":
		return jsonObj{"type": "string"}
	}
	name := string(md.FullName())
	if !b.seenProto[md.FullName()] {
		b.seenProto[md.FullName()] = true
		props := jsonObj{}
		fs := md.Fields()
		for i := range fs.Len() {
			fd := fs.Get(i)
			var s jsonObj
			switch {
			case fd.IsMap():
				s = jsonObj{"type": "object", "additionalProperties": b.protoField(fd.MapValue())}
			case fd.IsList():
				s = jsonObj{"type": "array", "items": b.protoField(fd)}
			default:
				s = b.protoField(fd)
			}
			props[fd.JSONName()] = s
		}
		b.schemas[name] = jsonObj{"type": "object", "properties": props}
	}
	return ref(name)
}

func (b *openAPIBuilder) protoField(fd protoreflect.FieldDescriptor) jsonObj {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return jsonObj{"type": "boolean"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return jsonObj{"type": "integer", "format": "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return jsonObj{"type": "integer", "format": "int64", "minimum": 0}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return jsonObj{"type": "string", "format": "int64"}
	case protoreflect.FloatKind:
		return jsonObj{"type": "number", "format": "float"}
	case protoreflect.DoubleKind:
		return jsonObj{"type": "number", "format": "double"}
	case protoreflect.StringKind:
		return jsonObj{"type": "string"}
	case protoreflect.BytesKind:
		return jsonObj{"type": "string", "format": "byte"}
	case protoreflect.EnumKind:
		var vals []any
		ev := fd.Enum().Values()
		for i := range ev.Len() {
			vals = append(vals, string(ev.Get(i).Name()))
		}
		sort.Slice(vals, func(i, j int) bool { return vals[i].(string) < vals[j].(string) })
		return jsonObj{"type": "string", "enum": vals}
	}
	return b.protoMessage(fd.Message())
}
