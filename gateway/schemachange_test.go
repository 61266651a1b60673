package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

// Two versions of one struct that does not pin its numbers: v2 inserts a
// field in the middle, which moves "size" from 2 to 3. Each is declared in
// a function of its own so that both are the message "scEntry".
func scEntryV1(t *testing.T) *native.Server {
	type scEntry struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	return scServer[scEntry](t)
}

func scEntryV2(t *testing.T) *native.Server {
	type scEntry struct {
		Name  string `json:"name"`
		Owner string `json:"owner"`
		Size  int64  `json:"size"`
	}
	return scServer[scEntry](t)
}

// The same two versions, pinned: v2's inserted field takes a new number.
func scPinnedV1(t *testing.T) *native.Server {
	type scEntry struct {
		Name string `json:"name" native:"1"`
		Size int64  `json:"size" native:"2"`
	}
	return scServer[scEntry](t)
}

func scPinnedV2(t *testing.T) *native.Server {
	type scEntry struct {
		Name  string `json:"name" native:"1"`
		Owner string `json:"owner" native:"3"`
		Size  int64  `json:"size" native:"2"`
	}
	return scServer[scEntry](t)
}

// scServer returns a native server with endpoint Sc.Get answering resp's
// type.
func scServer[T any](t *testing.T) *native.Server {
	t.Helper()
	srv := native.NewServer()
	if err := srv.Register("Sc.Get", func(req *T, resp *T) error { *resp = *req; return nil }); err != nil {
		t.Fatal(err)
	}
	return srv
}

// swapBackend is a local backend whose server can be replaced, as a
// backend process is by an upgrade.
type swapBackend struct {
	mu  sync.Mutex
	srv *native.Server
}

func (b *swapBackend) set(srv *native.Server) { b.mu.Lock(); b.srv = srv; b.mu.Unlock() }
func (b *swapBackend) get() *native.Server    { b.mu.Lock(); defer b.mu.Unlock(); return b.srv }
func (b *swapBackend) Call(ctx context.Context, m string, req, resp any, opts ...native.CallOption) error {
	return native.NewLocalClient(b.get()).Call(ctx, m, req, resp, opts...)
}
func (b *swapBackend) Close() error                                   { return nil }
func (b *swapBackend) Schema(context.Context) (*native.Schema, error) { return b.get().Schema() }

// servedNumber returns the number the gateway serves for field of the
// message that is the input of Sc.Get.
func servedNumber(t *testing.T, g *Gateway, field string) protoreflect.FieldNumber {
	t.Helper()
	m := g.set.Load().lookup("/native.Sc/Get")
	if m == nil {
		t.Fatal("Sc.Get not served")
	}
	fd := m.in.Fields().ByName(protoreflect.Name(field))
	if fd == nil {
		t.Fatalf("no field %s", field)
	}
	return fd.Number()
}

