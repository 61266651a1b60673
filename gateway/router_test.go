package gateway

// Tests of several backends behind one gateway (Router): routing, services
// claimed twice, message names shared and renamed, and the health of each
// backend's services as it goes down and comes back.

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
	"github.com/framegate/framegate/native"
)

// notesServer serves Notes.Get with its own type named "gateway.item".
func notesServer(t testing.TB, from string) *native.Server {
	type item struct {
		Text string `json:"text"`
	}
	srv := native.NewServer()
	if err := srv.Register("Notes.Get", func(req *item, resp *item) error {
		resp.Text = from + ":" + req.Text
		return nil
	}, native.Safe()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// filesServer serves Files.Stat with another type named "gateway.item".
func filesServer(t testing.TB) *native.Server {
	type item struct {
		Name string `json:"name"`
		Size int64  `json:"size,string"`
	}
	srv := native.NewServer()
	if err := srv.Register("Files.Stat", func(req *item, resp *item) error {
		*resp = item{Name: req.Name, Size: int64(len(req.Name))}
		return nil
	}, native.Safe()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// routed serves backends through a Router with o; the gateway is closed
// when t ends.
func routed(t *testing.T, o RouterOptions, backends []NamedBackend) (*Router, *Gateway) {
	t.Helper()
	r, err := NewRouter(backends, o)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return r, g
}

// get makes a REST GET and returns the status and the body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, strings.TrimSpace(w.Body.String())
}

// serviceStatus is the health of one service ("" the whole server).
func serviceStatus(t *testing.T, g *Gateway, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := g.Health().Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health of %q: %v", service, err)
	}
	return resp.Status
}

func TestRouterTwoBackends(t *testing.T) {
	_, g := routed(t, RouterOptions{}, []NamedBackend{{"notes", Local(notesServer(t, "a"))}, {"files", Local(filesServer(t))}})
	h := g.HTTPHandler()
	if code, body := get(t, h, "/native.Notes/Get?text=x"); code != 200 || body != `{"text":"a:x"}` {
		t.Errorf("Notes.Get: %d %s", code, body)
	}
	if code, body := get(t, h, "/native.Files/Stat?name=abc"); code != 200 || body != `{"name":"abc","size":"3"}` {
		t.Errorf("Files.Stat: %d %s", code, body)
	}
	// Each backend's calls use its own "gateway.item": the second in order
	// serves its own under its name.
	if _, ok := g.Schema().Messages["gateway.item"]; !ok {
		t.Errorf("messages %v: no gateway.item", keys(g.Schema().Messages))
	}
	if _, ok := g.Schema().Messages["files.gateway.item"]; !ok {
		t.Errorf("messages %v: no files.gateway.item", keys(g.Schema().Messages))
	}
	// The gRPC face, with descriptors from server reflection, as grpcurl.
	_, conn := serveGRPC(t, g)
	d := newDyn(t, conn)
	for _, c := range []struct{ method, in, want string }{
		{"native.Notes/Get", `{"text":"x"}`, `{"text":"a:x"}`},
		{"native.Files/Stat", `{"name":"abcd"}`, `{"name":"abcd","size":"4"}`},
	} {
		out, err := d.call(context.Background(), c.method, d.in(c.method, c.in))
		if err != nil {
			t.Errorf("gRPC %s: %v", c.method, err)
			continue
		}
		if js, _ := protojson.Marshal(out); compactJSON(t, js) != c.want {
			t.Errorf("gRPC %s = %s, want %s", c.method, js, c.want)
		}
	}
	list, err := (&apiServer{g: g}).ListEndpoints(context.Background(), &gatewayv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range list.Endpoints {
		got[e.Name] = e.Backend
	}
	if got["Notes.Get"] != "notes" || got["Files.Stat"] != "files" || len(got) != 2 {
		t.Errorf("endpoints by backend: %v", got)
	}
	for _, svc := range []string{"", "native.Notes", "native.Files"} {
		if st := serviceStatus(t, g, svc); st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v", svc, st)
		}
	}
	g.Drain()
	for _, svc := range []string{"", "native.Notes", "native.Files"} {
		if st := serviceStatus(t, g, svc); st != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("health of %q after Drain: %v", svc, st)
		}
	}
}

// compactJSON removes the spaces protojson may put in.
func compactJSON(t *testing.T, js []byte) string {
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Two backends serving one service: refused, naming both, unless the first
// in order has precedence.
func TestRouterServiceConflict(t *testing.T) {
	backends := []NamedBackend{{"a", Local(notesServer(t, "a"))}, {"b", Local(notesServer(t, "b"))}}
	r, err := NewRouter(backends, RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), r)
	var ce *ServiceConflictError
	if !errors.As(err, &ce) || ce.Service != "Notes" || ce.First != "a" || ce.Second != "b" {
		t.Fatalf("New: %v, want a conflict over Notes between a and b", err)
	}
	if !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("the error does not name both backends: %v", err)
	}

	_, g := routed(t, RouterOptions{Precedence: true}, backends)
	if code, body := get(t, g.HTTPHandler(), "/native.Notes/Get?text=x"); code != 200 || body != `{"text":"a:x"}` {
		t.Errorf("Notes.Get with precedence: %d %s, want the first backend's answer", code, body)
	}
}

