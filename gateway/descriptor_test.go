package gateway

import (
	"context"
	"math/rand"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/framegate/framegate/native"
)

func mustBuild(t testing.TB, s *native.Schema, pkg string) *protoSet {
	t.Helper()
	ps, err := buildProtoSet(context.Background(), s, pkg, DefaultSchemaLimits)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestMethodShapes(t *testing.T) {
	ps := mustBuild(t, testSchema(), "")
	for _, tc := range []struct {
		full             string
		in, out          string
		cStream, sStream bool
		reqData, resData string // full names of the stream chunk fields
	}{
		{"/native.Echo/Rich", "native.Rich", "native.Rich", false, false, "", ""},
		{"/native.Echo/Grid", "native.GridRequest", "native.GridResponse", false, false, "", ""},
		{"/native.Echo/Text", "native.TextRequest", "native.TextResponse", false, false, "", ""},
		{"/native.Echo/Any", "native.AnyRequest", "native.AnyResponse", false, false, "", ""},
		{"/native.Store/List", "native.ListRequest", "google.api.HttpBody", false, true, "", "google.api.HttpBody.data"},
		{"/native.Store/Put", "native.StorePutUpload", "google.protobuf.Empty", true, false, "native.StorePutUpload.data", ""},
		{"/native.Store/Append", "native.StoreAppendUpload", "native.AppendResponse", true, false, "native.StoreAppendUpload.data", ""},
		{"/native.Store/Raw", "google.api.HttpBody", "google.api.HttpBody", true, true, "google.api.HttpBody.data", "google.api.HttpBody.data"},
		{"/native.Store/Get", "native.GetRequest", "native.StoreGetDownload", false, true, "", "native.StoreGetDownload.data"},
		{"/native.Store/Stat", "google.protobuf.Empty", "native.Other", false, false, "", ""},
		{"/native.Default/Ping", "google.protobuf.Empty", "google.protobuf.Empty", false, false, "", ""},
		// "ListRequest" is a schema message, so the wrapper takes the longer name.
		{"/native.files_v1_Store/List", "native.files_v1_StoreListRequest", "native.Inner", false, false, "", ""},
		{"/native.files_v1_Store/Touch", "native.TouchRequest", "native.TouchResponse", false, false, "", ""},
	} {
		m := ps.lookup(tc.full)
		if m == nil {
			t.Errorf("%s: no method", tc.full)
			continue
		}
		if got := string(m.in.FullName()); got != tc.in {
			t.Errorf("%s: input %s, want %s", tc.full, got, tc.in)
		}
		if got := string(m.out.FullName()); got != tc.out {
			t.Errorf("%s: output %s, want %s", tc.full, got, tc.out)
		}
		if m.desc.Input() != m.in || m.desc.Output() != m.out {
			t.Errorf("%s: in/out differ from the method descriptor", tc.full)
		}
		if m.clientStreaming != tc.cStream || m.desc.IsStreamingClient() != tc.cStream {
			t.Errorf("%s: client streaming %v, want %v", tc.full, m.clientStreaming, tc.cStream)
		}
		if m.serverStreaming != tc.sStream || m.desc.IsStreamingServer() != tc.sStream {
			t.Errorf("%s: server streaming %v, want %v", tc.full, m.serverStreaming, tc.sStream)
		}
		fullName := func(fd protoreflect.FieldDescriptor) string {
			if fd == nil {
				return ""
			}
			return string(fd.FullName())
		}
		if got := fullName(m.reqData); got != tc.reqData {
			t.Errorf("%s: request data field %q, want %q", tc.full, got, tc.reqData)
		}
		if got := fullName(m.respData); got != tc.resData {
			t.Errorf("%s: response data field %q, want %q", tc.full, got, tc.resData)
		}
		if want := m.endpoint.Request.HasJSON(); (m.req != nil) != want {
			t.Errorf("%s: request JSON codec %v, want %v", tc.full, m.req != nil, want)
		}
		if want := m.endpoint.Response.HasJSON(); (m.resp != nil) != want {
			t.Errorf("%s: response JSON codec %v, want %v", tc.full, m.resp != nil, want)
		}
	}
	if len(ps.methods) != len(testSchema().Endpoints) {
		t.Errorf("%d methods, want %d", len(ps.methods), len(testSchema().Endpoints))
	}
	want := "native.Default native.Echo native.Store native.files_v1_Store"
	var got []string
	for _, s := range ps.serviceNames() {
		got = append(got, string(s))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("services %q, want %s", got, want)
	}
}

func TestFields(t *testing.T) {
	ps := mustBuild(t, testSchema(), "")
	rich := ps.file.Messages().ByName("Rich")
	type shape struct {
		name, json string
		number     protoreflect.FieldNumber
		kind       protoreflect.Kind
		list, opt  bool
		msg        string // message type full name; for maps the value's
		mapKey     protoreflect.Kind
	}
	for _, tc := range []shape{
		{name: "b", json: "b", number: 1, kind: protoreflect.BoolKind},
		{name: "i32", json: "i32", number: 2, kind: protoreflect.Int32Kind},
		{name: "i64", json: "i64", number: 3, kind: protoreflect.Int64Kind},
		{name: "u32", json: "u32", number: 4, kind: protoreflect.Uint32Kind},
		{name: "u64", json: "u64", number: 5, kind: protoreflect.Uint64Kind},
		{name: "f32", json: "f32", number: 6, kind: protoreflect.FloatKind},
		{name: "f64", json: "f64", number: 7, kind: protoreflect.DoubleKind},
		{name: "s", json: "s", number: 8, kind: protoreflect.StringKind},
		{name: "raw", json: "raw", number: 9, kind: protoreflect.BytesKind},
		{name: "t", json: "t", number: 10, kind: protoreflect.MessageKind, msg: "google.protobuf.Timestamp"},
		{name: "any", json: "any", number: 11, kind: protoreflect.MessageKind, msg: "google.protobuf.Value"},
		{name: "msg", json: "msg", number: 12, kind: protoreflect.MessageKind, msg: "native.Inner"},
		{name: "optI64", json: "optI64", number: 13, kind: protoreflect.Int64Kind, opt: true},
		{name: "optRaw", json: "optRaw", number: 17, kind: protoreflect.BytesKind, opt: true},
		// Optional messages, timestamps, anys and lists carry no proto3 optional.
		{name: "optMsg", json: "optMsg", number: 18, kind: protoreflect.MessageKind, msg: "native.Inner"},
		{name: "optT", json: "optT", number: 19, kind: protoreflect.MessageKind, msg: "google.protobuf.Timestamp"},
		{name: "optAny", json: "optAny", number: 20, kind: protoreflect.MessageKind, msg: "google.protobuf.Value"},
		{name: "optList", json: "optList", number: 21, kind: protoreflect.StringKind, list: true},
		{name: "qi64", json: "qi64", number: 22, kind: protoreflect.Int64Kind},
		{name: "qopt", json: "qopt", number: 27, kind: protoreflect.Int64Kind, opt: true},
		{name: "ints", json: "ints", number: 28, kind: protoreflect.Int64Kind, list: true},
		{name: "grid", json: "grid", number: 29, kind: protoreflect.MessageKind, list: true, msg: "native.Int64List"},
		{name: "cube", json: "cube", number: 30, kind: protoreflect.MessageKind, list: true, msg: "native.StringListList"},
		{name: "byName", json: "byName", number: 31, kind: protoreflect.MessageKind, mapKey: protoreflect.StringKind, msg: "native.Inner"},
		{name: "byId", json: "byId", number: 32, kind: protoreflect.StringKind, mapKey: protoreflect.Int64Kind},
		{name: "byU64", json: "byU64", number: 33, kind: protoreflect.Int32Kind, mapKey: protoreflect.Uint64Kind},
		{name: "byI32", json: "byI32", number: 34, kind: protoreflect.BoolKind, mapKey: protoreflect.Int32Kind},
		{name: "byU32", json: "byU32", number: 35, kind: protoreflect.MessageKind, mapKey: protoreflect.Uint32Kind, msg: "native.StringList"},
		{name: "nested", json: "nested", number: 36, kind: protoreflect.MessageKind, mapKey: protoreflect.StringKind, msg: "native.Int32DoubleMap"},
		{name: "listOfMaps", json: "listOfMaps", number: 37, kind: protoreflect.MessageKind, list: true, msg: "native.StringTimestampMap"},
		{name: "anys", json: "anys", number: 39, kind: protoreflect.MessageKind, list: true, msg: "google.protobuf.Value"},
		{name: "weird_name", json: "weird-name", number: 42, kind: protoreflect.StringKind},
		{name: "others", json: "others", number: 45, kind: protoreflect.MessageKind, list: true, msg: "native.Other"},
	} {
		fd := rich.Fields().ByName(protoreflect.Name(tc.name))
		if fd == nil {
			t.Errorf("no field %s", tc.name)
			continue
		}
		got := shape{name: string(fd.Name()), json: fd.JSONName(), number: fd.Number(), kind: fd.Kind(), list: fd.IsList(), opt: fd.HasOptionalKeyword()}
		if fd.IsMap() {
			got.mapKey = fd.MapKey().Kind()
			got.kind = fd.MapValue().Kind()
			if m := fd.MapValue().Message(); m != nil {
				got.msg = string(m.FullName())
			}
		} else if m := fd.Message(); m != nil {
			got.msg = string(m.FullName())
		}
		if got != tc {
			t.Errorf("field %s:\n got %+v\nwant %+v", tc.name, got, tc)
		}
		if tc.opt {
			if o := fd.ContainingOneof(); o == nil || !o.IsSynthetic() || string(o.Name()) != "_"+tc.name {
				t.Errorf("field %s: not in its synthetic oneof", tc.name)
			}
		}
		if !fd.HasJSONName() {
			t.Errorf("field %s: json_name not set", tc.name)
		}
	}
	if n := rich.Fields().Len(); n != 45 {
		t.Errorf("Rich has %d fields", n)
	}

	// Wrappers: one field, named values or entries.
	for _, tc := range []struct{ msg, field, elem string }{
		{"Int64List", "values", "int64"},
		{"StringList", "values", "string"},
		{"StringListList", "values", "native.StringList"},
		{"Int32DoubleMap", "entries", "double"},
		{"StringTimestampMap", "entries", "google.protobuf.Timestamp"},
		{"StringInt64Map", "entries", "int64"},
	} {
		md := ps.file.Messages().ByName(protoreflect.Name(tc.msg))
		if md == nil || md.Fields().Len() != 1 {
			t.Errorf("wrapper %s missing or not a single field", tc.msg)
			continue
		}
		fd := md.Fields().Get(0)
		elem := fd
		if fd.IsMap() {
			elem = fd.MapValue()
		}
		got := elem.Kind().String()
		if elem.Message() != nil {
			got = string(elem.Message().FullName())
		}
		if string(fd.Name()) != tc.field || got != tc.elem || fd.Number() != 1 || !fd.IsList() && !fd.IsMap() {
			t.Errorf("wrapper %s: field %s %s, want %s %s", tc.msg, fd.Name(), got, tc.field, tc.elem)
		}
	}

	// Recursive and mutually recursive messages.
	inner := ps.file.Messages().ByName("Inner")
	other := ps.file.Messages().ByName("Other")
	if inner.Fields().ByName("kids").Message() != inner || inner.Fields().ByName("next").Message() != inner ||
		inner.Fields().ByName("other").Message() != other || other.Fields().ByName("back").Message() != inner {
		t.Error("recursive references are wrong")
	}
}

func TestDescriptorValidAndResolvable(t *testing.T) {
	ps := mustBuild(t, testSchema(), "acme.files.v1")
	if ps.file.Path() != "acme/files/v1/native_endpoints.proto" || ps.file.Package() != "acme.files.v1" || ps.file.Syntax() != protoreflect.Proto3 {
		t.Errorf("file %s package %s syntax %v", ps.file.Path(), ps.file.Package(), ps.file.Syntax())
	}
	if fds := ps.fileDescriptors(); len(fds) != 1 || fds[0] != ps.file {
		t.Errorf("fileDescriptors = %v", fds)
	}
	// Round trip through a FileDescriptorProto and validate again, with
	// a resolver that has only our files.
	fdp := protodesc.ToFileDescriptorProto(ps.file)
	if _, err := protodesc.NewFile(fdp, ps.resolver()); err != nil {
		t.Fatalf("revalidation: %v", err)
	}
	for _, path := range []string{"acme/files/v1/native_endpoints.proto", timestampFile, structFile, emptyFile, httpBodyFile, "google/protobuf/any.proto"} {
		if _, err := ps.resolver().FindFileByPath(path); err != nil {
			t.Errorf("FindFileByPath(%s): %v", path, err)
		}
	}
	for _, name := range []protoreflect.FullName{"acme.files.v1.Store", "acme.files.v1.Store.List", "acme.files.v1.Rich", "acme.files.v1.Rich.optI64", "google.api.HttpBody"} {
		if _, err := ps.resolver().FindDescriptorByName(name); err != nil {
			t.Errorf("FindDescriptorByName(%s): %v", name, err)
		}
	}
	// Our file is not in the global registry.
	if _, err := protoregistry.GlobalFiles.FindFileByPath(ps.file.Path()); err == nil {
		t.Error("the synthesized file leaked into GlobalFiles")
	}
	if ps.lookup("/acme.files.v1.Echo/Rich") == nil || ps.lookup("/native.Echo/Rich") != nil {
		t.Error("method names do not use the package")
	}
	loc := ps.file.SourceLocations().ByDescriptor(ps.lookup("/acme.files.v1.Store/Put").desc)
	if !strings.Contains(loc.LeadingComments, `"Store.Put": request json+stream, response none`) {
		t.Errorf("method comment %q", loc.LeadingComments)
	}
}

func TestDeterministic(t *testing.T) {
	want := protodesc.ToFileDescriptorProto(mustBuild(t, testSchema(), "").file)
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		s := testSchema()
		rnd.Shuffle(len(s.Endpoints), func(i, j int) { s.Endpoints[i], s.Endpoints[j] = s.Endpoints[j], s.Endpoints[i] })
		got := protodesc.ToFileDescriptorProto(mustBuild(t, s, "").file)
		if !proto.Equal(got, want) {
			t.Fatal("descriptor depends on endpoint order")
		}
	}
}

