package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// randomWord is prefix followed by 16 random hex digits.
func randomWord(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// curlStatus runs curl and returns the body and the HTTP status (curl's
// -w output on the last line).
func curlStatus(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, code := curl(t, append([]string{"-w", "\n%{http_code}"}, args...)...)
	if code != 0 {
		t.Fatalf("curl %q: status %d: %s", args, code, out)
	}
	i := strings.LastIndexByte(out, '\n')
	return out[:i], out[i+1:]
}

// gw serve with a token file given through GW_AUTH_TOKEN_FILE: gRPC
// (native endpoints, reflection, GatewayService) and REST need a token,
// health and /metrics do not, the native listener takes none.
func TestAuthToken(t *testing.T) {
	needCurl(t)
	tok1, tok2 := randomWord("tok1-"), randomWord("tok2-")
	tokens := writeTokens(t, "\n  "+tok1+"  \n\n"+tok2+"\n")
	gw := startGW(t, "gw serve", []string{"GW_AUTH_TOKEN_FILE=" + tokens}, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-native-addr", "127.0.0.1:0", "-data-dir", t.TempDir())
	grpcAddr, httpAddr, nativeAddr := gw.addr("grpc"), gw.addr("http"), gw.addr("native")
	if l := gw.waitLog(time.Second, "the tokens line", msgIs("gw: bearer tokens required")); l["tokens"] != 2.0 {
		t.Errorf("tokens line %v", l)
	}
	auth1, auth2 := "authorization: Bearer "+tok1, "authorization: Bearer "+tok2

	t.Run("grpc", func(t *testing.T) {
		out := grpcurlFails(t, "-plaintext", grpcAddr, "list")
		if !strings.Contains(out, "Unauthenticated") || !strings.Contains(out, "gw: missing bearer token") {
			t.Errorf("list without a token: %s", out)
		}
		out = grpcurlFails(t, "-plaintext", "-H", "authorization: Bearer wrong", grpcAddr, "list")
		if !strings.Contains(out, "gw: invalid bearer token") {
			t.Errorf("list with a wrong token: %s", out)
		}
		if out := grpcurl(t, "-plaintext", "-H", auth1, grpcAddr, "list"); !strings.Contains(out, "native.Store") {
			t.Errorf("list with a token: %s", out)
		}
		// A client stream and a server stream through the unknown-service
		// handler, with the second token.
		up := `{"request":{"name":"a.txt"},"data":"` + base64.StdEncoding.EncodeToString([]byte("with a token\n")) + `"}`
		if out := grpcurlIn(t, strings.NewReader(up), "-plaintext", "-H", auth2, "-d", "@", grpcAddr, "native.Store/Write"); !strings.Contains(out, `"size": "13"`) {
			t.Errorf("Write with a token: %s", out)
		}
		if got := string(grpcurlStream(t, grpcurl(t, "-plaintext", "-H", auth2, "-d", `{"name":"a.txt"}`, grpcAddr, "native.Store/Read"))); got != "with a token\n" {
			t.Errorf("Read with a token: %q", got)
		}
		// The RPC without a token (reflection has one): refused.
		out = grpcurlFails(t, "-plaintext", "-reflect-header", auth1, "-d", `{"name":"a.txt"}`, grpcAddr, "native.Store/Stat")
		if !strings.Contains(out, "Code: Unauthenticated") || !strings.Contains(out, "gw: missing bearer token") {
			t.Errorf("Stat without a token: %s", out)
		}
		if out := grpcurl(t, "-plaintext", "-H", auth1, grpcAddr, "framegate.gateway.v1.GatewayService/ListEndpoints"); !strings.Contains(out, "Store.Write") {
			t.Errorf("GatewayService with a token: %s", out)
		}
		out = grpcurlFails(t, "-plaintext", "-reflect-header", auth1, grpcAddr, "framegate.gateway.v1.GatewayService/ListEndpoints")
		if !strings.Contains(out, "Code: Unauthenticated") {
			t.Errorf("GatewayService without a token: %s", out)
		}
		// Health needs no token, not even through grpcurl.
		if out := grpcurl(t, "-plaintext", "-reflect-header", auth1, grpcAddr, "grpc.health.v1.Health/Check"); !strings.Contains(out, "SERVING") {
			t.Errorf("Health/Check without a token: %s", out)
		}
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := w.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Health/Watch without a token: %v %v", resp, err)
		}
	})

	t.Run("rest", func(t *testing.T) {
		base := "http://" + httpAddr
		for _, args := range [][]string{
			{"--json", `{"prefix":""}`, base + "/native.Store/List"},
			{base + "/native.Store/Stat?name=a.txt"},
			{base + "/v1/endpoints"},
			{base + "/openapi.json"},
		} {
			body, code := curlStatus(t, append([]string{"-D", "-"}, args...)...)
			s := decodeStatus(t, body[strings.Index(body, "\r\n\r\n")+4:])
			if code != "401" || !strings.Contains(body, "\r\nWww-Authenticate: Bearer\r\n") || s.Code != 16 || s.Message != "gw: missing bearer token" {
				t.Errorf("%q without a token: %s %s", args, code, body)
			}
			body, code = curlStatus(t, append([]string{"-H", "Authorization: Bearer x" + tok1}, args...)...)
			if s := decodeStatus(t, body); code != "401" || s.Message != "gw: invalid bearer token" {
				t.Errorf("%q with a wrong token: %s %s", args, code, body)
			}
			for _, tok := range []string{tok1, tok2} {
				if body, code := curlStatus(t, append([]string{"-H", "Authorization: Bearer " + tok}, args...)...); code != "200" {
					t.Errorf("%q with a token: %s %s", args, code, body)
				}
			}
		}
		if body, code := curlStatus(t, "-T", "-", "-H", "Authorization: Bearer "+tok1, base+"/native.Store/Write?name=b.txt"); code != "200" || !strings.Contains(body, `"size":0`) {
			t.Errorf("an upload with a token: %s %s", code, body)
		}
		if body, code := curlStatus(t, base+"/healthz"); code != "200" || body != "SERVING\n" {
			t.Errorf("/healthz without a token: %s %q", code, body)
		}
		body, code := curlStatus(t, base+"/metrics")
		if code != "200" || metricValue(body, `framegate_gateway_refused_total{listener="http",reason="missing_token"}`) < 4 {
			t.Errorf("/metrics without a token: %s %s", code, grepLines(body, "refused"))
		}
	})

	t.Run("native", func(t *testing.T) {
		// The native protocol has no token: its listener is protected by
		// TLS and its address only.
		if out, errOut, code := gwCall(t, nil, "-addr", nativeAddr, "Store.Stat", `{"name":"a.txt"}`); code != 0 || !strings.Contains(out, `"size": 13`) {
			t.Errorf("gw call: %d %s %s", code, out, errOut)
		}
	})
}

// A token file without a token, or none at all, stops gw at startup; so do
// limits out of range.
func TestAuthStartupErrors(t *testing.T) {
	empty := writeTokens(t, "\n   \n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-auth-token-file", empty}, 1, "gw: -auth-token-file " + empty + ": no token in the file"},
		{[]string{"-auth-token-file", filepath.Join(t.TempDir(), "none")}, 1, "gw: -auth-token-file: open "},
		{[]string{"-max-calls", "-1"}, 1, "gw: -max-calls -1"},
		{[]string{"-http-max-body-size", "2GiB"}, 1, "gw: -http-max-body-size 2GiB"},
		{[]string{"-grpc-max-msg-size", "lots"}, 2, `invalid value "lots" for flag -grpc-max-msg-size`},
	} {
		args := append([]string{"serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "", "-data-dir", t.TempDir()}, tc.args...)
		_, errOut, code := runCmd(t, nil, gwBin, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("gw %q: status %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// Neither tokens (valid or not) nor request or response bodies reach the
// log, even at debug level, for authorized and refused calls on every
// listener.
func TestLogsHoldNoSecrets(t *testing.T) {
	needCurl(t)
	token, wrong, marker := randomWord("tok-"), randomWord("wrongtok-"), randomWord("MARKER-")
	gw := startGW(t, "gw serve", nil, "serve", "-log-level", "debug", "-auth-token-file", writeTokens(t, token),
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-data-dir", t.TempDir())
	grpcAddr, httpAddr, nativeAddr := gw.addr("grpc"), gw.addr("http"), gw.addr("native")
	good, bad := "authorization: Bearer "+token, "authorization: Bearer "+wrong
	payload := strings.Repeat(marker+" ", 100)
	up := `{"request":{"name":"g.txt"},"data":"` + base64.StdEncoding.EncodeToString([]byte(payload)) + `"}`

	// gRPC: authorized, with a wrong token, without one.
	grpcurlIn(t, strings.NewReader(up), "-plaintext", "-H", good, "-d", "@", grpcAddr, "native.Store/Write")
	if got := string(grpcurlStream(t, grpcurl(t, "-plaintext", "-H", good, "-d", `{"name":"g.txt"}`, grpcAddr, "native.Store/Read"))); got != payload {
		t.Errorf("Read: %.80q", got)
	}
	grpcurl(t, "-plaintext", "-H", good, "-d", `{"prefix":"`+marker+`"}`, grpcAddr, "native.Store/List")
	for _, rpcHeader := range []string{bad, "x-nothing: 1"} {
		out, errOut, code := runCmd(t, strings.NewReader(up), grpcurlBin, "-plaintext", "-reflect-header", good, "-rpc-header", rpcHeader, "-d", "@", grpcAddr, "native.Store/Write")
		if code == 0 || !strings.Contains(errOut+out, "Unauthenticated") {
			t.Errorf("Write with %q: %d %s%s", rpcHeader, code, out, errOut)
		}
	}
	grpcurlFails(t, "-plaintext", "-H", bad, grpcAddr, "list")

	// REST: the same.
	base := "http://" + httpAddr
	if _, code := curlStatus(t, "-H", "Authorization: Bearer "+token, "--data-binary", payload, "-X", "PUT", base+"/native.Store/Write?name=r.txt"); code != "200" {
		t.Errorf("REST upload: %s", code)
	}
	if body, code := curlStatus(t, "-H", "Authorization: Bearer "+token, base+"/native.Store/Read?name=r.txt"); code != "200" || body != payload {
		t.Errorf("REST download: %s %.80q", code, body)
	}
	if _, code := curlStatus(t, "-H", "Authorization: Bearer "+token, "--json", `{"prefix":"`+marker+`"}`, base+"/native.Store/List"); code != "200" {
		t.Errorf("REST List: %s", code)
	}
	for _, h := range []string{"Authorization: Bearer " + wrong, "X-Nothing: 1"} {
		if _, code := curlStatus(t, "-H", h, "--data-binary", payload, "-X", "PUT", base+"/native.Store/Write?name=x.txt"); code != "401" {
			t.Errorf("REST upload with %q: %s", h, code)
		}
		if _, code := curlStatus(t, "-H", h, "--json", `{"prefix":"`+marker+`"}`, base+"/native.Store/List"); code != "401" {
			t.Errorf("REST List with %q: %s", h, code)
		}
	}

	// Native: no token, but a body.
	if _, errOut, code := gwCall(t, strings.NewReader(payload), "-addr", nativeAddr, "Store.Write", `{"name":"n.txt"}`); code != 0 {
		t.Errorf("gw call: %d %s", code, errOut)
	}

	gw.signal(syscall.SIGTERM)
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if n := gw.countLog(msgIs("gw: call refused")); n < 7 {
		t.Errorf("%d refused calls logged at debug level; want at least 7", n)
	}
	if n := gw.countLog(msgIs("call")); n < 6 {
		t.Errorf("%d calls logged; want at least 6", n)
	}
	gw.mu.Lock()
	log := strings.Join(gw.raw, "\n")
	gw.mu.Unlock()
	for what, s := range map[string]string{"the token": token, "the wrong token": wrong, "a body": marker} {
		if strings.Contains(log, s) {
			t.Errorf("%s is in the log:\n%s", what, grepLines(log, s))
		}
	}
}

// The token together with mutual TLS on every listener, and -auth-metrics.
func TestAuthWithMutualTLS(t *testing.T) {
	needCurl(t)
	p := newTestPKI(t)
	token := randomWord("tls-tok-")
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "a.txt"), []byte("over TLS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0",
		"-data-dir", dataDir, "-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-client-ca", p.ca, "-native-tls",
		"-auth-token-file", writeTokens(t, token), "-auth-metrics")
	grpcAddr, httpAddr, nativeAddr := gw.addr("grpc"), gw.addr("http"), gw.addr("native")
	certs := []string{"-cacert", p.ca, "-cert", p.clientCert, "-key", p.clientKey}
	auth := "authorization: Bearer " + token

	if out := grpcurl(t, append(certs, "-H", auth, "-d", `{"name":"a.txt"}`, grpcAddr, "native.Store/Stat")...); !strings.Contains(out, `"size": "9"`) {
		t.Errorf("Stat over mTLS with a token: %s", out)
	}
	if out := grpcurlFails(t, append(certs, grpcAddr, "list")...); !strings.Contains(out, "gw: missing bearer token") {
		t.Errorf("list over mTLS without a token: %s", out)
	}
	if out := grpcurlFails(t, "-cacert", p.ca, "-H", auth, grpcAddr, "list"); strings.Contains(out, "native.Store") {
		t.Errorf("list with a token but no client certificate: %s", out)
	}

	curlCerts := []string{"--cacert", p.ca, "--cert", p.clientCert, "--key", p.clientKey}
	base := "https://" + httpAddr
	for _, path := range []string{"/native.Store/Stat?name=a.txt", "/metrics"} {
		if body, code := curlStatus(t, append(curlCerts, base+path)...); code != "401" || decodeStatus(t, body).Code != 16 {
			t.Errorf("%s over mTLS without a token: %s %s", path, code, body)
		}
		if body, code := curlStatus(t, append(curlCerts, "-H", "Authorization: Bearer "+token, base+path)...); code != "200" {
			t.Errorf("%s over mTLS with a token: %s %.200s", path, code, body)
		}
	}
	if body, code := curlStatus(t, append(curlCerts, base+"/healthz")...); code != "200" || body != "SERVING\n" {
		t.Errorf("/healthz over mTLS without a token: %s %q", code, body)
	}
	if out, errOut, code := gwCall(t, nil, "-addr", "tls://"+nativeAddr, "-ca", p.ca, "-cert", p.clientCert, "-key", p.clientKey, "Store.Read", `{"name":"a.txt"}`); code != 0 || out != "over TLS\n" {
		t.Errorf("gw call over mTLS: %d %q %s", code, out, errOut)
	}
	if _, _, code := gwCall(t, nil, "-addr", "tls://"+nativeAddr, "-ca", p.ca, "-list"); code == 0 {
		t.Error("the native listener served a client without a certificate")
	}
}
