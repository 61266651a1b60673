package gateway

// Issue 5: the OpenAPI document of the REST front door.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/framegate/framegate/native"
)

// loadOpenAPI fetches /openapi.json and validates it.
func loadOpenAPI(t *testing.T, e *env) *openapi3.T {
	t.Helper()
	resp, b := do(t, http.MethodGet, e.http.URL+"/openapi.json", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	return doc
}

func TestOpenAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		doc := loadOpenAPI(t, e)
		want := []string{"/v1/endpoints", "/v1/endpoints/{name}"}
		for _, m := range sortedMethods(e.gw.set.Load()) {
			want = append(want, m.fullMethod)
		}
		sort.Strings(want)
		got := doc.Paths.InMatchingOrder()
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("paths\n %v\nwant\n %v", got, want)
		}

		// The request schema of Values.Echo is the native JSON of fxValues.
		echo := doc.Paths.Find("/native.Values/Echo")
		if echo.Post == nil || echo.Get == nil {
			t.Fatalf("Values.Echo operations: %+v", echo)
		}
		schema := echo.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
		var props []string
		for name := range schema.Properties {
			props = append(props, name)
		}
		sort.Strings(props)
		s, _ := e.srv.Schema()
		var fields []string
		for _, f := range s.Messages["gateway.fxValues"].Fields {
			fields = append(fields, f.Name)
		}
		sort.Strings(fields)
		if !slices.Equal(props, fields) {
			t.Errorf("documented fields %v, native fields %v", props, fields)
		}
		for name, typ := range map[string]string{"i64": "integer", "raw": "string", "t": "string", "tags": "array", "nested": "object", "name": "string"} {
			if p := schema.Properties[name]; p == nil || p.Value.Type == nil || !p.Value.Type.Is(typ) {
				t.Errorf("property %s: %+v, want type %s", name, p, typ)
			}
		}
		// The GET form lists the scalar fields as query parameters.
		var params []string
		for _, p := range echo.Get.Parameters {
			params = append(params, p.Value.Name)
		}
		for _, p := range []string{"name", "i64", "u64", "optS"} {
			if !slices.Contains(params, p) {
				t.Errorf("GET parameters %v lack %s", params, p)
			}
		}

		// Streams are binary bodies.
		dl := doc.Paths.Find("/native.Blob/Download").Post.Responses.Status(200).Value
		if dl.Content.Get("application/octet-stream") == nil {
			t.Errorf("Download response: %v", dl.Content)
		}
		up := doc.Paths.Find("/native.Blob/Put")
		if up.Put == nil || up.Post == nil || up.Put.RequestBody.Value.Content.Get("application/octet-stream") == nil {
			t.Fatalf("Put operations: %+v", up)
		}
		var upParams []string
		for _, p := range up.Put.Parameters {
			upParams = append(upParams, p.Value.Name)
		}
		if !slices.Equal(upParams, []string{"name", "mode", "tags"}) {
			t.Errorf("Put query parameters %v", upParams)
		}
		// Errors are documented as the status JSON.
		if def := echo.Post.Responses.Default(); def == nil || def.Value.Content.Get("application/json") == nil {
			t.Errorf("no default error response")
		}
	})
}

// The document follows Refresh.
func TestOpenAPIRefresh(t *testing.T) {
	e := newEnv(t, "local")
	e.srv.Register("Extra.Hello", func(req *fxPut, resp *fxPut) error { return nil })
	if err := e.gw.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if doc := loadOpenAPI(t, e); doc.Paths.Find("/native.Extra/Hello") == nil {
		t.Fatal("a new endpoint is not documented")
	}
}

