package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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
// errors, and some throughput in each; with a replica killed, failures
// only among the calls on it before the ejection, and loud, calls after
// the ejection on the others. It never checks a rate.
func TestLoad(t *testing.T) {
	rep, stdout := runLoad(t, "-duration", "300ms", "-streams", "4", "-stream-size", "300KiB", "-callers", "2")
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Scenario)
		replicas := strings.HasPrefix(s.Backend, "replicas")
		if s.Errors != 0 || s.SilentErrors != 0 || s.StreamsDone == 0 || !(s.StreamMiBps > 0) || s.UnaryCalls == 0 || !(s.UnaryPerSec > 0) ||
			!(s.StreamP99ms >= s.StreamP50ms && s.StreamP50ms > 0) || !(s.UnaryP99ms >= s.UnaryP50ms && s.UnaryP50ms > 0) || !(s.PeakRSSMiB > 0) || !(s.ClientPeakRSSMiB > 0) || (s.Backend == "remote" || replicas) != (s.BackendPeakRSSMiB > 0) ||
			(s.Backend == "exec") != (s.BackendProcesses == 1) || replicas != spread(s.ReplicaCalls) || (s.Backend == "replicas-kill") != (s.Kill != nil) {
			t.Errorf("scenario %+v", s)
		}
		if s.Kill != nil {
			checkKill(t, s.Scenario, s.Kill)
		}
	}
	if got, want := strings.Join(names, " "), "grpc/inproc rest/inproc grpc/remote rest/remote grpc/exec rest/exec grpc/replicas rest/replicas grpc/replicas-kill rest/replicas-kill"; got != want {
		t.Errorf("scenarios %q, want %q", got, want)
	}
	if rep.Errors != 0 || !(rep.PeakRSSMiB > 0) {
		t.Errorf("report: %d errors, peak RSS %v", rep.Errors, rep.PeakRSSMiB)
	}
	for _, want := range []string{"stream MiB/s", "rest/remote", "rest/replicas-kill: killed tcp://", "after the ejection:", "no errors"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

// checkKill checks the report of a replica killed in scenario: seen
// ejected; no call failed silently, none begun after the ejection failed,
// and after it the killed replica took none while the others took some.
func checkKill(t *testing.T, scenario string, k *killReport) {
	t.Helper()
	failedSilently := k.BeforeKill.FailedSilent + k.KillToEject.FailedSilent + k.AfterEject.FailedSilent
	if !(k.EjectMs >= 0 && k.KillS > 0) || failedSilently != 0 || k.AfterEject.FailedLoud != 0 || k.AfterEject.OK == 0 ||
		k.Expected != k.BeforeKill.FailedLoud+k.KillToEject.FailedLoud || len(k.Spread) < 3 || len(k.Replicas) != replicaCount {
		t.Errorf("%s: kill report %+v", scenario, k)
		return
	}
	victim := slices.Index(k.Replicas, k.Replica)
	if victim < 0 {
		t.Fatalf("%s: killed replica %s not among %q", scenario, k.Replica, k.Replicas)
	}
	// A call that picked the replica just before the ejection may be
	// counted on it just after.
	ejected := k.Spread[2]
	for i, n := range ejected.Calls {
		if (i == victim && n > 2) || (i != victim && n == 0) {
			t.Errorf("%s: while ejected, replica %d of %q (killed: %d) took %d calls: %+v", scenario, i, k.Replicas, victim, n, k.Spread)
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

// TestKillReport: the calls of a kill scenario are placed by when they
// began; only loud failures of calls in flight at the kill or begun
// before the ejection are expected, every other failure stays an error.
func TestKillReport(t *testing.T) {
	base := time.Unix(1000, 0)
	s := func(d float64) time.Duration { return time.Duration(d * float64(time.Second)) }
	k := &killRun{name: "b", killAt: base.Add(s(1)), ejectAt: base.Add(s(1.002)), restartAt: base.Add(s(2)), readmitAt: base.Add(s(3)),
		snaps: map[string][]int64{"start": {0, 0, 0}, "kill": {10, 10, 10}, "eject": {11, 12, 10}, "readmit": {50, 52, 10}, "end": {90, 92, 30}}}
	d := &driven{
		StartUnix: base.UnixNano(),
		OKStarts:  []time.Duration{s(0.5), s(0.9), s(1.001), s(1.5), s(2.5), s(3.5)},
		Failures: []failedCall{
			{Start: s(0.99), End: s(1.0005), Err: "in flight at the kill"},     // expected
			{Start: s(1.001), End: s(1.003), Err: "begun before the ejection"}, // expected
			{Start: s(0.2), End: s(0.3), Err: "ended before the kill"},
			{Start: s(0.99), End: s(1.001), Silent: true, Err: "short stream"},
			{Start: s(1.5), End: s(1.6), Err: "after the ejection"},
		},
		Errors: 5,
	}
	r := k.report(d, []string{"a", "b", "c"})
	want := killReport{Replica: "b", Replicas: []string{"a", "b", "c"}, KillS: 1, RestartS: 2, ReadmitS: 3,
		BeforeKill: phaseCalls{OK: 2, FailedLoud: 2, FailedSilent: 1}, KillToEject: phaseCalls{OK: 1, FailedLoud: 1}, AfterEject: phaseCalls{OK: 3, FailedLoud: 1},
		Expected: 2, ExpectedSamples: []string{"in flight at the kill", "begun before the ejection"},
		Spread: []phaseSpread{{"before the kill", []int64{10, 10, 10}}, {"kill to ejection", []int64{1, 2, 0}}, {"ejected", []int64{39, 40, 0}}, {"readmitted", []int64{40, 40, 20}}}}
	got := *r
	if math.Abs(got.EjectMs-2) > 1e-6 {
		t.Errorf("ejected %vms after the kill, want 2", got.EjectMs)
	}
	got.EjectMs = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report\n%+v\nwant\n%+v", got, want)
	}
	if d.Errors != 3 || len(d.ErrorSamples) != 3 {
		t.Errorf("%d errors left (%q), want the 3 unexpected", d.Errors, d.ErrorSamples)
	}
	if sum := r.summary(); !strings.Contains(sum, "killed one is #2") || !strings.Contains(sum, "readmitted at 3.00s") {
		t.Errorf("summary:\n%s", sum)
	}
}
