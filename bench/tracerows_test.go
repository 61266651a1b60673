package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestTraceRows runs the tracing rows and the rows of their ratios once,
// with tiny transfers: they work, and leave no goroutine behind (the
// batching span processor is shut down with its session).
func TestTraceRows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rows, _ := quickRows(t, "-min-bytes", "1MiB", "-only", `^(gateway/(grpc|rest)/tcp|unary/gateway-(grpc|remote)/(1|16))(/traced)?$`)
	for _, name := range []string{
		"gateway/grpc/tcp/traced", "gateway/rest/tcp/traced", "unary/gateway-grpc/1/traced", "unary/gateway-grpc/16/traced",
		"unary/gateway-remote/1/traced", "unary/gateway-remote/16/traced",
		"trace on/off gateway/grpc tcp", "trace on/off gateway/rest tcp", "trace on/off unary gateway-grpc 1",
		"trace on/off unary gateway-grpc 16", "trace on/off unary gateway-remote 1", "trace on/off unary gateway-remote 16",
	} {
		if r, ok := rows[name]; !ok || !(r.Median > 0) {
			t.Errorf("row %q: %+v (present %v)", name, r, ok)
		}
	}
}

// A traced session records a span in the gateway and one in the backend
// per call.
func TestTracedSession(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	gs, err := startGatewayWith(gatewaySetup{server: grpcDefaults, client: grpcDefaults, remote: true, traced: true})
	if err != nil {
		t.Fatal(err)
	}
	const calls = 3
	for range calls {
		if err := gs.grpcGet(1 << 10); err != nil {
			t.Fatal(err)
		}
	}
	before := gs.spans.n.Load()
	if err := gs.close(); err != nil {
		t.Fatal(err)
	}
	// The reflection call of startGatewayWith has a span too, and the
	// gateway's describe calls have theirs in the backend.
	if got := gs.spans.n.Load(); got < 2*calls+1 {
		t.Errorf("%d spans (%d before the shutdown's flush); want at least %d", got, before, 2*calls+1)
	}
}
