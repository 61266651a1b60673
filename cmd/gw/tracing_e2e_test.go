package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// A REST call and a gRPC call through gw serve to a remote gw backend,
// both processes exporting to one collector: each call is one trace, the
// client's, in which the gateway's server span is the child of the
// client's span and the backend's span the child of the gateway's (not of
// the client's: the gateway sends its own trace context over the native
// hop, replacing the client's header).
func TestTracingAcrossProcesses(t *testing.T) {
	col := newOTLPCollector(t)
	// A short batch delay: the spans of a call go out while it runs,
	// which the shutdown's flush does not show.
	env := []string{"OTEL_BSP_SCHEDULE_DELAY=50"}
	backend := startGW(t, "gw backend", env, "backend", "-native-addr", "127.0.0.1:0", "-data-dir", t.TempDir(), "-otlp-endpoint", col.URL)
	gw := startGW(t, "gw serve", env, "serve", "-backend", "tcp://"+backend.addr("native"), "-grpc-addr", "127.0.0.1:0",
		"-http-addr", "127.0.0.1:0", "-native-addr", "", "-otlp-endpoint", col.URL)
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	gw.waitLog(5*time.Second, "backend connected", msgIs("gateway: backend connected"))

	const (
		restTrace, restParent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		grpcTrace, grpcParent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	)
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/native.Store/List", strings.NewReader(`{"prefix":""}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+restTrace+"-"+restParent+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("REST call: %s", resp.Status)
	}
	grpcurl(t, "-plaintext", "-H", "traceparent: 00-"+grpcTrace+"-"+grpcParent+"-01", "-d", `{"prefix":""}`, grpcAddr, "native.Store/List")
	// A path no endpoint has stays out of the span's name.
	const lostTrace = "d4cda95b652f4a1592b449d5929fda1b"
	req, _ = http.NewRequest(http.MethodPost, "http://"+httpAddr+"/no.Such/Path"+strings.Repeat("x", 100), strings.NewReader(`{}`))
	req.Header.Set("Traceparent", "00-"+lostTrace+"-6e0c63257de34c92-01")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("a call to no endpoint: %s", resp.Status)
	}
	// The batch sends the spans while the processes run.
	waitFor(t, 10*time.Second, "the spans of both calls", func() bool {
		spans := col.spans()
		return len(traceOf(spans, restTrace)) >= 2 && len(traceOf(spans, grpcTrace)) >= 3 && len(traceOf(spans, lostTrace)) >= 1
	})
	stopGracefully(t, gw, backend)
	spans := col.spans()
	checkTrace(t, spans, restTrace, restParent, "POST /native.Store/List", "Store.List")
	// grpcurl sends the header on its reflection call too.
	checkTrace(t, spans, grpcTrace, grpcParent, "native.Store/List", "Store.List", "grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
	if lost := traceOf(spans, lostTrace); len(lost) != 1 || lost[0].name != "POST" || lost[0].attrs["http.response.status_code"] != "404" {
		t.Errorf("the spans of a call to no endpoint: %+v; want one, named POST, status 404", lost)
	}
	var describes int
	for _, s := range spans {
		if s.service == "framegate-backend" && s.name == "native.Describe" && s.parent == "" {
			describes++
		}
	}
	t.Logf("%d spans in all; %d of them the gateway's describe calls (traces of their own)", len(spans), describes)
}

// checkTrace checks that trace id holds a server span of the gateway
// named gwName, the child of parent, and a server span of the backend
// named beName, the child of the gateway's; and besides them only spans
// of the gateway named others.
func checkTrace(t *testing.T, spans []span, id, parent, gwName, beName string, others ...string) {
	t.Helper()
	var gws, be []span
	var rest []string
	for _, s := range traceOf(spans, id) {
		switch {
		case s.service == "framegate-gateway" && s.name == gwName:
			gws = append(gws, s)
		case s.service == "framegate-backend":
			be = append(be, s)
		default:
			rest = append(rest, s.name)
		}
	}
	if len(gws) != 1 || len(be) != 1 || !slices.Equal(rest, others) {
		t.Errorf("trace %s has gateway spans %+v, backend spans %+v, others %q; want one %q, one %q, and %q", id, gws, be, rest, gwName, beName, others)
		return
	}
	if g := gws[0]; g.kind != tracepb.Span_SPAN_KIND_SERVER || g.parent != parent {
		t.Errorf("trace %s: gateway span %+v; want a server span, the child of the client's %s", id, g, parent)
	}
	if b := be[0]; b.name != beName || b.kind != tracepb.Span_SPAN_KIND_SERVER || b.parent != gws[0].spanID {
		t.Errorf("trace %s: backend span %+v; want %s, a server span, the child of the gateway's %s", id, b, beName, gws[0].spanID)
	}
	if a := be[0].attrs; a["rpc.response.status_code"] != "OK" || a["rpc.system.name"] != "framegate_native" || a["rpc.method"] != beName {
		t.Errorf("trace %s: backend span attributes %v", id, a)
	}
}

// traceOf returns the spans of trace id.
func traceOf(spans []span, id string) []span {
	var out []span
	for _, s := range spans {
		if s.traceID == id {
			out = append(out, s)
		}
	}
	return out
}
