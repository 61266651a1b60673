// Command load puts the gateway under load (issue 7): for a bounded time on
// loopback, -streams concurrent server streams plus a stream of unary calls
// through the gateway, over gRPC and over REST, to a backend in this process
// (gateway.Local), to a remote one (a native server on a loopback TCP
// listener, reached through gateway.NewRemoteBackend and its pool) and to
// an exec one (this executable again, serving its stdin and stdout, as gw
// serve -backend exec:COMMAND reaches it; execchild.go), to three
// replica processes behind a gateway.ReplicaSet (replicas.go), and to the
// same with one replica killed a quarter of the way through and restarted
// (replicakill.go). Every streamed byte is compared with the known content
// and every unary answer with its request; anything else counts as an
// error, except, in replicas-kill, calls that were on the killed replica
// or began before the gateway ejected it, and failed loudly.
//
//	go run ./bench/load                       # make load: 10 scenarios of 20s
//	go run ./bench/load -duration 5s -only rest
//
// It prints a table (stream throughput, unary calls/s, p50/p99 of unary
// latency and of stream time-to-complete, errors, peak RSS) and writes the
// same as JSON to -out. It exits 1 if any error occurred. The clients run
// in a child process (clientchild.go), so that the peak RSS is the
// gateway's (and the backend's); -clients-apart=false runs all in one
// process, as the load did before.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
	"github.com/framegate/framegate/gateway"
)

