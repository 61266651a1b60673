package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oneListener is the listener name gw serve -addr logs.
const oneListener = "grpc+http"

// startOnePort starts gw serve -addr on a free port with the embedded
// store holding a.txt, and returns it and its address.
func startOnePort(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "a.txt"), []byte("one port\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGW(t, "gw serve -addr", nil, append(append(append([]string{"serve"}, oneFace.args...), "-native-addr", "", "-data-dir", dataDir), args...)...)
	addr := gw.addr(oneListener)
	if n := gw.countLog(func(l map[string]any) bool { return l["msg"] == "listening" && l["listener"] != oneListener }); n != 0 {
		t.Errorf("gw serve -addr logged %d other listeners", n)
	}
	return gw, addr
}

// grpcurl and curl on the same plaintext port: gRPC over h2c, REST over
// HTTP/1.1 and over h2c (curl --http2-prior-knowledge), the gateway API,
// health and metrics; the token check, the header limit and the host check
// hold there as on the separate listeners.
func TestOnePortPlaintext(t *testing.T) {
	needCurl(t)
	tok := randomWord("tok-")
	gw, addr := startOnePort(t, "-auth-token-file", writeTokens(t, tok+"\n"), "-max-header-size", "4KiB")
	auth := "Authorization: Bearer " + tok

	out := grpcurl(t, "-plaintext", "-H", auth, addr, "list")
	if !strings.Contains(out, "native.Store\n") || !strings.Contains(out, "grpc.health.v1.Health\n") {
		t.Errorf("grpcurl list: %s", out)
	}
	out = grpcurl(t, "-plaintext", "-H", auth, "-d", `{"prefix":""}`, addr, "native.Store/List")
	if !strings.Contains(out, `"name": "a.txt"`) {
		t.Errorf("grpcurl native.Store/List: %s", out)
	}
	if out := grpcurl(t, "-plaintext", "-H", auth, addr, "grpc.health.v1.Health/Check"); !strings.Contains(out, `"status": "SERVING"`) {
		t.Errorf("health check: %s", out)
	}
	if out := grpcurlFails(t, "-plaintext", "-d", `{"prefix":""}`, addr, "native.Store/List"); !strings.Contains(out, "gw: missing bearer token") {
		t.Errorf("gRPC call without a token: %s", out)
	}
	if out := grpcurlFails(t, "-plaintext", "-H", auth, "-H", "x-big: "+strings.Repeat("b", 5000), addr, "list"); strings.Contains(out, "native.Store") {
		t.Errorf("gRPC metadata over -max-header-size was served: %s", out)
	}

	for _, proto := range []struct{ flag, version string }{{"--http1.1", "1.1"}, {"--http2-prior-knowledge", "2"}} {
		t.Run(strings.TrimLeft(proto.flag, "-"), func(t *testing.T) {
			body, code := curlStatus(t, proto.flag, "-H", auth, "--json", `{"prefix":""}`, "http://"+addr+"/native.Store/List")
			if code != "200" || !strings.Contains(body, `"name":"a.txt"`) {
				t.Errorf("REST List: %s %q", code, body)
			}
			if v, _ := curl(t, proto.flag, "-o", "/dev/null", "-w", "%{http_version}", "http://"+addr+"/healthz"); v != proto.version {
				t.Errorf("curl %s spoke HTTP/%s", proto.flag, v)
			}
			// A GET: a 401 sent before curl's body arrives is followed
			// by RST_STREAM on h2, which curl may report as its error.
			if body, code := curlStatus(t, proto.flag, "http://"+addr+"/v1/endpoints"); code != "401" {
				t.Errorf("REST without a token: %s %s", code, body)
			}
			if body, code := curlStatus(t, proto.flag, "-H", auth, "http://"+addr+"/v1/endpoints"); code != "200" || !strings.Contains(body, `"/native.Store/Read"`) {
				t.Errorf("GET /v1/endpoints: %s %s", code, body)
			}
			if body, code := curlStatus(t, proto.flag, "http://"+addr+"/healthz"); code != "200" {
				t.Errorf("GET /healthz: %s %s", code, body)
			}
			big := []string{proto.flag}
			for i := range 5 { // 10000 bytes: above the 4 KiB net/http adds to MaxHeaderBytes for HTTP/1
				big = append(big, "-H", fmt.Sprintf("X-Big-%d: %s", i, strings.Repeat("b", 2000)))
			}
			if body, code := curlStatus(t, append(big, "http://"+addr+"/healthz")...); code != "431" {
				t.Errorf("a header over -max-header-size: %s %s", code, body)
			}
		})
	}
	body, code := curlStatus(t, "http://"+addr+"/metrics")
	if code != "200" || !strings.Contains(body, `framegate_gateway_calls_total{code="OK",endpoint="Store.List",protocol="grpc"} 1`) ||
		!strings.Contains(body, `framegate_gateway_calls_total{code="OK",endpoint="Store.List",protocol="http"} 2`) {
		t.Errorf("GET /metrics: %s\n%s", code, body)
	}
	if body, code := curlStatus(t, "-X", "POST", "http://"+addr+"/native.Store/List"); code != "401" {
		t.Errorf("a POST without a token or a gRPC content type: %s %s", code, body)
	}
	gw.signal(syscall.SIGTERM)
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// Without a token, the host check answers REST requests for other names
// with 403 on the single port, as on -http-addr; gRPC calls, which a web
// page cannot make, are not checked.
func TestOnePortHostCheck(t *testing.T) {
	needCurl(t)
	_, addr := startOnePort(t)
	if body, code := curlStatus(t, "-H", "Host: evil.example", "http://"+addr+"/healthz"); code != "403" {
		t.Errorf("REST for another host: %s %s", code, body)
	}
	if body, code := curlStatus(t, "--http2-prior-knowledge", "-H", "Host: evil.example", "http://"+addr+"/healthz"); code != "403" {
		t.Errorf("REST over h2c for another host: %s %s", code, body)
	}
	out := grpcurl(t, "-plaintext", "-authority", "gw.example", "-d", `{"prefix":""}`, addr, "native.Store/List")
	if !strings.Contains(out, `"name": "a.txt"`) {
		t.Errorf("gRPC with another authority: %s", out)
	}
}

// grpcurl and curl on the same TLS port with client certificates: gRPC
// and REST over HTTP/2 negotiated by ALPN, REST over HTTP/1.1 too; a
// client without a certificate the CA signed is refused.
func TestOnePortTLS(t *testing.T) {
	needCurl(t)
	p := newTestPKI(t)
	_, addr := startOnePort(t, "-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-client-ca", p.ca)
	client := []string{"-cacert", p.ca, "-cert", p.clientCert, "-key", p.clientKey}

	out := grpcurl(t, append(client, "-d", `{"name":"a.txt"}`, addr, "native.Store/Stat")...)
	if !strings.Contains(out, `"name": "a.txt"`) {
		t.Errorf("grpcurl over TLS: %s", out)
	}
	grpcurlFails(t, "-cacert", p.ca, addr, "list")
	grpcurlFails(t, "-cacert", p.ca, "-cert", p.otherCert, "-key", p.otherKey, addr, "list")

	curlClient := []string{"--cacert", p.ca, "--cert", p.clientCert, "--key", p.clientKey}
	for _, proto := range []struct{ flag, version string }{{"--http1.1", "1.1"}, {"--http2", "2"}} {
		body, code := curlStatus(t, append(curlClient, proto.flag, "--json", `{"prefix":""}`, "https://"+addr+"/native.Store/List")...)
		if code != "200" || !strings.Contains(body, `"name":"a.txt"`) {
			t.Errorf("REST List over TLS %s: %s %q", proto.flag, code, body)
		}
		if v, _ := curl(t, append(curlClient, proto.flag, "-o", "/dev/null", "-w", "%{http_version}", "https://"+addr+"/healthz")...); v != proto.version {
			t.Errorf("curl %s spoke HTTP/%s", proto.flag, v)
		}
	}
	if _, code := curl(t, "--cacert", p.ca, "https://"+addr+"/healthz"); code == 0 {
		t.Error("curl without a client certificate was served")
	}
}
