package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHostile runs every scenario in a quick mode (a few connections, one
// run each, a shallow schema) against gw built from ./cmd/gw: each produces
// its rows, and no process or connection of the run is left behind. It
// checks no figure: the gateway's behaviour is what the harness measures.
func TestHostile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.json")
	fdsBefore := openFDs(t)
	clients := "gw,curl"
	if _, err := exec.LookPath("curl"); err != nil {
		clients = "gw"
	}
	var stdout, stderr bytes.Buffer
	code := hostileMain([]string{"-out", path, "-n", "2", "-rss-runs", "1", "-clients", clients,
		"-stall-conns", "4", "-drip-conns", "2", "-drip-bytes", "5MiB", "-settle", "100ms",
		"-idle-native", "8", "-stalled-rest", "4", "-grpc-streams", "8",
		"-schema-depths", "3,20", "-schema-cap", "10s", "-sigterm-after", "300ms", "-sigterm-depth", "20", "-openapi-endpoints", "30",
		"-timeout", "2m"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	rows := map[string]row{}
	for _, r := range rep.Rows {
		rows[r.Scenario+"/"+r.Name] = r
		if len(r.Samples) == 0 || r.Median == nil || *r.Min > *r.Median || *r.Median > *r.Max {
			t.Errorf("row %s: samples %v, median %v", r.Name, r.Samples, r.Median)
		}
	}
	for _, want := range []string{
		"rss/stall 4x4MiB: RSS above idle", "rss/drip 2x5MiB: idle RSS",
		"siege/gw latency", "siege/native idle: accepted", "siege/REST stalled: closed by gw", "siege/gRPC streams: opened",
		"schema/startup, lists 3 deep", "schema/startup, lists 20 deep", "schema/exit on SIGTERM 300ms into startup, lists 20 deep",
		"openapi/30 endpoints: allocated per GET",
	} {
		if _, ok := rows[want]; !ok {
			t.Errorf("no row %q", want)
		}
	}
	if r := rows["siege/gw latency"]; len(r.Samples) != 2 {
		t.Errorf("gw latency: %d samples, want 2", len(r.Samples))
	}
	if len(rep.Errors) > 0 || rep.Meta["commit"] == nil {
		t.Errorf("errors %q, meta %v", rep.Errors, rep.Meta)
	}
	for _, want := range []string{"measurement", "siege/gw latency", "< 64 MiB", "wrote " + path} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("processes left running: %v", kids)
	}
	if after := openFDs(t); after > fdsBefore+2 {
		t.Errorf("%d file descriptors open after the run, %d before", after, fdsBefore)
	}
}

// children lists the processes whose parent is this one.
func children(t *testing.T) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	me := strconv.Itoa(os.Getpid())
	var kids []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == me {
			kids = append(kids, e.Name()+" "+s[:strings.LastIndexByte(s, ')')+1])
		}
	}
	return kids
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// TestWire pins the bytes the attacks send against PROTOCOL.md.
func TestWire(t *testing.T) {
	if got, want := preface(), []byte("FGRPC\r\n\x02\x00\x40\x00\x00\x00\x00\x01\x00\x00\x40\x00\x00\x01\x00\x00\x00"); !bytes.Equal(got, want) {
		t.Errorf("preface % x, want % x", got, want)
	}
	if got, want := frameHeader(typeBody, flagEnd, 4<<20, 1), []byte{2, 1, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("BODY header % x, want % x", got, want)
	}
	f, err := readFrame(bytes.NewReader(requestHeader("Store.List")), maxPayload)
	if err != nil || f.typ != typeHeader || f.call != 1 || string(f.payload) != `{"accept":"json","body":"json","method":"Store.List"}` {
		t.Errorf("request header %+v %q, %v", f, f.payload, err)
	}
	var s struct {
		Messages map[string]struct {
			Fields []struct{ Type json.RawMessage }
		}
	}
	if err := json.Unmarshal(nestedSchema(3, "x"), &s); err != nil {
		t.Fatal(err)
	}
	if got := string(s.Messages["deep.Msg"].Fields[0].Type); strings.Count(got, `"list"`) != 3 {
		t.Errorf("depth 3 type %s", got)
	}
	if err := json.Unmarshal(wideSchema(3), &s); err != nil {
		t.Error(err)
	}
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-n", "3", "-schema-depths", "10, 20", "-clients", "curl"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.n != 3 || len(cfg.depths) != 2 || cfg.depths[1] != 20 || !cfg.clients["curl"] || cfg.clients["gw"] || cfg.out != "hostile-results.json" || cfg.stallClaim != 4<<20 {
		t.Errorf("%+v", cfg)
	}
	for _, bad := range [][]string{{"-n", "0"}, {"-schema-depths", "x"}, {"-clients", "wget"}, {"-stall-claim", "5MiB"}, {"-only", "("}, {"extra"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
