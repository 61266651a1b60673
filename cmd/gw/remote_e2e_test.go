package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startBackend starts gw backend on addr over dataDir.
func startBackend(t *testing.T, addr, dataDir string, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"backend", "-native-addr", addr, "-data-dir", dataDir}, extra...)
	p := startGW(t, "gw backend", nil, args...)
	return p, p.addr("native")
}

// A two-process deployment over TCP: the backend is killed in the middle of
// a download (the client sees an error, never a short file that looks
// complete), health turns NOT_SERVING and calls fail fast; the backend comes
// back with an extra endpoint, which grpcurl then lists, and the next
// download is whole; it goes away gracefully and comes back without it.
func TestRemoteTCPBackend(t *testing.T) {
	dataDir := t.TempDir()
	big := randomBytes(32<<20, 3)
	if err := os.WriteFile(filepath.Join(dataDir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	backend, nativeAddr := startBackend(t, "127.0.0.1:0", dataDir)
	gw := startGW(t, "gw serve", nil, "serve", "-backend", "tcp://"+nativeAddr,
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "",
		"-reconnect-max", "400ms", "-pool-size", "4")
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	gw.waitLog(5*time.Second, "backend connected", msgIs("gateway: backend connected"))
	if out := grpcurl(t, "-plaintext", grpcAddr, "list"); !strings.Contains(out, "native.Store\n") || strings.Contains(out, "native.Extra") {
		t.Fatalf("grpcurl list: %s", out)
	}
	waitHealthz(t, httpAddr, 200, time.Second)

	// The backend dies mid-download.
	d := startDownload(t, grpcAddr, "big.bin")
	if err := d.next(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	killedAt := time.Now()
	backend.kill()
	err := d.rest()
	if err == nil {
		t.Fatalf("the download ended with status OK after %d of %d bytes (sha %s); want an error", d.n, len(big), d.sum())
	}
	if st := status.Code(err); st != codes.Unavailable {
		t.Errorf("download error %v; want Unavailable", err)
	}
	if d.n >= int64(len(big)) {
		t.Errorf("all %d bytes arrived before the kill: the test proves nothing; make the file larger", d.n)
	}
	t.Logf("download cut after %d of %d bytes: %v", d.n, len(big), err)

	waitHealthz(t, httpAddr, 503, 5*time.Second)
	down := gw.waitLog(time.Second, "the backend unavailable line", msgIs("gateway: backend unavailable; calls fail until it is back"))
	if at, err := time.Parse(time.RFC3339Nano, down["time"].(string)); err == nil {
		t.Logf("the gateway saw the backend down %v after the kill", at.Sub(killedAt))
	}
	_, body := httpGet(t, "http://"+httpAddr+"/healthz")
	if !strings.HasPrefix(body, "NOT_SERVING: backend unavailable: ") || !strings.Contains(body, nativeAddr) {
		t.Errorf("/healthz body %q: want the reason", body)
	}
	if out := grpcurl(t, "-plaintext", "-d", `{"service":"native.Store"}`, grpcAddr, "grpc.health.v1.Health/Check"); !strings.Contains(out, `"status": "NOT_SERVING"`) {
		t.Errorf("health: %s", out)
	}
	start := time.Now()
	out := grpcurlFails(t, "-plaintext", "-d", `{}`, grpcAddr, "native.Store/List")
	if took := time.Since(start); !strings.Contains(out, "Code: Unavailable") {
		t.Errorf("a call while the backend is down: %s", out)
	} else {
		t.Logf("a call while the backend is down failed in %v (grpcurl process included)", took)
	}
	code, m := httpGet(t, "http://"+httpAddr+"/metrics")
	lbl := `{backend="tcp://` + nativeAddr + `",replica="tcp://` + nativeAddr + `"}`
	if code != 200 || metricValue(m, "framegate_backend_up"+lbl) != 0 || metricValue(m, `framegate_gateway_calls_total{code="Unavailable",endpoint="Store.Read",protocol="grpc"}`) != 1 {
		t.Errorf("metrics while down:\n%s", grepLines(m, "framegate_"))
	}

	// It comes back on the same address, with one more endpoint.
	restartAt := time.Now()
	backend, _ = startBackend(t, nativeAddr, dataDir, "-extra-endpoint", "Extra.Echo")
	listenedAt := time.Now()
	up := gw.waitLog(5*time.Second, "the reconnect line", func(l map[string]any) bool {
		return l["msg"] == "gateway: backend connected" && l["downtime"] != nil
	})
	waitHealthz(t, httpAddr, 200, time.Second)
	if at, err := time.Parse(time.RFC3339Nano, up["time"].(string)); err == nil {
		t.Logf("the gateway reconnected %v after the restart began (the new backend took %v to listen)", at.Sub(restartAt), listenedAt.Sub(restartAt))
	}
	if out := grpcurl(t, "-plaintext", grpcAddr, "list"); !strings.Contains(out, "native.Extra\n") {
		t.Fatalf("grpcurl list after the return: %s", out)
	}
	if out := grpcurl(t, "-plaintext", "-d", `{"text":"back"}`, grpcAddr, "native.Extra/Echo"); !strings.Contains(out, `"text": "back"`) {
		t.Errorf("Extra/Echo: %s", out)
	}
	d = startDownload(t, grpcAddr, "big.bin")
	if err := d.rest(); err != nil || d.sum() != sha(big) {
		t.Fatalf("download after the return: %v, %d bytes, sha %s", err, d.n, d.sum())
	}
	_, m = httpGet(t, "http://"+httpAddr+"/metrics")
	if metricValue(m, "framegate_backend_up"+lbl) != 1 || metricValue(m, "framegate_backend_reconnects_total"+lbl) != 1 || metricValue(m, "framegate_backend_pool_size"+lbl) != 4 {
		t.Errorf("metrics after the return:\n%s", grepLines(m, "framegate_backend"))
	}

	// A graceful stop, and back without the extra endpoint.
	backend.signal(syscall.SIGTERM)
	if code := backend.wait(10 * time.Second); code != 0 {
		t.Fatalf("backend exit status %d after SIGTERM", code)
	}
	waitHealthz(t, httpAddr, 503, 5*time.Second)
	backend, _ = startBackend(t, nativeAddr, dataDir)
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	if out := grpcurl(t, "-plaintext", grpcAddr, "list"); strings.Contains(out, "native.Extra") || !strings.Contains(out, "native.Store\n") {
		t.Fatalf("grpcurl list after the second return: %s", out)
	}

	// The same through REST: curl sees a failed transfer, not a short
	// file with success.
	if curlBin != "" && restAvailable(t, httpAddr) {
		out := filepath.Join(t.TempDir(), "cut.bin")
		cmd := exec.Command(curlBin, "-sS", "-f", "--limit-rate", "50M", "-o", out, "http://"+httpAddr+"/native.Store/Read?name=big.bin")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "curl to receive bytes", func() bool { fi, err := os.Stat(out); return err == nil && fi.Size() > 0 })
		backend.kill()
		err := cmd.Wait()
		fi, _ := os.Stat(out)
		if err == nil {
			t.Errorf("curl succeeded with %d of %d bytes after the backend was killed", fi.Size(), len(big))
		} else if fi.Size() >= int64(len(big)) {
			t.Errorf("curl got all %d bytes before the kill: the test proves nothing", fi.Size())
		} else {
			t.Logf("curl failed after %d of %d bytes: %v: %s", fi.Size(), len(big), err, strings.TrimSpace(errb.String()))
		}
		startBackend(t, nativeAddr, dataDir)
		waitHealthz(t, httpAddr, 200, 5*time.Second)
		if got, code := curl(t, "-f", "http://"+httpAddr+"/native.Store/Read?name=big.bin"); code != 0 || sha([]byte(got)) != sha(big) {
			t.Errorf("REST download after the restart: curl status %d, %d bytes", code, len(got))
		}
	}

	gw.signal(syscall.SIGTERM)
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Fatalf("gw serve exit status %d after SIGTERM", code)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// A backend run as a command, speaking on its stdin and stdout: one process
// carries the describing, the health probes and every call, concurrent
// downloads and a watch included; killed, it is started again; it is gone after the
// gateway stops.
func TestRemoteExecBackend(t *testing.T) {
	dataDir := t.TempDir()
	content := randomBytes(2<<20+5, 4)
	cmdline := gwBin + " backend -stdio -log-format json -data-dir " + dataDir
	gw := startGW(t, "gw serve", nil, "serve", "-backend", "exec:"+cmdline,
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "", "-reconnect-max", "200ms")
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	l := gw.waitLog(5*time.Second, "backend connected", msgIs("gateway: backend connected"))
	if l["backend"] != "exec:"+gwBin {
		t.Errorf("the backend is logged as %v; want the program only", l["backend"])
	}

	// Through the gateway: an upload, then two downloads at once.
	out, errOut, code := gwCall(t, bytes.NewReader(content), "-addr", "exec:"+cmdline, "Store.Write", `{"name":"x/e.bin"}`)
	if code != 0 || !strings.Contains(out, sha(content)) {
		t.Fatalf("gw call over exec: %d %s%s", code, out, errOut)
	}
	if out := grpcurl(t, "-plaintext", "-d", `{"prefix":"x/"}`, grpcAddr, "native.Store/List"); !strings.Contains(out, `"name": "x/e.bin"`) {
		t.Fatalf("List: %s", out)
	}
	d1, d2 := startDownload(t, grpcAddr, "x/e.bin"), startDownload(t, grpcAddr, "x/e.bin")
	for _, d := range []*download{d1, d2} {
		if err := d.rest(); err != nil || d.sum() != sha(content) {
			t.Fatalf("download: %v, %d bytes", err, d.n)
		}
	}

	// A stream of messages over the same process: a watch sees a write
	// made through the gateway.
	out = watchUntil(t, `"name": "x/w.txt"`, func() {
		curlStatus(t, "--data-binary", "w", "-X", "PUT", "http://"+httpAddr+"/native.Store/Write?name=x/w.txt")
	}, grpcurlBin, "-plaintext", "-d", `{"prefix":"x/w"}`, grpcAddr, "native.Store/Watch")
	if !strings.Contains(out, `"size": "1"`) {
		t.Errorf("Watch through the exec backend: %s", out)
	}

	// The Echo service, as gw serve embeds it: a bidi stream of messages.
	if out := grpcurlIn(t, strings.NewReader(`{"text":"hi"} {"text":"there"}`), "-plaintext", "-d", "@", grpcAddr, "native.Echo/Chat"); !strings.Contains(out, "\"seq\": \"2\",\n  \"text\": \"there\"") {
		t.Errorf("Echo.Chat through the exec backend: %s", out)
	}

	// One process served it all: the connections multiplex.
	pids := backendPIDs(gw)
	if len(pids) != 1 {
		t.Fatalf("backend processes %v: want one for the describing, the probes and the calls", pids)
	}
	// Killed, it is started again, and serves.
	syscall.Kill(pids[0], syscall.SIGKILL)
	gw.waitLog(5*time.Second, "a new backend process", func(l map[string]any) bool {
		return l["msg"] == "serving on stdin and stdout" && l["pid"] != float64(pids[0])
	})
	d := startDownload(t, grpcAddr, "x/e.bin")
	if err := d.rest(); err != nil || d.sum() != sha(content) {
		t.Fatalf("download after the backend process was killed: %v", err)
	}
	waitHealthz(t, httpAddr, 200, time.Second)
	if pids := backendPIDs(gw); len(pids) != 2 {
		t.Errorf("backend processes %v: want the killed one and its successor", pids)
	}

	gw.signal(syscall.SIGTERM)
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Fatalf("gw serve exit status %d after SIGTERM", code)
	}
	for _, pid := range backendPIDs(gw) {
		deadline := time.Now().Add(3 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Errorf("backend process %d still runs after the gateway exited", pid)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// backendPIDs returns the pids that gw backend -stdio processes logged.
func backendPIDs(p *proc) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, l := range p.lines {
		if l["msg"] == "serving on stdin and stdout" {
			if pid, ok := l["pid"].(float64); ok {
				pids = append(pids, int(pid))
			}
		}
	}
	return pids
}

// A backend on a unix socket; killed, its stale socket file is replaced
// when it starts again.
func TestRemoteUnixBackend(t *testing.T) {
	dataDir := t.TempDir()
	sock := "unix://" + filepath.Join(t.TempDir(), "gw.sock")
	backend, addr := startBackend(t, sock, dataDir)
	if addr != sock {
		t.Fatalf("the backend logged %q; want %q", addr, sock)
	}
	gw := startGW(t, "gw serve", nil, "serve", "-backend", sock, "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "", "-reconnect-max", "200ms")
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	if out, errOut, code := gwCall(t, strings.NewReader("unix\n"), "-addr", sock, "Store.Write", `{"name":"u.txt"}`); code != 0 {
		t.Fatalf("gw call over a unix socket: %d %s%s", code, out, errOut)
	}
	if out := grpcurl(t, "-plaintext", "-d", `{"name":"u.txt"}`, grpcAddr, "native.Store/Stat"); !strings.Contains(out, `"size": "5"`) {
		t.Fatalf("Stat: %s", out)
	}
	backend.kill()
	waitHealthz(t, httpAddr, 503, 5*time.Second)
	startBackend(t, sock, dataDir)
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	if out := grpcurl(t, "-plaintext", "-d", `{"name":"u.txt"}`, grpcAddr, "native.Store/Stat"); !strings.Contains(out, `"size": "5"`) {
		t.Fatalf("Stat after the restart: %s", out)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
