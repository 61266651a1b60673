package main

// The end-to-end tests run the real gw binary, built once in TestMain (with
// -race when the tests run with -race), and the real grpcurl, built from the
// pinned tools module, as separate processes on ports chosen by the kernel:
// each gw logs its listening addresses as JSON lines on stderr, which the
// harness parses. curl comes from the system (/usr/bin/curl; CI installs it).
// These tests start no goroutines that outlive them in this process beyond
// the subprocess readers, so they do not use goleak.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framegate/framegate/internal/buftool"
)

var (
	gwBin      string // the gw binary under test
	grpcurlBin string
	curlBin    string // "" if curl is missing
)

// bufBinary returns the pinned buf (see internal/buftool); it fails the
// test if there is none.
func bufBinary(t *testing.T) string {
	t.Helper()
	p, err := buftool.Path("../..")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gw-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		goBin = p
	}
	gwBin = filepath.Join(dir, "gw")
	args := []string{"build", "-o", gwBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command(goBin, append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gw: %v\n%s", err, out)
		return 1
	}
	grpcurlBin = filepath.Join(dir, "grpcurl")
	cmd := exec.Command(goBin, "build", "-modfile=tools/go.mod", "-o", grpcurlBin, "github.com/fullstorydev/grpcurl/cmd/grpcurl")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building grpcurl from tools/go.mod: %v\n%s", err, out)
		return 1
	}
	curlBin, _ = exec.LookPath("curl")
	return m.Run()
}

// proc is a running gw process whose stderr JSON log is parsed as it comes.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	lines   []map[string]any
	raw     []string
	changed chan struct{} // closed and replaced at each new line

	stdout   bytes.Buffer // guarded by mu via lockedWriter
	exited   chan struct{}
	exitCode int
	readDone chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// cleanEnv is this process's environment without GW_* variables, so that a
// developer's settings do not leak into the tests.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GW_") {
			env = append(env, kv)
		}
	}
	// A race-enabled binary sleeps 1s at exit by default (for reports
	// from other goroutines); short-lived gw call processes add up.
	env = append(env, "GORACE=atexit_sleep_ms=20")
	return append(env, extra...)
}

// startGW starts gw with args (a JSON log is asked for unless args set
// -log-format) and the extra environment.
func startGW(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	if !containsArg(args, "-log-format") {
		args = append(args[:1:1], append([]string{"-log-format", "json"}, args[1:]...)...)
	}
	p := &proc{t: t, name: name, changed: make(chan struct{}), exited: make(chan struct{}), readDone: make(chan struct{})}
	p.cmd = exec.Command(gwBin, args...)
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readLog(stderr)
	go func() {
		<-p.readDone
		err := p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		if err != nil && p.exitCode == 0 {
			p.exitCode = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		p.mu.Lock()
		for _, l := range p.raw {
			if strings.Contains(l, "WARNING: DATA RACE") {
				t.Errorf("%s reported a data race", p.name)
				break
			}
		}
		p.mu.Unlock()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("log of %s (%s):\n%s", p.name, strings.Join(args, " "), strings.Join(p.raw, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a || strings.HasPrefix(x, a+"=") {
			return true
		}
	}
	return false
}

func (p *proc) readLog(r io.Reader) {
	defer close(p.readDone)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			m = nil
		}
		p.mu.Lock()
		p.raw = append(p.raw, line)
		if m != nil {
			p.lines = append(p.lines, m)
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
}

// waitLog waits until a log line satisfies match and returns it.
func (p *proc) waitLog(d time.Duration, what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(d)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if match(p.lines[seen]) {
				l := p.lines[seen]
				p.mu.Unlock()
				return l
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.exited:
			p.t.Fatalf("%s exited (status %d) while waiting for %s", p.name, p.exitCode, what)
		case <-deadline:
			p.t.Fatalf("%s: no %s in the log after %v", p.name, what, d)
		}
	}
}

// countLog returns how many log lines satisfy match.
func (p *proc) countLog(match func(map[string]any) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if match(l) {
			n++
		}
	}
	return n
}

func msgIs(msg string) func(map[string]any) bool {
	return func(l map[string]any) bool { return l["msg"] == msg }
}

// addr returns the address the listener ("grpc", "http", "native") logged.
func (p *proc) addr(listener string) string {
	p.t.Helper()
	l := p.waitLog(20*time.Second, listener+" listening line", func(l map[string]any) bool {
		return l["msg"] == "listening" && l["listener"] == listener
	})
	return l["addr"].(string)
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %v", p.name, d)
		return -1
	}
}

// stopGracefully sends SIGTERM to each of procs, all at once, and checks
// that each exits 0.
func stopGracefully(t *testing.T, procs ...*proc) {
	t.Helper()
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if code := p.wait(10 * time.Second); code != 0 {
			t.Errorf("%s exit status %d after SIGTERM", p.name, code)
		}
	}
}

func (p *proc) kill() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
}

// runCmd runs a command to its end (within 30s) and returns its stdout,
// stderr and exit status.
func runCmd(t *testing.T, stdin io.Reader, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			t.Fatalf("%s %q: %v", name, args, err)
		}
	}
	return out.String(), errb.String(), code
}

// grpcurl runs grpcurl with args; it fails the test unless it succeeds.
func grpcurl(t *testing.T, args ...string) string {
	t.Helper()
	return grpcurlIn(t, nil, args...)
}

// grpcurlIn is grpcurl with stdin (for -d @).
func grpcurlIn(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, stdin, grpcurlBin, args...)
	if code != 0 {
		t.Fatalf("grpcurl %q: status %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// grpcurlFails runs grpcurl expecting a failure and returns its output.
func grpcurlFails(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, nil, grpcurlBin, args...)
	if code == 0 {
		t.Fatalf("grpcurl %q succeeded; want a failure\n%s", args, out)
	}
	return out + errOut
}

// gwCall runs gw call and returns its stdout, stderr and status.
func gwCall(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, stdin, gwBin, append([]string{"call"}, args...)...)
}

func needCurl(t *testing.T) {
	t.Helper()
	if curlBin == "" {
		t.Skip("curl is not installed (CI installs it with apt)")
	}
}

// curl runs curl -sS with args and returns its stdout and status.
func curl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	needCurl(t)
	out, errOut, code := runCmd(t, nil, curlBin, append([]string{"-sS"}, args...)...)
	if code != 0 {
		return out + errOut, code
	}
	return out, 0
}

// httpGet fetches url with Go's client: status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealthz polls GET /healthz until it answers want, and returns how
// long that took.
func waitHealthz(t *testing.T, httpAddr string, want int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, body := httpGet(t, "http://"+httpAddr+"/healthz")
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("/healthz still answers %d (%q) after %v; want %d", code, body, d, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// httpPost posts body and returns the status.
func httpPost(url, contentType, body string) (int, error) {
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
