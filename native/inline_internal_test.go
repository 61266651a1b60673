package native

import (
	"testing"
	"time"
)

// TestHandlerQuickness: a handler runs inline until two calls in a row
// take inlineMax or longer, at once (one may be the machine's); then a run
// of quick calls brings it back, not a single one.
func TestHandlerQuickness(t *testing.T) {
	var h handler
	if !h.quick() {
		t.Fatal("a handler never called is not quick")
	}
	h.observe(inlineMax / 2)
	h.observe(inlineMax / 2)
	if !h.quick() {
		t.Fatalf("calls of %v made the handler slow", inlineMax/2)
	}
	h.observe(2 * time.Millisecond)
	if !h.quick() {
		t.Fatal("one call of 2ms among quick ones made the handler slow")
	}
	h.observe(time.Microsecond)
	h.observe(2 * time.Millisecond)
	h.observe(2 * time.Millisecond)
	if h.quick() {
		t.Fatal("two calls of 2ms in a row left the handler quick")
	}
	h.observe(time.Microsecond)
	if h.quick() {
		t.Fatal("one quick call after 2ms ones made the handler quick again")
	}
	n := 1
	for ; !h.quick() && n < 1000; n++ {
		h.observe(time.Microsecond)
	}
	if n < 8 || n > 64 {
		t.Errorf("quick again after %d calls of 1µs following two of 2ms, want 8 to 64", n)
	}
}