// The document is built once per mounted schema, not at every request, and
// sent with its length (uncompressed: Go's client would otherwise ask for
// gzip, see compress_test.go); a Mount builds a new one.
func TestOpenAPIBuiltOncePerSchema(t *testing.T) {
	e := newEnv(t, "local")
	get := func() []byte {
		t.Helper()
		resp, b := do(t, http.MethodGet, e.http.URL+"/openapi.json", nil, "Accept-Encoding", "identity")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Fatalf("GET /openapi.json: %d, Content-Length %q for %d bytes", resp.StatusCode, resp.Header.Get("Content-Length"), len(b))
		}
		return b
	}
	before := openAPIBuilds.Load()
	first := get()
	if !bytes.Equal(get(), first) {
		t.Fatal("two requests got different documents")
	}
	if n := openAPIBuilds.Load() - before; n != 1 {
		t.Fatalf("two requests built the document %d times, want once", n)
	}
	e.srv.Register("Extra.Hello", func(req *fxPut, resp *fxPut) error { return nil })
	if err := e.gw.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(get(), []byte("/native.Extra/Hello")) {
		t.Fatal("the document was not rebuilt after a Mount")
	}
	get()
	if n := openAPIBuilds.Load() - before; n != 2 {
		t.Fatalf("built %d times over two schemas, want twice", n)
	}
}

// A request message with more query fields than maxQueryParams is one
// exploded object parameter, so that endpoints sharing a wide message do
// not multiply its fields in the document.
func TestOpenAPIWideQuery(t *testing.T) {
	wide := &native.Message{Name: "p.Wide"}
	for i := range maxQueryParams + 1 {
		wide.Fields = append(wide.Fields, fld(fmt.Sprint("f", i), tk(native.KindInt64)))
	}
	narrow := &native.Message{Name: "p.Narrow", Fields: wide.Fields[:maxQueryParams]}
	s := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{"p.Wide": wide, "p.Narrow": narrow}}
	for i := range 20 {
		for _, m := range []string{"p.Wide", "p.Narrow"} {
			s.Endpoints = append(s.Endpoints, native.Endpoint{Name: fmt.Sprintf("S.%s%d", m[2:], i),
				Request: native.BodyJSON, RequestType: tp(tmsg(m)), Response: native.BodyNone, Safe: true})
		}
	}
	g, err := newGateway(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.mount(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	b, err := g.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	for i := range 20 {
		if ps := doc.Paths.Find(fmt.Sprintf("/native.S/Narrow%d", i)).Get.Parameters; len(ps) != maxQueryParams {
			t.Fatalf("Narrow%d: %d query parameters, want %d", i, len(ps), maxQueryParams)
		}
		ps := doc.Paths.Find(fmt.Sprintf("/native.S/Wide%d", i)).Get.Parameters
		if len(ps) != 1 || ps[0].Value.Style != "form" || ps[0].Value.Explode == nil || !*ps[0].Value.Explode {
			t.Fatalf("Wide%d: query parameters %v, want one exploded object", i, ps)
		}
	}
}

// Streams of messages: NDJSON and SSE responses of the message's schema,
// and a WebSocket operation for the endpoints that receive messages.
func TestOpenAPIMessageStreams(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		loadOpenAPI(t, e.env) // valid OpenAPI
		b, err := e.gw.OpenAPI()
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Paths map[string]map[string]struct {
				Description string `json:"description"`
				Responses   map[string]struct {
					Content map[string]struct {
						Schema struct {
							Properties map[string]map[string]any `json:"properties"`
						} `json:"schema"`
					} `json:"content"`
				} `json:"responses"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		watch := doc.Paths["/native.Msg/Watch"]["post"].Responses["200"].Content
		if ref := watch["application/x-ndjson"].Schema.Properties["result"]["$ref"]; ref != "#/components/schemas/native.gateway.msTick" {
			t.Errorf("Watch's NDJSON result is %v", watch["application/x-ndjson"].Schema.Properties["result"])
		}
		if _, ok := watch["text/event-stream"]; !ok {
			t.Errorf("Watch's content %v has no text/event-stream", watch)
		}
		echo := doc.Paths["/native.Msg/Echo"]
		if len(echo) != 1 || echo["get"].Responses["101"].Content != nil || !strings.Contains(echo["get"].Description, "WebSocket") {
			t.Errorf("Echo's operations %+v", echo)
		}
	})
}
