package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
	"github.com/framegate/framegate/native"
)

// nestedListSchema is a schema with one endpoint whose response is a list
// nested depth levels deep: list<list<...<int64>...>>.
func nestedListSchema(depth int) *native.Schema {
	t := &native.Type{Kind: native.KindInt64}
	for range depth {
		t = &native.Type{Kind: native.KindList, Elem: t}
	}
	return &native.Schema{
		Protocol:  native.ProtocolVersion,
		Endpoints: []native.Endpoint{{Name: "Deep.Get", Request: native.BodyNone, Response: native.BodyJSON, ResponseType: t}},
		Messages:  map[string]*native.Message{},
	}
}

// wideSchema is a schema with n endpoints, each with its own request
// message of a few fields (one a list of lists, one a map of lists).
func wideSchema(n int) *native.Schema {
	s := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}
	for i := range n {
		name := fmt.Sprintf("svc.Req%d", i)
		s.Messages[name] = &native.Message{Name: name, Fields: []native.Field{
			fld("id", tk(native.KindInt64)),
			fld("name", tk(native.KindString)),
			fld("grid", tlist(tlist(tk(native.KindInt32)))),
			fld("tags", tmap(native.KindString, tlist(tk(native.KindString)))),
		}}
		s.Endpoints = append(s.Endpoints, native.Endpoint{Name: fmt.Sprintf("S%d.Call", i%50) + fmt.Sprint(i),
			Request: native.BodyJSON, RequestType: tp(tmsg(name)), Response: native.BodyJSON, ResponseType: tp(tmsg(name))})
	}
	return s
}