func TestNewRouterRefusesBadNames(t *testing.T) {
	b := Local(notesServer(t, "a"))
	for _, tc := range []struct {
		backends []NamedBackend
		want     string
	}{
		{nil, "at least one backend"},
		{[]NamedBackend{{"", b}}, "has no name"},
		{[]NamedBackend{{"x", b}, {"x", b}}, `two backends are named "x"`},
		{[]NamedBackend{{"x", nil}}, "is nil"},
	} {
		if _, err := NewRouter(tc.backends, RouterOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRouter(%v): %v, want %q", tc.backends, err, tc.want)
		}
	}
}

// A message identical in two backends is shared; one whose fields differ
// is renamed for the second backend, and so is every message of that
// backend referring to it, even if its own fields are the same.
func TestMergeSchemasRenamesReferrers(t *testing.T) {
	msg := func(name string, fields ...native.Field) *native.Message {
		return &native.Message{Name: name, Fields: fields}
	}
	str := native.Field{Name: "s", Type: native.Type{Kind: native.KindString}}
	num := native.Field{Name: "n", Type: native.Type{Kind: native.KindInt64}}
	ref := func(to string) native.Field {
		return native.Field{Name: "r", Type: native.Type{Kind: native.KindList, Elem: &native.Type{Kind: native.KindMessage, Message: to}}}
	}
	ep := func(name, in string) native.Endpoint {
		return native.Endpoint{Name: name, Request: native.BodyJSON, Response: native.BodyJSON,
			RequestType: &native.Type{Kind: native.KindMessage, Message: in}, ResponseType: &native.Type{Kind: native.KindMessage, Message: in}}
	}
	a := &native.Schema{Endpoints: []native.Endpoint{ep("A.Get", "p.Outer")}, Messages: map[string]*native.Message{
		"p.Outer": msg("p.Outer", ref("p.Inner")), "p.Inner": msg("p.Inner", str), "p.Same": msg("p.Same", str)}}
	b := &native.Schema{Endpoints: []native.Endpoint{ep("B.Get", "p.Outer"), ep("B.Same", "p.Same")}, Messages: map[string]*native.Message{
		"p.Outer": msg("p.Outer", ref("p.Inner")), "p.Inner": msg("p.Inner", num), "p.Same": msg("p.Same", str)}}
	m, err := mergeSchemas([]partSchema{{"a", a}, {"b", b}}, false)
	if err != nil {
		t.Fatal(err)
	}
	ms := m.schema.Messages
	if len(ms) != 5 || ms["b.p.Inner"] == nil || ms["b.p.Outer"] == nil || ms["p.Same"] == nil {
		t.Fatalf("messages %v, want p.Outer, p.Inner, p.Same, b.p.Outer, b.p.Inner", keys(ms))
	}
	if got := ms["b.p.Outer"].Fields[0].Type.Elem.Message; got != "b.p.Inner" {
		t.Errorf("b.p.Outer refers to %q", got)
	}
	if got := ms["p.Outer"].Fields[0].Type.Elem.Message; got != "p.Inner" {
		t.Errorf("p.Outer refers to %q", got)
	}
	for _, e := range m.schema.Endpoints {
		want := map[string]string{"A.Get": "p.Outer", "B.Get": "b.p.Outer", "B.Same": "p.Same"}[e.Name]
		if e.RequestType.Message != want || e.ResponseType.Message != want {
			t.Errorf("%s uses %s and %s, want %s", e.Name, e.RequestType.Message, e.ResponseType.Message, want)
		}
	}
	if m.route["A.Get"] != 0 || m.route["B.Get"] != 1 || m.route["B.Same"] != 1 {
		t.Errorf("routes %v", m.route)
	}
	// The inputs are left as they were.
	if a.Messages["p.Outer"].Fields[0].Type.Elem.Message != "p.Inner" || b.Endpoints[0].RequestType.Message != "p.Outer" {
		t.Error("mergeSchemas changed its inputs")
	}
}

