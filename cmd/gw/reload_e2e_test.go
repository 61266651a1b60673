package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// replaceFile writes a file whole, by renaming a new one over it (as an
// editor or a Kubernetes ConfigMap does), so a reader never sees half.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// gw serve -config under load: a SIGHUP moves it to another backend and
// other tokens without failing a call, and a download in flight on the
// backend taken out ends whole; a bad file and a change that takes a
// restart are refused and the configuration before keeps serving; a change
// of the token file alone is picked up without a signal.
func TestReloadUnderLoad(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	big := randomBytes(4<<20, 7)
	for _, f := range []struct{ dir, name, content string }{{dirA, "f.txt", "from-a\n"}, {dirB, "f.txt", "from-b\n"}, {dirA, "big.bin", string(big)}} {
		if err := os.WriteFile(filepath.Join(f.dir, f.name), []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, addrA := startBackend(t, "127.0.0.1:0", dirA)
	_, addrB := startBackend(t, "127.0.0.1:0", dirB, "-extra-endpoint", "Extra.Echo")
	tok1, tok2, tok3, tok4 := randomWord("tok1-"), randomWord("tok2-"), randomWord("tok3-"), randomWord("tok4-")
	tokens := writeTokens(t, tok1+"\n"+tok2+"\n")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gw.yaml")
	config := func(backend, extra string) string {
		return fmt.Sprintf("grpc-addr: 127.0.0.1:0\nhttp-addr: 127.0.0.1:0\nnative-addr: \"\"\nreload-interval: 0s\n"+
			"auth-token-file: %s\nbackend: [%s]\nmax-calls: 64\n%s", tokens, backend, extra)
	}
	replaceFile(t, cfg, config("tcp://"+addrA, ""))
	gw := startGW(t, "gw serve", nil, "serve", "-config", cfg, "-reconnect-max", "200ms")
	httpAddr := gw.addr("http")
	waitHealthz(t, httpAddr, 200, 5*time.Second)

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/native.Store/Read?name=f.txt", tok2); code != 200 || body != "from-a\n" {
		t.Fatalf("before any reload: %d %s", code, body)
	}

	// The load: every call must succeed, on one backend or the other.
	var calls atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body := get("/native.Store/Read?name=f.txt", tok2)
				calls.Add(1)
				if code != 200 || (body != "from-a\n" && body != "from-b\n") {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %s", code, body))
					mu.Unlock()
				}
			}
		})
	}
	// A download in flight on A across the reload that removes A.
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/native.Store/Read?name=big.bin", nil)
	req.Header.Set("Authorization", "Bearer "+tok2)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download: %v %v", err, resp)
	}
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}

	reloaded := func(trigger string) func(map[string]any) bool {
		return func(l map[string]any) bool { return l["msg"] == "configuration reloaded" && l["trigger"] == trigger }
	}
	refused := func(l map[string]any) bool {
		return l["msg"] == "configuration reload refused; the configuration loaded before keeps serving"
	}

	// 1. SIGHUP: backend B instead of A, tokens 2 and 3 instead of 1 and 2.
	replaceFile(t, tokens, tok2+"\n"+tok3+"\n")
	replaceFile(t, cfg, config("tcp://"+addrB, ""))
	gw.signal(syscall.SIGHUP)
	gw.waitLog(10*time.Second, "the SIGHUP reload", reloaded("SIGHUP"))
	if code, body := get("/native.Store/Read?name=f.txt", tok2); code != 200 || body != "from-b\n" {
		t.Errorf("after the reload to B: %d %s", code, body)
	}
	if code, _ := get("/native.Store/Read?name=f.txt", tok1); code != http.StatusUnauthorized {
		t.Errorf("a token the reload removed: %d, want 401", code)
	}
	if code, _ := get("/native.Store/Read?name=f.txt", tok3); code != 200 {
		t.Errorf("a token the reload added: %d", code)
	}
	echo, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/native.Extra/Echo", strings.NewReader(`{"text":"hi"}`))
	echo.Header.Set("Authorization", "Bearer "+tok3)
	echo.Header.Set("Content-Type", "application/json")
	if resp, err := client.Do(echo); err != nil || resp.StatusCode != 200 {
		t.Errorf("B's own endpoint after the reload: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := append(head, rest...); err != nil || !bytes.Equal(got, big) {
		t.Errorf("the download across the reload: %d of %d bytes, err %v", len(got), len(big), err)
	}

	// 2. Refused: a file that does not load, then a change that takes a
	// restart; the configuration before keeps serving.
	replaceFile(t, cfg, config("ftp://nowhere", ""))
	gw.signal(syscall.SIGHUP)
	l := gw.waitLog(10*time.Second, "a refused reload", refused)
	if !strings.Contains(fmt.Sprint(l["err"]), "ftp") {
		t.Errorf("refused reload: %v", l)
	}
	replaceFile(t, cfg, strings.Replace(config("tcp://"+addrB, ""), "http-addr: 127.0.0.1:0", "http-addr: 127.0.0.1:1", 1))
	gw.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "a second refused reload", func() bool { return gw.countLog(refused) == 2 })
	gw.mu.Lock()
	var lastErr string
	for _, l := range gw.lines {
		if refused(l) {
			lastErr = fmt.Sprint(l["err"])
		}
	}
	gw.mu.Unlock()
	if !strings.Contains(lastErr, "-http-addr") || !strings.Contains(lastErr, "restart") {
		t.Errorf("a change of -http-addr refused with %q", lastErr)
	}
	if code, body := get("/native.Store/Read?name=f.txt", tok3); code != 200 || body != "from-b\n" {
		t.Errorf("after refused reloads: %d %s", code, body)
	}

	// 3. A change of a file is picked up without a signal.
	replaceFile(t, cfg, strings.Replace(config("tcp://"+addrB, ""), "reload-interval: 0s", "reload-interval: 50ms", 1))
	gw.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the second SIGHUP reload", func() bool { return gw.countLog(reloaded("SIGHUP")) == 2 })
	replaceFile(t, tokens, tok3+"\n"+tok4+"\n"+tok2+"\n")
	gw.waitLog(10*time.Second, "a reload on the token file's change", reloaded("file changed"))
	if code, _ := get("/native.Store/Read?name=f.txt", tok4); code != 200 {
		t.Errorf("a token added to the file: %d", code)
	}

	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d calls failed across the reloads, first: %s", len(failures), calls.Load(), failures[0])
	}
	if calls.Load() < 20 {
		t.Errorf("only %d calls under load", calls.Load())
	}
	_, m := httpGet(t, "http://"+httpAddr+"/metrics")
	if v := metricValue(m, `framegate_gateway_config_reloads_total{result="refused"}`); v != 2 {
		t.Errorf("refused reloads in /metrics: %v", v)
	}
}

