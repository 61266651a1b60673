package main

import (
	"strings"
	"testing"
	"time"
)

// Two backends behind one gw serve. Both serve the demo Store and Echo; the
// second also Extra.Echo. Without -backend-precedence the gateway refuses
// to start, naming a service of both and both backends; with it, Store goes to the
// first and Extra to the second, /v1/endpoints says so, and when the
// second dies only Extra turns NOT_SERVING: Store and /healthz go on.
func TestServeTwoBackends(t *testing.T) {
	_, addrA := startBackend(t, "127.0.0.1:0", t.TempDir())
	b, addrB := startBackend(t, "127.0.0.1:0", t.TempDir(), "-extra-endpoint", "Extra.Echo")
	a, bName := "tcp://"+addrA, "tcp://"+addrB

	_, errOut, code := runCmd(t, nil, gwBin, "serve", "-backend", a, "-backend", bName,
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "")
	if code == 0 || !strings.Contains(errOut, `is served by backends \"`+a+`\"`) || !strings.Contains(errOut, `and \"`+bName+`\"`) ||
		!strings.Contains(errOut, `service \"Store\"`) && !strings.Contains(errOut, `service \"Echo\"`) {
		t.Fatalf("two backends serving Store and Echo: exit %d, stderr %s", code, errOut)
	}

	gw := startGW(t, "gw serve", nil, "serve", "-backend", a, "-backend", bName, "-backend-precedence",
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "", "-reconnect-max", "200ms")
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	if out := grpcurl(t, "-plaintext", grpcAddr, "list"); !strings.Contains(out, "native.Store\n") || !strings.Contains(out, "native.Extra\n") {
		t.Fatalf("grpcurl list: %s", out)
	}
	if out := grpcurl(t, "-plaintext", "-d", `{"text":"hi"}`, grpcAddr, "native.Extra/Echo"); !strings.Contains(out, `"text": "hi"`) {
		t.Errorf("Extra/Echo: %s", out)
	}
	_, eps := httpGet(t, "http://"+httpAddr+"/v1/endpoints")
	if !strings.Contains(eps, `"name":"Extra.Echo"`) || !strings.Contains(eps, `"backend":"`+bName+`"`) || !strings.Contains(eps, `"backend":"`+a+`"`) {
		t.Errorf("/v1/endpoints: %s", eps)
	}

	b.kill()
	waitFor(t, 5*time.Second, "Extra NOT_SERVING", func() bool {
		return strings.Contains(grpcurl(t, "-plaintext", "-d", `{"service":"native.Extra"}`, grpcAddr, "grpc.health.v1.Health/Check"), "NOT_SERVING")
	})
	if out := grpcurl(t, "-plaintext", "-d", `{"service":"native.Store"}`, grpcAddr, "grpc.health.v1.Health/Check"); !strings.Contains(out, `"status": "SERVING"`) {
		t.Errorf("Store while the other backend is down: %s", out)
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/healthz"); code != 200 {
		t.Errorf("/healthz while one backend of two is down: %d %s", code, body)
	}
	if out := grpcurl(t, "-plaintext", "-d", `{}`, grpcAddr, "native.Store/List"); strings.Contains(out, "ERROR") {
		t.Errorf("Store/List while the other backend is down: %s", out)
	}
	if out := grpcurlFails(t, "-plaintext", "-d", `{"text":"hi"}`, grpcAddr, "native.Extra/Echo"); !strings.Contains(out, "Code: Unavailable") {
		t.Errorf("Extra/Echo while its backend is down: %s", out)
	}
	_, m := httpGet(t, "http://"+httpAddr+"/metrics")
	if metricValue(m, `framegate_backend_up{backend="`+bName+`",replica="`+bName+`"}`) != 0 || metricValue(m, `framegate_backend_up{backend="`+a+`",replica="`+a+`"}`) != 1 {
		t.Errorf("metrics:\n%s", grepLines(m, "framegate_backend_up"))
	}
}
