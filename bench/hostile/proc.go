package main

// The processes the harness starts: gw and grpcurl are built into a
// temporary directory, gw serve runs with its log on a pipe the harness
// reads (for the listening addresses), and every process still running is
// killed when the harness stops, even on failure.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

// tools are the binaries the scenarios run.
type tools struct {
	gw, grpcurl, curl string
}

// buildTools builds gw (./cmd/gw) and the pinned grpcurl into dir, unless
// given, and finds curl on PATH.
func buildTools(ctx context.Context, cfg *config, dir string) (*tools, error) {
	t := &tools{gw: cfg.gwBin, grpcurl: cfg.grpcurlBin}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	build := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if t.gw == "" {
		t.gw = filepath.Join(dir, "gw")
		if err := build("-o", t.gw, "./cmd/gw"); err != nil {
			return nil, err
		}
	}
	if t.grpcurl == "" && cfg.clients["grpcurl"] {
		if err := build("-modfile=tools/go.mod", "-o", dir+"/", "github.com/fullstorydev/grpcurl/cmd/grpcurl"); err != nil {
			return nil, err
		}
		t.grpcurl = filepath.Join(dir, "grpcurl")
	}
	if cfg.clients["curl"] {
		if t.curl, err = exec.LookPath("curl"); err != nil {
			return nil, fmt.Errorf("curl: %w", err)
		}
	}
	return t, nil
}

// moduleRoot is the directory of framegate's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the framegate module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}

// reaper kills the processes it was given that are still running.
type reaper struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

func newReaper() *reaper { return &reaper{procs: map[*proc]struct{}{}} }

func (r *reaper) add(p *proc) {
	r.mu.Lock()
	r.procs[p] = struct{}{}
	r.mu.Unlock()
}

// killAll kills every process still running and waits for it.
func (r *reaper) killAll() {
	r.mu.Lock()
	ps := r.procs
	r.procs = map[*proc]struct{}{}
	r.mu.Unlock()
	for p := range ps {
		p.kill()
	}
}

// proc is a gw serve process.
type proc struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed when Wait returned
	waitErr error

	mu    sync.Mutex
	addrs map[string]string // listener name (grpc, http, native) to address
	last  []string          // the last log lines, for errors
	seen  chan struct{}     // closed when the HTTP listener is logged
}

// maxLogLine caps a log line kept from gw (a hostile input can make one
// megabytes long).
const maxLogLine = 2 << 10

// startGW starts gw with args (the listen addresses and the JSON log format
// are added), its log read by the harness.
func startGW(r *reaper, gw string, args ...string) (*proc, error) {
	args = append(args, "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-log-format", "json")
	cmd := exec.Command(gw, args...)
	cmd.SysProcAttr = sysAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), addrs: map[string]string{}, seen: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.started = time.Now()
	r.add(p)
	logDone := make(chan struct{})
	go func() { defer close(logDone); p.readLog(stderr) }()
	go func() {
		<-logDone
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// readLog reads gw's JSON log lines until EOF, never blocking gw.
func (p *proc) readLog(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			p.onLine(line)
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line, keeping at most maxLogLine bytes of it.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) < maxLogLine {
			line = append(line, chunk[:min(len(chunk), maxLogLine-len(line))]...)
		}
		if err != bufio.ErrBufferFull {
			return bytes.TrimRight(line, "\n"), err
		}
	}
}

func (p *proc) onLine(line []byte) {
	var rec struct {
		Msg      string `json:"msg"`
		Listener string `json:"listener"`
		Addr     string `json:"addr"`
	}
	_ = json.Unmarshal(line, &rec)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = append(p.last, string(line))
	if len(p.last) > 5 {
		p.last = p.last[1:]
	}
	if rec.Msg == "listening" && rec.Listener != "" {
		p.addrs[rec.Listener] = rec.Addr
		if rec.Listener == "http" {
			close(p.seen)
		}
	}
}

// addr is the address of a listener ("grpc", "http", "native").
func (p *proc) addr(listener string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[listener]
}

// lastLog is the last log lines, joined.
func (p *proc) lastLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.last, "\n")
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitServing waits until /healthz answers 200, the process exits, or
// timeout passes.
func (p *proc) waitServing(timeout time.Duration) error {
	deadline := time.After(timeout)
	select {
	case <-p.seen:
	case <-p.exited:
		return fmt.Errorf("gw exited: %v\n%s", p.waitErr, p.lastLog())
	case <-deadline:
		return fmt.Errorf("gw logged no HTTP listener in %v\n%s", timeout, p.lastLog())
	}
	hc := &http.Client{Timeout: time.Second}
	for {
		code, _, err := healthz(hc, p.addr("http"))
		if err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("gw exited: %v\n%s", p.waitErr, p.lastLog())
		case <-deadline:
			return fmt.Errorf("gw not serving after %v (healthz %d, %v)\n%s", timeout, code, err, p.lastLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// healthz gets GET /healthz: the status and the first line of the body.
func healthz(hc *http.Client, addr string) (int, string, error) {
	resp, err := hc.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	first, _, _ := strings.Cut(string(b), "\n")
	return resp.StatusCode, first, nil
}

// signal sends sig to the process unless it has exited.
func (p *proc) signal(sig syscall.Signal) {
	if p.running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop asks gw to shut down (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.kill()
	}
}

// kill kills the process (by its id) and waits for it.
func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

// status is a /proc/PID/status field in MiB (VmRSS, VmHWM).
func (p *proc) status(field string) (float64, error) {
	return benchkit.StatusMiB(strconv.Itoa(p.cmd.Process.Pid), field)
}

// runGit runs git in the current directory and returns its trimmed output.
func runGit(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	return strings.TrimSpace(string(out)), err
}

// serveEmbedded starts gw serve with the embedded store (a fresh data
// directory, the native listener on a free port) and waits until it serves.
func (e *env) serveEmbedded() (*proc, error) {
	dir, err := e.dataDir()
	if err != nil {
		return nil, err
	}
	p, err := startGW(e.reap, e.tools.gw, "serve", "-data-dir", dir, "-native-addr", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if err := p.waitServing(30 * time.Second); err != nil {
		p.kill()
		return nil, err
	}
	// gw logs its native listener right after its HTTP one, and the log
	// is read in a goroutine of its own: /healthz may answer first.
	for deadline := time.Now().Add(5 * time.Second); p.addr("native") == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) || !p.running() {
			p.kill()
			return nil, errors.New("gw logged no native listener")
		}
	}
	return p, nil
}
