package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestBlockingRows runs two rows of blocking handlers once: they record
// the handler's time and the ideal, the ratio to the ideal comes out, and
// nothing is left behind. It checks shapes, never a timing.
func TestBlockingRows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rows, _ := quickRows(t, "-only", `^unary/native-sleep(100us/1|1ms/16)$`)
	for _, name := range []string{
		"unary/native-sleep100us/1", "unary/native-sleep100us/1 handler", "unary/native-sleep100us/1 ideal",
		"unary/native-sleep1ms/16", "unary/native-sleep1ms/16 ideal",
		"blocking 100us/ideal 1", "blocking 1ms/ideal 16",
	} {
		if r, ok := rows[name]; !ok || !(r.Median > 0) {
			t.Errorf("row %q: %+v (present %v)", name, r, ok)
		}
	}
	if r := rows["unary/native-sleep100us/1 handler"]; r.Median < 100 {
		t.Errorf("the 100 µs handler took %v µs", r.Median)
	}
}