// stoppable is a native server on a TCP address that can be stopped and
// started again on it, as a backend process is killed and restarted.
type stoppable struct {
	t    *testing.T
	addr string
	mk   func() *native.Server
	mu   sync.Mutex
	srv  *native.Server
	done chan struct{}
}

func startStoppable(t *testing.T, mk func() *native.Server) *stoppable {
	s := &stoppable{t: t, addr: "127.0.0.1:0", mk: mk}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *stoppable) start() {
	var l net.Listener
	var err error
	for i := 0; ; i++ { // the old listener's port may take a moment to free
		if l, err = net.Listen("tcp", s.addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = l.Addr().String()
	s.srv = s.mk()
	s.done = make(chan struct{})
	go func(srv *native.Server, done chan struct{}) {
		defer close(done)
		srv.Serve(l)
	}(s.srv, s.done)
}

func (s *stoppable) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		<-s.done
		s.srv = nil
	}
}

// One of two remote backends goes down: its services turn NOT_SERVING and
// their calls fail UNAVAILABLE at once, the other's services and calls go
// on, and the whole server stays SERVING; the backend comes back and so do
// its services.
func TestRouterBackendDownAndBack(t *testing.T) {
	checkLeaks(t)
	notes := startStoppable(t, func() *native.Server { return notesServer(t, "n") })
	files := startStoppable(t, func() *native.Server { return filesServer(t) })
	r, g := routed(t, RouterOptions{}, []NamedBackend{
		{"notes", NewRemoteBackend(tcpDial(notes.addr), fastOptions(notes.addr))},
		{"files", NewRemoteBackend(tcpDial(files.addr), fastOptions(files.addr))},
	})
	h := g.HTTPHandler()
	if code, body := get(t, h, "/native.Notes/Get?text=x"); code != 200 || body != `{"text":"n:x"}` {
		t.Fatalf("Notes.Get: %d %s", code, body)
	}

	notes.stop()
	waitFor(t, 5*time.Second, "Notes NOT_SERVING", func() bool {
		return serviceStatus(t, g, "native.Notes") == healthpb.HealthCheckResponse_NOT_SERVING
	})
	if st := serviceStatus(t, g, "native.Files"); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Files while notes is down: %v", st)
	}
	if st := serviceStatus(t, g, ""); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("the server while one backend of two is down: %v", st)
	}
	if code, body := get(t, h, "/native.Notes/Get?text=x"); code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
		t.Errorf("Notes.Get while its backend is down: %d %s", code, body)
	}
	if code, body := get(t, h, "/native.Files/Stat?name=ab"); code != 200 || body != `{"name":"ab","size":"2"}` {
		t.Errorf("Files.Stat while notes is down: %d %s", code, body)
	}
	bs := r.Backends()
	if len(bs) != 2 || bs[0].Up || !bs[1].Up || len(bs[0].Services) != 1 || bs[0].Services[0] != "Notes" {
		t.Errorf("Backends() = %+v", bs)
	}

	notes.start()
	waitFor(t, 5*time.Second, "Notes SERVING again", func() bool {
		return serviceStatus(t, g, "native.Notes") == healthpb.HealthCheckResponse_SERVING
	})
	if code, body := get(t, h, "/native.Notes/Get?text=y"); code != 200 || body != `{"text":"n:y"}` {
		t.Errorf("Notes.Get after its backend came back: %d %s", code, body)
	}
}

// Refresh describes every backend again: endpoints a backend registered
// since are served and routed to it.
func TestRouterRefresh(t *testing.T) {
	notes := notesServer(t, "a")
	r, g := routed(t, RouterOptions{}, []NamedBackend{{"notes", Local(notes)}, {"files", Local(filesServer(t))}})
	if err := notes.Register("Notes.Count", func(req *struct{}, resp *struct {
		N int `json:"n"`
	}) error {
		resp.N = 7
		return nil
	}, native.Safe()); err != nil {
		t.Fatal(err)
	}
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, g.HTTPHandler(), "/native.Notes/Count")
	var out struct{ N int }
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || out.N != 7 {
		t.Errorf("Notes.Count after Refresh: %d %s", code, body)
	}
	if b := r.BackendOf("Notes.Count"); b != "notes" {
		t.Errorf("Notes.Count routed to %q", b)
	}
}
