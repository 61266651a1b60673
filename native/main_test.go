package native_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left behind once
// they are done: every connection, handler, reader and timer must end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