// TestRefreshRefusesRenumberedField: a backend upgrade that inserts an
// unpinned field renumbers a served one; the gateway refuses the new
// schema, keeps serving the old numbers, logs at ERROR and tells the
// observer. A pinned insertion is mounted.
func TestRefreshRefusesRenumberedField(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	var observed []*SchemaChangeError
	b := &swapBackend{srv: scEntryV1(t)}
	g, err := New(context.Background(), b,
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithSchemaChangeObserver(func(e *SchemaChangeError) { mu.Lock(); observed = append(observed, e); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	b.set(scEntryV2(t))
	err = g.Refresh(context.Background())
	var sce *SchemaChangeError
	if !errors.As(err, &sce) {
		t.Fatalf("Refresh = %v, want a *SchemaChangeError", err)
	}
	if len(sce.Changes) != 1 || sce.Changes[0] != (SchemaChange{Message: "native.scEntry", Field: "size", OldNumber: 2, NewNumber: 3, OldType: "int64", NewType: "int64"}) {
		t.Errorf("changes = %+v, want native.scEntry size 2 -> 3", sce.Changes)
	}
	for _, w := range []string{"size: number 2 -> 3", "still serving the old schema", "a restart accepts"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if n := servedNumber(t, g, "size"); n != 2 {
		t.Errorf("after the refusal size is served as %d, want the old 2", n)
	}
	if g.RefusedSchema() == nil {
		t.Error("RefusedSchema() = nil after a refusal")
	}
	mu.Lock()
	if len(observed) != 1 {
		t.Errorf("observer called %d times, want 1", len(observed))
	}
	mu.Unlock()
	for _, w := range []string{"level=ERROR", "field=size", "old_number=2", "new_number=3"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
	// Going back to the served schema is accepted and clears the refusal.
	b.set(scEntryV1(t))
	if err := g.Refresh(context.Background()); err != nil || g.RefusedSchema() != nil {
		t.Errorf("back to v1: Refresh = %v, RefusedSchema = %v", err, g.RefusedSchema())
	}
}

// TestRefreshAcceptsPinnedInsertion: the same upgrade with pinned numbers
// changes no served field.
func TestRefreshAcceptsPinnedInsertion(t *testing.T) {
	b := &swapBackend{srv: scPinnedV1(t)}
	g, err := New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	b.set(scPinnedV2(t))
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh after a pinned insertion: %v", err)
	}
	if n := servedNumber(t, g, "size"); n != 2 {
		t.Errorf("size served as %d, want 2", n)
	}
	if n := servedNumber(t, g, "owner"); n != 3 {
		t.Errorf("owner served as %d, want 3", n)
	}
}

// TestSchemaChanges checks what counts as a change: numbers, types and a
// number given to another field; added and removed fields do not.
func TestSchemaChanges(t *testing.T) {
	str := native.Type{Kind: native.KindString}
	i64 := native.Type{Kind: native.KindInt64}
	build := func(fields ...native.Field) protoreflect.FileDescriptor {
		t.Helper()
		s := &native.Schema{
			Endpoints: []native.Endpoint{{Name: "Sc.Get", Request: native.BodyJSON, Response: native.BodyNone, RequestType: &native.Type{Kind: native.KindMessage, Message: "sc.M"}}},
			Messages:  map[string]*native.Message{"sc.M": {Name: "sc.M", Fields: fields}},
		}
		set, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits)
		if err != nil {
			t.Fatal(err)
		}
		return set.file
	}
	f := func(name string, typ native.Type, n int32) native.Field {
		return native.Field{Name: name, Type: typ, Number: n}
	}
	list := native.Type{Kind: native.KindList, Elem: &str}
	cases := []struct {
		name      string
		old, next protoreflect.FileDescriptor
		want      string
	}{
		{"same", build(f("a", str, 0)), build(f("a", str, 0)), ""},
		{"added at the end", build(f("a", str, 0)), build(f("a", str, 0), f("b", i64, 0)), ""},
		{"removed at the end", build(f("a", str, 0), f("b", i64, 0)), build(f("a", str, 0)), ""},
		{"renumbered", build(f("a", str, 0), f("b", i64, 0)), build(f("x", str, 0), f("a", str, 0), f("b", i64, 0)), "field a: number 1 -> 2; message native.M field b: number 2 -> 3"},
		{"retyped", build(f("a", str, 0)), build(f("a", i64, 0)), "field a: type string -> int64"},
		{"made repeated", build(f("a", str, 0)), build(f("a", list, 0)), "type string -> repeated string"},
		{"number reused", build(f("a", str, 1), f("b", i64, 2)), build(f("a", str, 1), f("c", str, 2)), "field b: number 2 now belongs to field c (string)"},
		{"pinned insert", build(f("a", str, 1), f("b", i64, 2)), build(f("a", str, 1), f("c", str, 3), f("b", i64, 2)), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := schemaChanges(c.old, c.next)
			if c.want == "" {
				if len(ch) != 0 {
					t.Errorf("changes = %v, want none", ch)
				}
				return
			}
			if len(ch) == 0 || !strings.Contains((&SchemaChangeError{Changes: ch}).Error(), c.want) {
				t.Errorf("changes = %v, want %q", ch, c.want)
			}
		})
	}
}

type pinE2E struct {
	Note  string `json:"note" native:"7"`
	Count int64  `json:"count" native:"2"`
}

// TestPinnedNumbersEndToEnd: pinned numbers are what reflection serves and
// what gRPC and REST transcode: a client writing field 7 on the wire sets
// the Go field pinned to 7.
func TestPinnedNumbersEndToEnd(t *testing.T) {
	srv := native.NewServer()
	if err := srv.Register("Pin.Echo", func(req *pinE2E, resp *pinE2E) error { *resp = *req; resp.Count++; return nil }); err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), Local(srv))
	if err != nil {
		t.Fatal(err)
	}
	_, conn := serveGRPC(t, g)
	d := newDyn(t, conn)
	in := d.method("native.Pin/Echo").Input()
	for name, want := range map[string]protoreflect.FieldNumber{"note": 7, "count": 2} {
		if n := in.Fields().ByName(protoreflect.Name(name)).Number(); n != want {
			t.Errorf("reflection serves %s as %d, want %d", name, n, want)
		}
	}
	// Raw wire bytes: field 7 (string) "hi", field 2 (varint) 41.
	var raw []byte
	raw = protowire.AppendTag(raw, 7, protowire.BytesType)
	raw = protowire.AppendString(raw, "hi")
	raw = protowire.AppendTag(raw, 2, protowire.VarintType)
	raw = protowire.AppendVarint(raw, 41)
	msg := d.msg(in, "")
	if err := proto.Unmarshal(raw, msg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := d.call(ctx, "native.Pin/Echo", msg)
	if err != nil {
		t.Fatal(err)
	}
	if note, count := field(out, "note").String(), field(out, "count").Int(); note != "hi" || count != 42 {
		t.Errorf("gRPC echo = note %q count %d, want hi 42", note, count)
	}
	hs := httptest.NewServer(g.HTTPHandler())
	defer hs.Close()
	resp, body := do(t, "POST", hs.URL+"/native.Pin/Echo", strings.NewReader(`{"note":"rest","count":"1"}`))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"note":"rest"`) || !strings.Contains(string(body), `"count":2`) {
		t.Errorf("REST echo = %d %s", resp.StatusCode, body)
	}
}

// TestRemoteRefusesRenumberedField: a backend process whose endpoint is
// re-registered with an unpinned field inserted is probed by the remote
// supervisor; the gateway keeps serving the old numbers and says why.
func TestRemoteRefusesRenumberedField(t *testing.T) {
	checkLeaks(t)
	type scEntry struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	srv := native.NewServer()
	if err := srv.Register("Sc.Get", func(req *scEntry, resp *scEntry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	addr := serveNative(t, srv)
	o := fastOptions(addr)
	o.ProbeInterval = 20 * time.Millisecond
	rb := NewRemoteBackend(tcpDial(addr), o)
	defer rb.Close()
	g, err := New(context.Background(), rb)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.stop()
	if n := servedNumber(t, g, "size"); n != 2 {
		t.Fatalf("size served as %d, want 2", n)
	}
	srv.Unregister("Sc.Get")
	if err := registerScEntryV2(srv); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the renumbering to be refused", func() bool { return g.RefusedSchema() != nil })
	if n := servedNumber(t, g, "size"); n != 2 {
		t.Errorf("after the refusal size is served as %d, want the old 2", n)
	}
	if !rb.Status().Up {
		t.Errorf("status %+v: a refused schema is not a down backend", rb.Status())
	}
}

// registerScEntryV2 registers Sc.Get on srv with the v2 scEntry.
func registerScEntryV2(srv *native.Server) error {
	type scEntry struct {
		Name  string `json:"name"`
		Owner string `json:"owner"`
		Size  int64  `json:"size"`
	}
	return srv.Register("Sc.Get", func(req *scEntry, resp *scEntry) error { return nil })
}