// servedIssuer is the issuer of the certificate a TLS listener presents,
// and the protocol it negotiated.
func servedIssuer(t *testing.T, addr string, protos ...string) (string, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0].Issuer.CommonName, st.NegotiatedProtocol
}

// The certificate and key files replaced in place (as cert-manager
// renews them): both listeners present the new certificate from the next
// handshake on, without a signal, and still negotiate HTTP/2.
func TestReloadTLSCertificate(t *testing.T) {
	p1 := newTestPKI(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		replaceFile(t, to, string(b))
	}
	copyFile(p1.serverCert, cert)
	copyFile(p1.serverKey, key)
	cfg := filepath.Join(dir, "gw.yaml")
	replaceFile(t, cfg, "tls-cert: "+cert+"\ntls-key: "+key+"\nreload-interval: 50ms\n")
	gw := startGW(t, "gw serve", nil, "serve", "-config", cfg, "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-native-addr", "", "-data-dir", t.TempDir())
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	for _, c := range []struct{ addr, proto string }{{grpcAddr, "h2"}, {httpAddr, "h2"}} {
		if issuer, proto := servedIssuer(t, c.addr, "h2", "http/1.1"); issuer != "gw test CA" || proto != c.proto {
			t.Errorf("%s before: issuer %q, protocol %q", c.addr, issuer, proto)
		}
	}
	// A new certificate from another CA: the key first, as a renewal may
	// write them; a pair that does not match is refused until both are
	// there.
	key2, ca2, _ := newCA(t, "second CA")
	cert2, keyFile2 := issue(t, t.TempDir(), "server2", ca2, key2, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	copyFile(keyFile2, key)
	copyFile(cert2, cert)
	waitFor(t, 10*time.Second, "the new certificate served", func() bool {
		issuer, _ := servedIssuer(t, httpAddr)
		return issuer == "second CA"
	})
	if issuer, proto := servedIssuer(t, grpcAddr, "h2"); issuer != "second CA" || proto != "h2" {
		t.Errorf("gRPC listener after the reload: issuer %q, protocol %q", issuer, proto)
	}
	if _, proto := servedIssuer(t, httpAddr, "h2", "http/1.1"); proto != "h2" {
		t.Errorf("HTTP listener after the reload negotiates %q, want h2", proto)
	}
	if _, proto := servedIssuer(t, httpAddr, "http/1.1"); proto != "http/1.1" {
		t.Errorf("HTTP listener after the reload, HTTP/1.1 client: %q", proto)
	}
}
