package gateway

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left behind once
// they are done: gRPC and HTTP servers, native connections and handlers
// must all end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
