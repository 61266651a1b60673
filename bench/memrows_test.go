package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMemRows runs the memory rows once (-quick): 1,000 idle streams, 200
// idle connections, and slow readers. A slow reader's stream must hold no
// more than its window and a chunk (the rows' targets): that is flow
// control bounding memory, not a timing. The rows leave no goroutine
// behind.
func TestMemRows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 3s")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rows, _ := quickRows(t, "-only", `^mem/`)
	for _, name := range []string{"mem/idle-stream", "mem/idle-conn", "mem/slow-reader", "mem/slow-reader/gateway-window"} {
		if r, ok := rows[name]; !ok || !(r.Median > 0) {
			t.Errorf("row %q: %+v (present %v)", name, r, ok)
		}
	}
	for _, name := range []string{"mem/slow-reader", "mem/slow-reader/gateway-window"} {
		if r := rows[name]; r.Pass == nil || !*r.Pass {
			t.Errorf("row %q holds %.2f MiB, over its target %s", name, r.Median, r.Target)
		}
	}
}