func TestBuildErrors(t *testing.T) {
	ep := func(name string) native.Endpoint {
		return native.Endpoint{Name: name, Request: native.BodyNone, Response: native.BodyNone}
	}
	msg := func(name string, fields ...native.Field) *native.Message {
		return &native.Message{Name: name, Fields: fields}
	}
	jsonEP := func(name string, typ native.Type) native.Endpoint {
		return native.Endpoint{Name: name, Request: native.BodyJSON, Response: native.BodyNone, RequestType: &typ}
	}
	for _, tc := range []struct {
		name string
		pkg  string
		s    *native.Schema
		err  string
	}{
		{"nil schema", "", nil, "gateway: nil schema"},
		{"bad package", "a-b", &native.Schema{}, `gateway: proto package "a-b" is not a dotted sequence of identifiers`},
		{"google package", "google.api", &native.Schema{}, `gateway: proto package "google.api" is reserved for well-known types`},
		{"same method", "", &native.Schema{Endpoints: []native.Endpoint{ep("a-b.X"), ep("a_b.X")}},
			`gateway: endpoints "a-b.X" and "a_b.X" both map to /native.a_b/X`},
		{"dotless vs Default", "", &native.Schema{Endpoints: []native.Endpoint{ep("Ping"), ep("Default.Ping")}},
			`gateway: endpoints "Ping" and "Default.Ping" both map to /native.Default/Ping`},
		{"service vs message", "", &native.Schema{Endpoints: []native.Endpoint{ep("store.Store.Get")},
			Messages: map[string]*native.Message{"store.Store": msg("store.Store"), "x.Store": msg("x.Store")}},
			`gateway: service "store_Store" (endpoint "store.Store.Get") and message "store.Store" both map to proto name "store_Store"`},
		{"messages clash", "", &native.Schema{Messages: map[string]*native.Message{"a-b.X": msg("a-b.X"), "a_b.X": msg("a_b.X")}},
			`gateway: message "a-b.X" and message "a_b.X" both map to proto name "a_b_X"`},
		{"unknown message", "", &native.Schema{Endpoints: []native.Endpoint{jsonEP("S.M", tmsg("nope.X"))}},
			`gateway: endpoint "S.M" request: unknown message "nope.X"`},
		{"no type", "", &native.Schema{Endpoints: []native.Endpoint{{Name: "S.M", Request: native.BodyJSON, Response: native.BodyNone}}},
			`gateway: endpoint "S.M" request: body kind "json" without a type`},
		{"bad body", "", &native.Schema{Endpoints: []native.Endpoint{{Name: "S.M", Request: "xml", Response: native.BodyNone}}},
			`gateway: endpoint "S.M" request: unknown body kind "xml"`},
		{"bad map key", "", &native.Schema{Messages: map[string]*native.Message{"p.M": msg("p.M", fld("m", tmap(native.KindFloat64, tk(native.KindBool))))}},
			`gateway: message "p.M" field "m": map key kind "float64" is not supported`},
		{"list without elem", "", &native.Schema{Messages: map[string]*native.Message{"p.M": msg("p.M", fld("l", native.Type{Kind: native.KindList}))}},
			`gateway: message "p.M" field "l": list without an element type`},
		{"unknown kind", "", &native.Schema{Endpoints: []native.Endpoint{jsonEP("S.M", tlist(tk("complex128")))}},
			`gateway: endpoint "S.M" request: unknown kind "complex128"`},
		{"duplicate field", "", &native.Schema{Messages: map[string]*native.Message{"p.M": msg("p.M", fld("a", tk(native.KindBool)), fld("a", tk(native.KindBool)))}},
			`gateway: message "p.M" field "a" appears twice`},
		{"cycle", "", &native.Schema{Messages: map[string]*native.Message{
			"p.A": msg("p.A", fld("x", tk(native.KindInt32)), fld("b", tmsg("p.B"))),
			"p.B": msg("p.B", fld("opt", tmsg("p.A"), "optional"), fld("a", tmsg("p.A")))}},
			`gateway: message "p.A" contains itself through non-optional fields b.a; no Go type can`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildProtoSet(context.Background(), tc.s, tc.pkg, DefaultSchemaLimits)
			if err == nil || err.Error() != tc.err {
				t.Errorf("err = %v\nwant %s", err, tc.err)
			}
		})
	}
}

