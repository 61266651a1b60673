package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMessageRows runs the rows of streams of small messages and their
// ratio once: they work, count every message, and leave no goroutine
// behind.
func TestMessageRows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rows, _ := quickRows(t, "-only", `^messages/`)
	for _, name := range []string{"messages/native/tcp", "messages/grpc/tcp", "messages native/grpc tcp",
		"messages/native/tcp allocs", "messages/grpc/tcp cpu", "messages/grpc-string/tcp", "messages native/grpc-string tcp",
		"messages/grpc-decoded/tcp", "messages native/grpc-decoded tcp"} {
		if r, ok := rows[name]; !ok || !(r.Median > 0) {
			t.Errorf("row %q: %+v (present %v)", name, r, ok)
		}
	}
}