func main() {
	if code, ok := clientChild(os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if code, ok := backendChild(os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if code, ok := execChild(os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(loadMain(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	duration   time.Duration
	streams    int
	streamSize int64
	callers    int
	pool       int
	grace      time.Duration
	only       *regexp.Regexp
	out        string
	cpuProf    string
	memProf    string
	// clientsApart runs the clients in a child process (clientchild.go).
	clientsApart bool
	// timeline has the clients record when each call began
	// (replicas-kill's scenarios set it).
	timeline bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	size := benchkit.ByteSize(8 << 20)
	only := fs.String("only", "", "run only the scenarios whose name (grpc/inproc, rest/remote, ...) matches this regexp")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long each scenario starts new calls")
	fs.IntVar(&cfg.streams, "streams", 64, "concurrent server streams")
	fs.Var(&size, "stream-size", "bytes per stream (each stream loops: one transfer after another)")
	fs.IntVar(&cfg.callers, "callers", 1, "goroutines making unary calls back to back, beside the streams")
	fs.IntVar(&cfg.pool, "pool", 0, "connections of the remote backend's pool (0: the gateway's default)")
	fs.DurationVar(&cfg.grace, "grace", 30*time.Second, "after -duration, how long calls in flight may take before they fail")
	fs.StringVar(&cfg.out, "out", "load-results.json", "write the results here as JSON (empty: do not)")
	fs.StringVar(&cfg.cpuProf, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&cfg.memProf, "memprofile", "", "write a heap profile to this file halfway through the first scenario (use with -only)")
	fs.BoolVar(&cfg.clientsApart, "clients-apart", true, "run the clients, and a remote scenario's backend, in child processes, so that peak RSS is the gateway's (false: all in one process, as before; replicas always run in processes of their own)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.streamSize = int64(size)
	switch {
	case cfg.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case cfg.streams < 1 || cfg.callers < 0:
		return nil, errors.New("-streams must be at least 1 and -callers at least 0")
	case cfg.streamSize < 1:
		return nil, errors.New("-stream-size must be at least 1 byte")
	case cfg.pool < 0:
		return nil, errors.New("-pool must not be negative")
	}
	if cfg.pool == 0 {
		cfg.pool = gateway.DefaultPoolSize
	}
	var err error
	if cfg.only, err = regexp.Compile(*only); err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	return cfg, nil
}

func loadMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 2
	}
	if cfg.cpuProf != "" {
		f, err := os.Create(cfg.cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if cfg.memProf != "" {
		t := time.AfterFunc(cfg.duration/2, func() {
			f, err := os.Create(cfg.memProf)
			if err == nil {
				err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
			}
			if err != nil {
				fmt.Fprintln(stderr, "load: -memprofile:", err)
			}
		})
		defer t.Stop()
	}
	rep, err := run(cfg, stderr)
	if rep != nil {
		printTable(stdout, cfg, rep)
		if cfg.out != "" {
			if werr := benchkit.WriteJSON(cfg.out, rep); werr != nil {
				err = errors.Join(err, werr)
			} else {
				fmt.Fprintf(stdout, "wrote %s\n", cfg.out)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}
	if rep.Errors > 0 {
		fmt.Fprintf(stderr, "load: %d errors\n", rep.Errors)
		return 1
	}
	return 0
}

// scenario names a protocol and a backend kind.
type scenario struct{ protocol, backend string }

func (s scenario) String() string { return s.protocol + "/" + s.backend }

// backends and protocols, in run order: each backend is set up once and
// loaded over each protocol.
var (
	backends  = []string{"inproc", "remote", "exec", "replicas", "replicas-kill"}
	protocols = []string{"grpc", "rest"}
)

// run runs every selected scenario. A scenario that cannot be set up
// stops the run with an error; errors under load are counted.
func run(cfg *config, progress io.Writer) (*report, error) {
	rep := &report{Meta: meta(cfg)}
	start := time.Now()
	for _, b := range backends {
		var sel []scenario
		for _, p := range protocols {
			if s := (scenario{p, b}); cfg.only.MatchString(s.String()) {
				sel = append(sel, s)
			}
		}
		if len(sel) == 0 {
			continue
		}
		e, err := startEnv(b, cfg)
		if err != nil {
			return rep, fmt.Errorf("%s backend: %w", b, err)
		}
		for _, s := range sel {
			fmt.Fprintf(progress, "load: %-18s %d streams of %s and %d unary caller(s) for %v ...\n",
				s, cfg.streams, benchkit.SizeName(cfg.streamSize), cfg.callers, cfg.duration)
			res, err := runScenario(e, s, cfg)
			if err != nil {
				return rep, errors.Join(fmt.Errorf("%s: %w%s", s, err, e.childStderr()), e.close())
			}
			rep.add(res)
			fmt.Fprintf(progress, "load: %-18s %.0f MiB/s, %d streams, %.0f calls/s, %d errors",
				s, res.StreamMiBps, res.StreamsDone, res.UnaryPerSec, res.Errors)
			if e.rb != nil {
				fmt.Fprintf(progress, ", pool: %d dials, %d waits", res.PoolDials, res.PoolWaits)
			}
			if len(res.ReplicaCalls) > 0 {
				fmt.Fprintf(progress, ", calls per replica %v", res.ReplicaCalls)
			}
			if res.BackendProcesses > 0 {
				fmt.Fprintf(progress, ", %d backend process(es) so far, %d lost", res.BackendProcesses, res.BackendLost)
			}
			fmt.Fprintln(progress)
			if res.Kill != nil {
				fmt.Fprintf(progress, "load: %-18s %s\n", s, strings.ReplaceAll(res.Kill.summary(), "\n", "\nload: "+strings.Repeat(" ", 19)))
			}
			for _, m := range res.ErrorSamples {
				fmt.Fprintf(progress, "load: %-18s error: %s\n", s, m)
			}
			if err := e.checkProcesses(); err != nil {
				return rep, errors.Join(fmt.Errorf("%s: %w", s, err), e.close())
			}
			if res.Errors > 0 {
				if m := e.childStderr(); m != "" {
					fmt.Fprintf(progress, "load: %-18s backend%s\n", s, m)
				}
			}
		}
		if err := e.close(); err != nil {
			return rep, fmt.Errorf("%s backend: close: %w", b, err)
		}
	}
	if len(rep.Scenarios) == 0 {
		return nil, fmt.Errorf("no scenario matches -only %q", cfg.only)
	}
	rep.Meta["runtime_s"] = time.Since(start).Seconds()
	if hwm, err := benchkit.VmHWM(); err == nil {
		rep.Meta["process_vmhwm_mib"] = hwm
	}
	return rep, nil
}

func meta(cfg *config) map[string]any {
	m := map[string]any{
		"go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
		"cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"start":      time.Now().UTC().Format(time.RFC3339),
		"duration_s": cfg.duration.Seconds(), "streams": cfg.streams, "stream_bytes": cfg.streamSize,
		"unary_callers": cfg.callers, "remote_pool": cfg.pool,
		"peak_rss": peakRSSMeaning(cfg),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

// peakRSSMeaning says what a scenario's peak RSS counts.
func peakRSSMeaning(cfg *config) string {
	if cfg.clientsApart {
		return "VmHWM of this process (the gateway, with an in-process backend; the clients, a remote backend and the replicas ran in child processes, whose VmHWM are client_peak_rss_mib and backend_peak_rss_mib, the largest replica's), reset before each scenario"
	}
	return "VmHWM of this process (clients, gateway and backend), reset before each scenario"
}

// report is the JSON file.
type report struct {
	Meta       map[string]any `json:"meta"`
	Scenarios  []result       `json:"scenarios"`
	Errors     int64          `json:"errors"`
	PeakRSSMiB float64        `json:"peak_rss_mib"` // the largest of the scenarios'
}

func (r *report) add(res result) {
	r.Scenarios = append(r.Scenarios, res)
	r.Errors += res.Errors
	r.PeakRSSMiB = max(r.PeakRSSMiB, res.PeakRSSMiB)
}

func printTable(w io.Writer, cfg *config, rep *report) {
	fmt.Fprintf(w, "framegate load: %s %s/%s, %v CPUs, %s per scenario, %d streams of %s, %d unary caller(s), remote pool %d\n",
		rep.Meta["go"], runtime.GOOS, runtime.GOARCH, rep.Meta["cpus"], cfg.duration, cfg.streams, benchkit.SizeName(cfg.streamSize), cfg.callers, cfg.pool)
	const f = "%-18s %12s %8s %10s %10s %10s %10s %10s %7s %9s %10s %11s\n"
	fmt.Fprintf(w, f, "scenario", "stream MiB/s", "streams", "stream p50", "stream p99", "unary/s", "unary p50", "unary p99", "errors", "peak RSS", "client RSS", "backend RSS")
	fmt.Fprintln(w, strings.Repeat("-", 137))
	for _, s := range rep.Scenarios {
		client, backend := "(in)", "(in)"
		if s.Backend == "exec" {
			backend = "(not read)" // a child of the gateway's pool, over a pipe
		}
		if cfg.clientsApart {
			client = fmt.Sprintf("%.0f MiB", s.ClientPeakRSSMiB)
			if s.Backend == "remote" {
				backend = fmt.Sprintf("%.0f MiB", s.BackendPeakRSSMiB)
			}
		}
		if strings.HasPrefix(s.Backend, "replicas") {
			backend = fmt.Sprintf("%.0f MiB", s.BackendPeakRSSMiB) // the largest replica's
		}
		fmt.Fprintf(w, f, s.Scenario, fmt.Sprintf("%.0f", s.StreamMiBps), strconv.FormatInt(s.StreamsDone, 10),
			fmtMs(s.StreamP50ms), fmtMs(s.StreamP99ms), fmt.Sprintf("%.0f", s.UnaryPerSec),
			fmtMs(s.UnaryP50ms), fmtMs(s.UnaryP99ms), strconv.FormatInt(s.Errors, 10), fmt.Sprintf("%.0f MiB", s.PeakRSSMiB), client, backend)
	}
	for _, s := range rep.Scenarios {
		if s.Kill != nil {
			fmt.Fprintf(w, "%s: %s\n", s.Scenario, s.Kill.summary())
		}
	}
	verdict := "no errors"
	if rep.Errors > 0 {
		verdict = fmt.Sprintf("%d ERRORS", rep.Errors)
	}
	what := "whole process: clients, gateway and backend"
	if cfg.clientsApart {
		what = "the gateway's process, with an in-process backend; the clients, a remote backend and the replicas ran in child processes"
	}
	fmt.Fprintf(w, "%s; peak RSS %.0f MiB (%s)\n", verdict, rep.PeakRSSMiB, what)
}

// fmtMs prints milliseconds with about three significant digits.
func fmtMs(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.0fµs", ms*1000)
}
