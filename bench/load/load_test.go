package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framegate/framegate/gateway"
	"go.uber.org/goleak"
)

// TestMain is also the client process of -clients-apart (the test binary
// is the executable the load re-runs).
func TestMain(m *testing.M) {
	if code, ok := clientChild(os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if code, ok := backendChild(os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if code, ok := execChild(os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// TestLoad runs every scenario briefly with a few small streams: no
// errors, and some throughput in each. It never checks a rate.
func TestLoad(t *testing.T) {
	rep, stdout := runLoad(t, "-duration", "300ms", "-streams", "4", "-stream-size", "300KiB", "-callers", "2")
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Scenario)
		if s.Errors != 0 || s.StreamsDone == 0 || !(s.StreamMiBps > 0) || s.UnaryCalls == 0 || !(s.UnaryPerSec > 0) ||
			!(s.StreamP99ms >= s.StreamP50ms && s.StreamP50ms > 0) || !(s.UnaryP99ms >= s.UnaryP50ms && s.UnaryP50ms > 0) || !(s.PeakRSSMiB > 0) || !(s.ClientPeakRSSMiB > 0) || (s.Backend == "remote") != (s.BackendPeakRSSMiB > 0) ||
			(s.Backend == "exec") != (s.BackendProcesses == 1) || (s.Backend == "replicas") != spread(s.ReplicaCalls) {
			t.Errorf("scenario %+v", s)
		}
	}
	if got, want := strings.Join(names, " "), "grpc/inproc rest/inproc grpc/remote rest/remote grpc/exec rest/exec grpc/replicas rest/replicas"; got != want {
		t.Errorf("scenarios %q, want %q", got, want)
	}
	if rep.Errors != 0 || !(rep.PeakRSSMiB > 0) {
		t.Errorf("report: %d errors, peak RSS %v", rep.Errors, rep.PeakRSSMiB)
	}
	for _, want := range []string{"stream MiB/s", "rest/remote", "no errors"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

// spread reports whether every replica took calls.
func spread(calls []int64) bool {
	if len(calls) != replicaCount {
		return false
	}
	for _, n := range calls {
		if n <= 0 {
			return false
		}
	}
	return true
}

// TestLoadOneProcess: with -clients-apart=false the clients run in this
// process, and no client process's RSS is reported.
func TestLoadOneProcess(t *testing.T) {
	rep, stdout := runLoad(t, "-clients-apart=false", "-only", "grpc/inproc", "-duration", "200ms", "-streams", "2", "-stream-size", "300KiB")
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].StreamsDone == 0 || !(rep.Scenarios[0].PeakRSSMiB > 0) || rep.Scenarios[0].ClientPeakRSSMiB != 0 {
		t.Errorf("scenarios %+v", rep.Scenarios)
	}
	if !strings.Contains(stdout, "whole process") {
		t.Errorf("table does not say the peak RSS is the whole process's:\n%s", stdout)
	}
}

// runLoad runs the load with args, which must succeed, and returns its
// JSON report and its table.
func runLoad(t *testing.T, args ...string) (report, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "load.json")
	var stdout, stderr bytes.Buffer
	if code := loadMain(append(args, "-out", path), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, stdout.String()
}

// TestVerifier: the content check finds a changed byte and a short stream.
func TestVerifier(t *testing.T) {
	const off = chunk - 5
	good := append(append([]byte{}, pattern[off:]...), pattern[:100]...)
	v := newVerifier(off)
	if _, err := v.Write(good[:3]); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Write(good[3:]); err != nil || v.done(int64(len(good))) != nil {
		t.Fatalf("good content: %v %v", err, v.done(int64(len(good))))
	}
	bad := append([]byte{}, good...)
	bad[50] ^= 1
	v = newVerifier(off)
	if _, err := v.Write(bad); err == nil || !strings.Contains(err.Error(), "byte 50") {
		t.Errorf("changed byte: %v", err)
	}
	v = newVerifier(off)
	v.Write(good[:10])
	if v.done(int64(len(good))) == nil {
		t.Error("short stream passed")
	}
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-streams", "8", "-stream-size", "2MiB"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.streams != 8 || cfg.streamSize != 2<<20 || cfg.pool != gateway.DefaultPoolSize || cfg.out != "load-results.json" {
		t.Errorf("%+v", cfg)
	}
	for _, bad := range [][]string{{"-streams", "0"}, {"-stream-size", "lots"}, {"-duration", "0s"}, {"extra"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestExecTarget: the exec backend's command line survives /bin/sh for
// any path, and its stderr is kept to a bound.
func TestExecTarget(t *testing.T) {
	for _, s := range []string{"/tmp/load", "/tmp/a b/it's $HOME `x` \\ \"q\""} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("%q through sh: %q, %v", s, out, err)
		}
	}
	var b lockedBuffer
	for range 3 {
		b.Write(make([]byte, maxChildStderr/2+1))
	}
	if b.b.Len() != maxChildStderr || !strings.Contains(b.String(), "more bytes dropped") {
		t.Errorf("stderr buffer holds %d bytes", b.b.Len())
	}
}
