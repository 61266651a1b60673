package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestRatioOperandsNamed checks that every ratio divides rows that exist: a
// contender, or a side metric "<contender> <suffix>" of one (the mux
// ratios divide side metrics). A misspelt operand would make the ratio
// silently absent from every run.
func TestRatioOperandsNamed(t *testing.T) {
	known := map[string]bool{}
	for _, c := range contenders {
		known[c.name] = true
	}
	named := func(s string) bool {
		if known[s] {
			return true
		}
		row, _, ok := strings.Cut(s, " ")
		return ok && known[row]
	}
	for _, r := range ratios {
		if !named(r.num) || !named(r.den) {
			t.Errorf("ratio %q divides %q by %q: not a row nor a row's side metric", r.name, r.num, r.den)
		}
	}
}

// TestMuxRows runs the rows of calls sharing one connection once (-quick),
// checks that the ratios of side metrics come out with their targets, and
// that the rows leave no goroutine behind (they abort endless transfers).
// It checks shapes, never a timing.
func TestMuxRows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 4s")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rows, _ := quickRows(t, "-only", `^mux/`)
	for _, name := range []string{
		"mux/small-alone p99", "mux/small-beside-stream p99", "mux/small-beside-stream stream",
		"mux/stream-alone", "mux/small-beside-upload upload", "mux/small-beside-other-conn p99",
		"mux/small-beside-stream wake p99", "mux/two-streams", "mux/two-streams fairness",
		"mux two-streams/stream-alone", "mux/two-streams-two-conns", "mux two-streams one-conn/two-conns",
	} {
		if r, ok := rows[name]; !ok || !(r.Median > 0) {
			t.Errorf("row %q: %+v (present %v)", name, r, ok)
		}
	}
	for _, name := range []string{"mux small p99 beside/alone", "mux stream beside/alone"} {
		r, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("no ratio row %q", name)
		case !r.Ratio || r.Target == "" || r.Pass == nil || !(r.Median > 0):
			t.Errorf("ratio row %q: %+v", name, r)
		}
	}
}