// BenchmarkBuildNestedLists builds the descriptors of a list nested N deep
// (the schema limit is raised so that the deep ones build): the cost must
// grow about linearly with N (names grow with the depth, so the descriptor
// itself grows with N²: a depth limit bounds that).
func BenchmarkBuildNestedLists(b *testing.B) {
	for _, n := range []int{64, 250, 500, 1000, 2000} {
		s := nestedListSchema(n)
		lim := DefaultSchemaLimits
		lim.MaxDepth = n
		b.Run(fmt.Sprint("N=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildProtoSet(context.Background(), s, "", lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefuseNestedLists mounts a list nested N deep under the default
// limits: refused, at the cost of reading the first 64 levels.
func BenchmarkRefuseNestedLists(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		s := nestedListSchema(n)
		b.Run(fmt.Sprint("N=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits); !errors.Is(err, ErrSchemaLimit) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildWide builds the descriptors of many endpoints and messages.
func BenchmarkBuildWide(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		s := wideSchema(n)
		b.Run(fmt.Sprint("endpoints=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSchemaPastLimitsRefused: a schema past any limit is refused, and the
// error names the limit; the gateway keeps serving what it had.
func TestSchemaPastLimitsRefused(t *testing.T) {
	msgs := func(n, fields int) *native.Schema {
		s := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}
		for i := range n {
			m := &native.Message{Name: fmt.Sprint("p.M", i)}
			for j := range fields {
				m.Fields = append(m.Fields, fld(fmt.Sprint("f", j), tk(native.KindInt64)))
			}
			s.Messages[m.Name] = m
		}
		return s
	}
	endpoints := func(n int) *native.Schema {
		s := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}
		for i := range n {
			s.Endpoints = append(s.Endpoints, native.Endpoint{Name: fmt.Sprint("S.M", i), Request: native.BodyNone, Response: native.BodyNone})
		}
		return s
	}
	small := SchemaLimits{MaxMessages: 3, MaxFieldsPerMessage: 4, MaxFields: 10, MaxEndpoints: 5}
	for _, tc := range []struct {
		name string
		lim  SchemaLimits // zero: the defaults
		s    *native.Schema
		want string
	}{
		{"depth 65", SchemaLimits{}, nestedListSchema(65), "limit of 64 (SchemaLimits.MaxDepth)"},
		{"depth 1000", SchemaLimits{}, nestedListSchema(1000), "limit of 64 (SchemaLimits.MaxDepth)"},
		{"depth 4000", SchemaLimits{}, nestedListSchema(4000), "limit of 64 (SchemaLimits.MaxDepth)"},
		{"depth in a message", SchemaLimits{MaxDepth: 2}, &native.Schema{Messages: map[string]*native.Message{
			"p.M": {Name: "p.M", Fields: []native.Field{fld("x", tmap(native.KindString, tlist(tlist(tk(native.KindBool)))))}}}},
			`message "p.M" field "x": lists and maps nest deeper than the limit of 2 (SchemaLimits.MaxDepth)`},
		{"messages", small, msgs(4, 1), "schema messages: 4, over the limit of 3 (SchemaLimits.MaxMessages)"},
		{"fields per message", small, msgs(1, 5), `fields of message "p.M0": 5, over the limit of 4 (SchemaLimits.MaxFieldsPerMessage)`},
		{"fields", small, msgs(3, 4), "fields of all messages: 12, over the limit of 10 (SchemaLimits.MaxFields)"},
		{"endpoints", small, endpoints(6), "schema endpoints: 6, over the limit of 5 (SchemaLimits.MaxEndpoints)"},
		{"default endpoints", SchemaLimits{}, endpoints(10_001), "schema endpoints: 10001, over the limit of 10000 (SchemaLimits.MaxEndpoints)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newGateway(nil, []Option{WithSchemaLimits(tc.lim)})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.mount(context.Background(), nestedListSchema(1)); err != nil {
				t.Fatal(err)
			}
			before := g.set.Load()
			err = g.mount(context.Background(), tc.s)
			if !errors.Is(err, ErrSchemaLimit) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "gateway: ") {
				t.Fatalf("Mount = %v, want an ErrSchemaLimit naming %q", err, tc.want)
			}
			if g.set.Load() != before {
				t.Error("a refused schema replaced the one served")
			}
		})
	}
}

// TestSchemaAtLimitsBuilds: schemas at the limits build, and the work of
// building grows linearly: twice the nesting, the endpoints or the
// messages renamed in a chain cost about twice the allocations (it was
// about eight times for nesting, four and a half for the chain).
func TestSchemaAtLimitsBuilds(t *testing.T) {
	allocs := func(s *native.Schema, lim SchemaLimits) float64 {
		var err error
		n := testing.AllocsPerRun(1, func() { _, err = buildProtoSet(context.Background(), s, "", lim) })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := buildProtoSet(context.Background(), nestedListSchema(64), "", DefaultSchemaLimits); err != nil {
		t.Fatalf("depth 64, the default limit: %v", err)
	}
	deep := DefaultSchemaLimits
	deep.MaxDepth = 256
	if a, b := allocs(nestedListSchema(128), deep), allocs(nestedListSchema(256), deep); b > 3*a {
		t.Errorf("nesting 128 deep: %.0f allocations, 256 deep: %.0f: more than linear", a, b)
	}
	if a, b := allocs(wideSchema(500), DefaultSchemaLimits), allocs(wideSchema(1000), DefaultSchemaLimits); b > 3*a {
		t.Errorf("500 endpoints: %.0f allocations, 1000: %.0f: more than linear", a, b)
	}
	if a, b := allocs(chainSchema(250), DefaultSchemaLimits), allocs(chainSchema(500), DefaultSchemaLimits); b > 3*a {
		t.Errorf("a chain of 250 renamed messages: %.0f allocations, of 500: %.0f: more than linear", a, b)
	}
}

// cancellingBackend describes a fixed schema, cancelling the describing
// context first: a signal that arrives once the describe answer is in.
type cancellingBackend struct {
	native.Caller
	s      *native.Schema
	cancel context.CancelFunc
}

func (b cancellingBackend) Schema(context.Context) (*native.Schema, error) {
	b.cancel()
	return b.s, nil
}

// TestRefreshStopsWhenCancelled: a Refresh whose context ends while the
// descriptors are built stops with the context's error, and the gateway
// keeps what it served.
func TestRefreshStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := newGateway(cancellingBackend{s: wideSchema(100), cancel: cancel}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.mount(context.Background(), nestedListSchema(1)); err != nil {
		t.Fatal(err)
	}
	before := g.set.Load()
	err = g.Refresh(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "gateway: ") {
		t.Fatalf("Refresh = %v, want the gateway's error wrapping context.Canceled", err)
	}
	if g.set.Load() != before {
		t.Error("a cancelled Refresh replaced the schema served")
	}
}

// deepHandler returns a handler whose request and response are slices
// nested depth deep.
func deepHandler(depth int) any {
	typ := reflect.TypeFor[int64]()
	for range depth {
		typ = reflect.SliceOf(typ)
	}
	errType := reflect.TypeFor[error]()
	ft := reflect.FuncOf([]reflect.Type{reflect.PointerTo(typ), reflect.PointerTo(typ)}, []reflect.Type{errType}, false)
	return reflect.MakeFunc(ft, func([]reflect.Value) []reflect.Value { return []reflect.Value{reflect.Zero(errType)} }).Interface()
}

// TestRemoteStopWhileSchemaKeepsChanging: a backend that keeps adding
// endpoints whose types nest 500 deep (building their descriptors took
// about 10 s each) holds up neither the supervisor nor Stop: the schemas
// are refused at once, and the gateway keeps serving what it had.
func TestRemoteStopWhileSchemaKeepsChanging(t *testing.T) {
	checkLeaks(t)
	s := startRT(t, "")
	o := fastOptions(s.addr)
	o.ProbeInterval = time.Millisecond
	rb := NewRemoteBackend(tcpDial(s.addr), o)
	defer rb.Close()
	g, err := New(context.Background(), rb)
	if err != nil {
		t.Fatal(err)
	}
	served := g.set.Load()
	changing := make(chan struct{})
	stopChanging := make(chan struct{})
	go func() {
		defer close(changing)
		for i := 0; ; i++ {
			select {
			case <-stopChanging:
				return
			default:
			}
			if err := s.srv.Register(fmt.Sprintf("Deep.Get%d", i), deepHandler(500)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { close(stopChanging); <-changing }()
	// Let the supervisor see a few of the schemas.
	waitFor(t, 5*time.Second, "a probe of a changed schema", func() bool {
		b, _ := json.Marshal(g.Schema()) // still the one served first
		rb.mu.Lock()
		defer rb.mu.Unlock()
		return !bytes.Equal(rb.schemaJSON, b)
	})
	stopped := make(chan struct{})
	go func() {
		rb.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second): // a guard against hangs, not a timing assertion
		t.Fatal("Stop did not return while the backend kept changing its schema")
	}
	if g.set.Load() != served {
		t.Error("a schema past the limits replaced the one served")
	}
}

// chainSchema has n messages whose short names each equal the long name
// of the one before ("a.B" and "b.B" clash, so "a.B" is "a_B"; "c.a_B" is
// then "c_a_B", "c.c_a_B" is "c_c_a_B", ...): each moves the next to its
// long name.
func chainSchema(n int) *native.Schema {
	s := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{
		"b.B": {Name: "b.B", Fields: []native.Field{}},
	}}
	name := "a.B"
	for range n {
		s.Messages[name] = &native.Message{Name: name, Fields: []native.Field{}}
		name = "c." + sanitizeIdent(name)
	}
	return s
}

// BenchmarkBuildNameChain names messages that move one another to their
// long names, one after the other.
func BenchmarkBuildNameChain(b *testing.B) {
	for _, n := range []int{250, 500, 1000} {
		s := chainSchema(n)
		b.Run(fmt.Sprint("messages=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetSchemaWide answers the gateway API's GetSchema and
// ListEndpoints for a backend of 10,000 endpoints.
func BenchmarkGetSchemaWide(b *testing.B) {
	g, err := newGateway(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.mount(context.Background(), wideSchema(10_000)); err != nil {
		b.Fatal(err)
	}
	a := &apiServer{g: g}
	b.Run("GetSchema", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.GetSchema(context.Background(), &gatewayv1.GetSchemaRequest{Name: "S7.Call7"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListEndpoints", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.ListEndpoints(context.Background(), &gatewayv1.ListEndpointsRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestGetSchemaBuiltOncePerSchema: the gateway API answers GetSchema from
// tables built once per mounted schema, not from a walk of every endpoint
// and a copy of every descriptor at each request.
func TestGetSchemaBuiltOncePerSchema(t *testing.T) {
	g, err := newGateway(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const endpoints = 1000
	if err := g.mount(context.Background(), wideSchema(endpoints)); err != nil {
		t.Fatal(err)
	}
	a := &apiServer{g: g}
	req := &gatewayv1.GetSchemaRequest{Name: "S7.Call7"}
	if _, err := a.GetSchema(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() { a.GetSchema(context.Background(), req) }); n > endpoints {
		t.Errorf("GetSchema of one endpoint among %d: %.0f allocations, more than one per endpoint", endpoints, n)
	}
}
