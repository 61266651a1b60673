package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestGatewayRows runs the gateway rows and the rows of their ratios once,
// with tiny transfers, so CI proves that they work and clean up after
// themselves. It checks the shape of the results, never a timing.
func TestGatewayRows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rows, stdout := quickRows(t, "-min-bytes", "1MiB", "-only", `^(raw/tcp|grpc/tcp/1MiB(/client-win16M)?|gateway/.*|unary/(grpc|gateway-grpc|gateway-oneport|gateway-sniff|gateway-connect)/(1|16))$`)
	for _, name := range []string{
		"gateway/grpc/tcp", "gateway/grpc/tcp cpu", "gateway/rest/tcp",
		"gateway/grpc/tcp/client-win16M", "grpc/tcp/1MiB/client-win16M",
		"unary/gateway-grpc/1", "unary/gateway-grpc/1 p99", "unary/gateway-grpc/16",
		"unary/gateway-oneport/1", "unary/gateway-oneport/16", "unary/gateway-sniff/1", "unary/gateway-sniff/16",
		"unary/gateway-connect/1", "unary/gateway-connect/16",
	} {
		if r, ok := rows[name]; !ok || !(r.Median > 0) {
			t.Errorf("row %q: %+v (present %v)", name, r, ok)
		}
	}
	for _, name := range []string{
		"gateway/grpc tcp 1MiB", "cpu gateway/grpc tcp 1MiB", "gateway-rest/raw tcp",
		"client-win16M/BDP gateway/grpc tcp", "client-win16M/BDP grpc tcp 1MiB", "gateway/grpc tcp 1MiB client-win16M",
		"unary gateway/grpc 1", "unary gateway/grpc 16", "cpu unary gateway/grpc 16",
		"unary gateway-oneport/gateway-grpc 1", "unary gateway-sniff/gateway-grpc 16",
		"unary gateway-connect/gateway-grpc 1", "unary gateway-connect/gateway-grpc 16",
	} {
		if r, ok := rows[name]; !ok || !r.Ratio || !(r.Median > 0) {
			t.Errorf("ratio %q: %+v (present %v)", name, r, ok)
		}
	}
	if !strings.Contains(stdout, "gateway-rest/raw tcp") {
		t.Errorf("table lacks the REST ratio:\n%s", stdout)
	}
}
