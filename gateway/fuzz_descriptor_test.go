package gateway

// FuzzSchemaDescriptors fuzzes the schema-to-descriptor builder with what a
// remote backend can send: the JSON answer of its describe endpoint, which
// RemoteBackend decodes into a native.Schema and mounts. Whatever the
// schema, building must return a protoSet or an error (never panic, never
// both, never neither); an error says it is the gateway's. What is built
// must be usable: every endpoint is a method whose descriptors are the
// set's, the empty request and response messages transcode to native JSON
// and back, a Gateway mounts the schema, and its OpenAPI document is valid
// JSON.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

func FuzzSchemaDescriptors(f *testing.F) {
	// The schemas of the test suites: the hand-written one, and the
	// fixture server's, as its describe endpoint answers it.
	srv := native.NewServer()
	if err := register(srv, &probes{m: map[string]*probe{}}); err != nil {
		f.Fatal(err)
	}
	fixture, err := srv.Schema()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []*native.Schema{testSchema(), fixture} {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "a.b_c.v1")
	}
	f.Fuzz(func(t *testing.T, data []byte, pkg string) {
		var s native.Schema
		if json.Unmarshal(data, &s) != nil {
			return
		}
		set, err := buildProtoSet(context.Background(), &s, pkg, DefaultSchemaLimits)
		if (set == nil) == (err == nil) {
			t.Fatalf("buildProtoSet = %v, %v: want exactly one of a set and an error", set, err)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gateway: ") {
				t.Fatalf("error %q does not say it is the gateway's", err)
			}
			return
		}
		checkBuiltSet(t, &s, set)
		g, err := newGateway(nil, []Option{WithPackage(set.pkg)})
		if err != nil {
			t.Fatalf("newGateway with the package the builder accepted: %v", err)
		}
		if err := g.mount(context.Background(), &s); err != nil {
			t.Fatalf("Mount of a schema the builder accepted: %v", err)
		}
		doc, err := g.OpenAPI()
		if err != nil || !json.Valid(doc) {
			t.Fatalf("OpenAPI: %v (valid JSON %v)", err, json.Valid(doc))
		}
	})
}

// checkBuiltSet checks that every endpoint of s is a usable method of set.
func checkBuiltSet(t *testing.T, s *native.Schema, set *protoSet) {
	t.Helper()
	if len(set.methods) != len(s.Endpoints) {
		t.Fatalf("%d methods for %d endpoints", len(set.methods), len(s.Endpoints))
	}
	for _, ep := range s.Endpoints {
		svc, name := endpointNames(ep.Name)
		m := set.lookup(fullMethodName(set.pkg, svc, name))
		if m == nil || m.endpoint.Name != ep.Name {
			t.Fatalf("endpoint %q: no method %s", ep.Name, fullMethodName(set.pkg, svc, name))
		}
		if m.desc.Input() != m.in || m.desc.Output() != m.out || m.in.ParentFile() == nil || m.out.ParentFile() == nil {
			t.Fatalf("endpoint %q: the method's messages are not its descriptor's", ep.Name)
		}
		if (m.req != nil) != ep.Request.HasJSON() || (m.resp != nil) != ep.Response.HasJSON() {
			t.Fatalf("endpoint %q: JSON parts %v %v for kinds %s %s", ep.Name, m.req != nil, m.resp != nil, ep.Request, ep.Response)
		}
		if m.req != nil {
			js, err := m.requestJSON(m.newRequest())
			if err != nil || !json.Valid(js) {
				t.Fatalf("endpoint %q: the empty request encodes to %q, %v", ep.Name, js, err)
			}
			if _, err := m.requestMessage(js); err != nil {
				t.Fatalf("endpoint %q: the empty request's JSON %s does not decode: %v", ep.Name, js, err)
			}
		}
		if m.resp != nil {
			js, err := m.responseJSON(m.newResponse())
			if err != nil || !json.Valid(js) {
				t.Fatalf("endpoint %q: the empty response encodes to %q, %v", ep.Name, js, err)
			}
			if _, err := m.responseMessage(js); err != nil {
				t.Fatalf("endpoint %q: the empty response's JSON %s does not decode: %v", ep.Name, js, err)
			}
		}
		if ep.Response.HasStream() && m.responseChunk([]byte("x")) == nil {
			t.Fatalf("endpoint %q: a response stream without a chunk field", ep.Name)
		}
	}
}
