package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickRun runs the harness in -quick mode over a few rows, so CI proves
// that it works without running the long thing. It checks the shape of the
// JSON, never a timing.
func TestQuickRun(t *testing.T) {
	path, stdout := quickRun(t, "-only", `^(raw|native|grpc)/unix(/1MiB)?$|^raw/memmove$|^unary/(native|netrpc-gob)/1$`)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every row must carry name, unit, median, min and max.
	var raw struct {
		Meta map[string]any               `json:"meta"`
		Rows []map[string]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, r := range raw.Rows {
		for _, k := range []string{"name", "unit", "median", "min", "max"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %s has no %q", r["name"], k)
			}
		}
	}
	rep, rows := readReport(t, path)
	for _, r := range rep.Rows {
		if r.Name == "" || r.Unit == "" {
			t.Errorf("row %+v: empty name or unit", r)
		}
		if math.IsNaN(r.Median) || r.Min > r.Median || r.Median > r.Max {
			t.Errorf("row %s: min %v, median %v, max %v out of order", r.Name, r.Min, r.Median, r.Max)
		}
	}
	for _, name := range []string{
		"raw/unix", "native/unix", "grpc/unix/1MiB", "raw/memmove",
		"native/unix cpu", "grpc/unix/1MiB cpu", "native/unix allocs",
		"unary/native/1", "unary/native/1 p50", "unary/native/1 p99", "unary/netrpc-gob/1",
	} {
		if _, ok := rows[name]; !ok {
			t.Errorf("no row %q", name)
		}
	}
	for _, name := range []string{"native/raw unix", "native/grpc unix 1MiB", "cpu native/grpc unix 1MiB", "unary native/netrpc 1"} {
		r, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("no ratio row %q", name)
		case !r.Ratio || r.Unit != "x" || r.Target == "" || r.Pass == nil:
			t.Errorf("ratio row %q: %+v", name, r)
		}
	}
	if _, ok := rows["native/raw tcp"]; ok {
		t.Error("ratio native/raw tcp present although its rows were not run")
	}
	if rep.Meta["rounds"] != float64(1) {
		t.Errorf("meta rounds = %v, want 1", rep.Meta["rounds"])
	}
	for _, want := range []string{"Rows (median", "Ratios (computed per round", "native/raw unix", "runtime:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-quick", "-rounds", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rounds != 2 || cfg.minBytes != 64<<20 || cfg.minTime != 0 {
		t.Errorf("-quick -rounds 2: %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-min-bytes", "3GiB"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.minBytes != 3<<30 || cfg.rounds != 5 || cfg.segment() != 512<<20 {
		t.Errorf("defaults with -min-bytes 3GiB: %+v, segment %d", cfg, cfg.segment())
	}
	if _, err := parseFlags([]string{"-min-bytes", "lots"}, &bytes.Buffer{}); err == nil {
		t.Error("-min-bytes lots accepted")
	}
}

func TestRatiosPerRound(t *testing.T) {
	rs := newResults(3)
	for i, v := range [][2]float64{{1, 2}, {3, 3}, {8, 2}} {
		rs.add(i, "native/unix", "GiB/s", v[0])
		rs.add(i, "raw/unix", "GiB/s", v[1])
	}
	rs.addRatios()
	s := rs.byName["native/raw unix"]
	if s == nil {
		t.Fatal("no ratio")
	}
	// Per round: 0.5, 1, 4; the ratio of the medians would be 3/2.
	if got := median(s.measured()); got != 1 {
		t.Errorf("median ratio %v, want 1", got)
	}
	if lo, hi := minMax(s.measured()); lo != 0.5 || hi != 4 {
		t.Errorf("min-max %v-%v, want 0.5-4", lo, hi)
	}
}

// quickRun runs the harness in -quick mode with args, and returns the path
// of its JSON and what it printed.
func quickRun(t *testing.T, args ...string) (path, stdout string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "results.json")
	var out, stderr bytes.Buffer
	if code := benchMain(append([]string{"-quick", "-json", path}, args...), &out, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), stderr.String())
	}
	return path, out.String()
}

// quickRows is quickRun's rows by name, and what it printed.
func quickRows(t *testing.T, args ...string) (map[string]summary, string) {
	t.Helper()
	path, stdout := quickRun(t, args...)
	_, rows := readReport(t, path)
	return rows, stdout
}

// readReport reads the JSON report at path, and its rows by name.
func readReport(t *testing.T, path string) (report, map[string]summary) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	rows := map[string]summary{}
	for _, r := range rep.Rows {
		rows[r.Name] = r
	}
	return rep, rows
}
