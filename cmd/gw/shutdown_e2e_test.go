package main

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// listenMode is a way gw serve listens for gRPC and HTTP: its flags, and
// the listeners it logs (gRPC on the first).
type listenMode struct {
	name  string
	args  []string
	faces []string
}

var (
	separateFaces = listenMode{"separate", []string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, []string{"grpc", "http"}}
	oneFace       = listenMode{"oneport", []string{"-addr", "127.0.0.1:0"}, []string{oneListener}}
	listenModes   = []listenMode{separateFaces, oneFace}
)

// startWithFile starts gw serve (embedded store) with a file of n bytes.
func startWithFile(t *testing.T, n int, args ...string) (*proc, []byte) {
	t.Helper()
	return startWithFileOn(t, separateFaces, n, args...)
}

// startWithFileOn is startWithFile listening as mode says.
func startWithFileOn(t *testing.T, mode listenMode, n int, args ...string) (*proc, []byte) {
	t.Helper()
	dataDir := t.TempDir()
	content := randomBytes(n, 5)
	if err := os.WriteFile(filepath.Join(dataDir, "f.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	args = append(append(append([]string{"serve"}, mode.args...), "-native-addr", "127.0.0.1:0", "-data-dir", dataDir), args...)
	return startGW(t, "gw serve", nil, args...), content
}

// refused reports whether a new connection to addr is refused within d.
func refused(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// SIGTERM while a download runs: the gateway stops accepting connections,
// the download completes, and gw exits 0. With -addr the gRPC call is a
// request of the http.Server (ServeHTTP), which must drain it: grpc-go's
// GracefulStop would cut it.
func TestShutdownLetsStreamFinish(t *testing.T) {
	for _, mode := range listenModes {
		t.Run(mode.name, func(t *testing.T) { testShutdownLetsStreamFinish(t, mode) })
	}
}

func testShutdownLetsStreamFinish(t *testing.T, mode listenMode) {
	gw, content := startWithFileOn(t, mode, 16<<20, "-shutdown-timeout", "20s")
	var addrs []string
	for _, f := range append(mode.faces, "native") {
		addrs = append(addrs, gw.addr(f))
	}
	d := startDownload(t, addrs[0], "f.bin")
	if err := d.next(); err != nil {
		t.Fatal(err)
	}
	gw.signal(syscall.SIGTERM)
	gw.waitLog(5*time.Second, "the shutting down line", msgIs("shutting down"))
	for _, a := range addrs {
		if !refused(a, 2*time.Second) {
			t.Errorf("%s still accepts connections during the shutdown", a)
		}
	}
	time.Sleep(100 * time.Millisecond) // the stream is still held by the client
	if err := d.rest(); err != nil {
		t.Fatalf("the download failed during a graceful shutdown: %v (%d bytes)", err, d.n)
	}
	if d.sum() != sha(content) {
		t.Fatalf("the download got %d bytes, sha %s; want %d", d.n, d.sum(), len(content))
	}
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if l := gw.waitLog(time.Second, "the stopped line", msgIs("stopped")); l["cancelled_calls"] != false {
		t.Errorf("stopped line %v", l)
	}
}

// SIGTERM while a download is stalled by its client: after
// -shutdown-timeout the call is cancelled (the client sees an error, not a
// short file with status OK) and gw exits 0.
func TestShutdownTimeoutCancelsStream(t *testing.T) {
	for _, mode := range listenModes {
		t.Run(mode.name, func(t *testing.T) { testShutdownTimeoutCancelsStream(t, mode) })
	}
}

func testShutdownTimeoutCancelsStream(t *testing.T, mode listenMode) {
	gw, content := startWithFileOn(t, mode, 16<<20, "-shutdown-timeout", "300ms")
	d := startDownload(t, gw.addr(mode.faces[0]), "f.bin")
	if err := d.next(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	gw.signal(syscall.SIGTERM)
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	took := time.Since(start)
	t.Logf("gw exited %v after SIGTERM with -shutdown-timeout 300ms", took)
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("gw exited %v after SIGTERM; want about 300ms", took)
	}
	if l := gw.waitLog(time.Second, "the stopped line", msgIs("stopped")); l["cancelled_calls"] != true {
		t.Errorf("stopped line %v", l)
	}
	err := d.rest()
	if err == nil {
		t.Fatalf("the stalled download ended with status OK after %d of %d bytes", d.n, len(content))
	}
	t.Logf("the stalled download failed after %d of %d bytes: %v", d.n, len(content), err)
}

// A second signal cuts the graceful wait short.
func TestShutdownSecondSignal(t *testing.T) {
	gw, _ := startWithFile(t, 16<<20, "-shutdown-timeout", "1m")
	d := startDownload(t, gw.addr("grpc"), "f.bin")
	if err := d.next(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	gw.signal(syscall.SIGTERM)
	gw.waitLog(5*time.Second, "the shutting down line", msgIs("shutting down"))
	gw.signal(syscall.SIGINT)
	if code := gw.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gw took %v to exit after the second signal", took)
	}
	if d.rest() == nil {
		t.Fatal("the stalled download ended with status OK")
	}
}

// SIGTERM while the gateway is still starting up (its backend accepted the
// connection but never answers the handshake, which may take the dial
// timeout of 5s): the startup stops at once and gw exits 0.
func TestShutdownDuringStartup(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-backend", "tcp://"+l.Addr().String(), "-shutdown-timeout", "1s")
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("gw did not dial its backend")
	}
	gw.signal(syscall.SIGTERM)
	// The bound is below the 5s the handshake would take, to tell an
	// interrupted startup from a finished one.
	if code := gw.wait(4 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	gw.waitLog(time.Second, "the shutting down line", msgIs("shutting down"))
}