func TestSynthesizedNamesYield(t *testing.T) {
	// Schema messages and services take their names first; synthesized
	// messages and wrappers fall back.
	s := &native.Schema{
		Messages: map[string]*native.Message{
			"p.GetRequest":  {Name: "p.GetRequest", Fields: []native.Field{fld("x", tk(native.KindString))}},
			"p.Int64List":   {Name: "p.Int64List", Fields: []native.Field{fld("grid", tlist(tlist(tk(native.KindInt64))))}},
			"p.AGetRequest": {Name: "p.AGetRequest"},
		},
		Endpoints: []native.Endpoint{
			{Name: "A.Get", Request: native.BodyJSON, Response: native.BodyNone, RequestType: tp(tk(native.KindString))},
			{Name: "B.Get", Request: native.BodyJSON, Response: native.BodyNone, RequestType: tp(tk(native.KindString))},
			{Name: "C.Get", Request: native.BodyJSON, Response: native.BodyNone, RequestType: tp(tmsg("p.GetRequest"))},
		},
	}
	ps := mustBuild(t, s, "")
	for full, want := range map[string]string{
		"/native.A/Get": "native.AGetRequest_2",
		"/native.B/Get": "native.BGetRequest",
		"/native.C/Get": "native.GetRequest",
	} {
		if got := string(ps.lookup(full).in.FullName()); got != want {
			t.Errorf("%s input %s, want %s", full, got, want)
		}
	}
	grid := ps.file.Messages().ByName("Int64List").Fields().ByName("grid")
	if got := grid.Message().FullName(); got != "native.Int64List_2" {
		t.Errorf("wrapper %s, want native.Int64List_2", got)
	}
}
