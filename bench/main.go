// Command bench measures native against the raw transports and grpc-go (issue
// 3): every selected row once per round, rounds interleaved, then a table of
// medians with min-max, ratios computed per round, and the same as JSON.
//
//	go run ./bench                      # the full run (make bench)
//	go run ./bench -only 'unix'         # rows whose name matches
//	go run ./bench -quick               # 1 round of 64 MiB: a smoke run
//	go run ./bench -list                # the rows and ratios
//	go run ./bench -grpc-sweep          # try grpc-go's window and buffer knobs
//
// Rows are registered by the files of this package (raw.go, nativerows.go,
// grpcrows.go, unary.go, rss.go); see contender in registry.go.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

func main() { os.Exit(benchMain(os.Args[1:], os.Stdout, os.Stderr)) }

type config struct {
	rounds    int
	minBytes  int64
	minTime   time.Duration
	only      *regexp.Regexp
	jsonPath  string
	quick     bool
	rssBytes  int64
	list      bool
	grpcSweep bool
	rssChild  bool
	cpuProf   string
	memProf   string
	traceOut  string
}

// segment is the size of one stream (one call) within a transfer: large
// enough that per-call costs vanish, small enough to stop soon after the
// minimums are met.
func (c *config) segment() int64 {
	s := min(max(c.minBytes/4, 16<<20), 512<<20)
	return s / chunk * chunk
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	minBytes, rssBytes := benchkit.ByteSize(2<<30), benchkit.ByteSize(10<<30)
	only := fs.String("only", "", "run only the rows whose name matches this regexp (ratios need both their rows)")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds; each runs every selected row once")
	fs.Var(&minBytes, "min-bytes", "a streaming row moves at least this much per round")
	fs.DurationVar(&cfg.minTime, "min-time", 2*time.Second, "and every row runs at least this long per round")
	fs.StringVar(&cfg.jsonPath, "json", "bench-results.json", "write the results here (empty: do not)")
	fs.BoolVar(&cfg.quick, "quick", false, "smoke run: 1 round, 64 MiB, no minimum time, no peak-RSS row (explicit flags win)")
	fs.Var(&rssBytes, "rss-bytes", "bytes the peak-RSS row streams")
	fs.BoolVar(&cfg.list, "list", false, "list the rows and ratios, then exit")
	fs.BoolVar(&cfg.grpcSweep, "grpc-sweep", false, "measure grpc-go streams under several window/buffer settings, then exit")
	fs.BoolVar(&cfg.rssChild, "rss-child", false, "internal: the peak-RSS row's child process")
	fs.StringVar(&cfg.cpuProf, "cpuprofile", "", "write a CPU profile of the whole run to this file (use with -only)")
	fs.StringVar(&cfg.memProf, "memprofile", "", "write an allocation profile of the whole run to this file (use with -only)")
	fs.StringVar(&cfg.traceOut, "trace", "", "write an execution trace of the whole run to this file (use with -only; go tool trace reads it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick {
		if !set["rounds"] {
			cfg.rounds = 1
		}
		if !set["min-bytes"] {
			minBytes = 64 << 20
		}
		if !set["min-time"] {
			cfg.minTime = 0
		}
	}
	cfg.minBytes, cfg.rssBytes = int64(minBytes), int64(rssBytes)
	if cfg.rounds < 1 {
		return nil, fmt.Errorf("-rounds must be at least 1")
	}
	if cfg.minBytes < chunk {
		return nil, fmt.Errorf("-min-bytes must be at least 1MiB")
	}
	var err error
	if cfg.only, err = regexp.Compile(*only); err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	return cfg, nil
}

func benchMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err == nil {
		switch {
		case cfg.rssChild:
			err = rssChild(cfg.rssBytes, stdout)
		case cfg.list:
			listRows(cfg, stdout)
		case cfg.grpcSweep:
			err = sweepGRPC(cfg, stdout, stderr)
		default:
			err = profiled(cfg, func() error { return runBench(cfg, stdout, stderr) })
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// selected returns the contenders this run measures, in round order.
func selected(cfg *config) []contender {
	var sel []contender
	for _, c := range ordered() {
		if cfg.only.MatchString(c.name) && !(cfg.quick && c.heavy) {
			sel = append(sel, c)
		}
	}
	return sel
}

func listRows(cfg *config, w io.Writer) {
	for _, c := range selected(cfg) {
		fmt.Fprintf(w, "row    %-28s %s\n", c.name, c.unit)
	}
	for _, r := range ratios {
		fmt.Fprintf(w, "ratio  %-34s %s / %s\n", r.name, r.num, r.den)
	}
}

func runBench(cfg *config, stdout, stderr io.Writer) error {
	sel := selected(cfg)
	if len(sel) == 0 {
		return fmt.Errorf("no row matches -only %q", cfg.only)
	}
	meta := machine()
	meta["rounds"], meta["min_bytes"], meta["min_time_s"] = cfg.rounds, cfg.minBytes, cfg.minTime.Seconds()
	meta["segment_bytes"], meta["quick"] = cfg.segment(), cfg.quick
	meta["grpc_settings"], meta["grpc_tuned"] = grpcBest.String(), grpcTuned.String()
	fmt.Fprintf(stdout, "framegate bench: %s %s/%s, %v CPUs (GOMAXPROCS %v), %v\n",
		meta["go"], runtime.GOOS, runtime.GOARCH, meta["cpus"], meta["gomaxprocs"], meta["cpu"])
	fmt.Fprintf(stdout, "%d rounds of %d rows; streams: >= %s and >= %v per row per round, in calls of %s\n",
		cfg.rounds, len(sel), sizeName(int(cfg.minBytes)), cfg.minTime, sizeName(int(cfg.segment())))
	fmt.Fprintf(stdout, "grpc-go rows: %s\ngrpc-go /tuned row: %s\n", grpcBest, grpcTuned)

	res := newResults(cfg.rounds)
	var failed []string
	meta["loadavg_start"] = loadAvg()
	var busiest float64
	var busiestRow string
	var childCPU time.Duration
	whole := startLoadProbe()
	start := time.Now()
	for i := range cfg.rounds {
		for _, c := range sel {
			// Collect and return the previous rows' freed heap to the OS
			// now: left to the background scavenger, it is returned while
			// the next row runs, and a row's p99 latency (mux/small-alone
			// after a unary or mem row) rose from ~0.17 to ~1 ms in one
			// round of two.
			debug.FreeOSMemory()
			r := &round{index: i, cfg: cfg, name: c.name}
			stop := watchdog(c.name, 2*time.Minute+10*cfg.minTime, stderr)
			t := time.Now()
			probe := startLoadProbe()
			v, err := c.run(r)
			other := probe.foreign(r.childCPU)
			childCPU += r.childCPU
			stop()
			if other > busiest {
				busiest, busiestRow = other, fmt.Sprintf("%s in round %d", c.name, i+1)
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("round %d %s: %v", i+1, c.name, err))
				fmt.Fprintf(stderr, "round %d/%d  %-28s FAILED: %v\n", i+1, cfg.rounds, c.name, err)
				continue
			}
			res.add(i, c.name, c.unit, v)
			for _, e := range r.extras {
				res.add(i, e.name, e.unit, e.v)
			}
			fmt.Fprintf(stderr, "round %d/%d  %-28s %10s %-8s (%.1fs, other processes %2.0f%% of CPUs)\n",
				i+1, cfg.rounds, c.name, fmtVal(v), c.unit, time.Since(t).Seconds(), 100*other)
		}
	}
	elapsed := time.Since(start)
	others := whole.foreign(childCPU)
	res.addRatios()
	sums := summarize(res)
	printTable(stdout, sums)
	meta["runtime_s"] = elapsed.Seconds()
	meta["loadavg_end"], meta["other_cpu_share"], meta["other_cpu_share_max_row"] = loadAvg(), others, busiest
	fmt.Fprintf(stdout, "\nruntime: %v\n", elapsed.Round(100*time.Millisecond))
	worst := ""
	if busiestRow != "" {
		worst = fmt.Sprintf(" (at most %.0f%%, during %s)", 100*busiest, busiestRow)
	}
	fmt.Fprintf(stdout, "other processes used %.0f%% of the CPUs during the run%s; load average %s at the start, %s at the end\n",
		100*others, worst, meta["loadavg_start"], meta["loadavg_end"])
	if others > 0.05 || busiest > 0.15 {
		fmt.Fprintf(stdout, "WARNING: the machine was not idle; figures measured under contention are low and noisy\n")
	}
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, meta, sums); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", cfg.jsonPath)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d runs failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// profiled runs f under the CPU and allocation profilers and the
// execution tracer the flags ask for.
func profiled(cfg *config, f func() error) error {
	stopTrace, err := recordTo(cfg.traceOut, trace.Start, trace.Stop)
	if err != nil {
		return err
	}
	defer stopTrace()
	if cfg.memProf != "" {
		runtime.MemProfileRate = 64 << 10
	}
	stopCPU, err := recordTo(cfg.cpuProf, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	defer stopCPU()
	err = f()
	if cfg.memProf != "" {
		mf, merr := os.Create(cfg.memProf)
		if merr == nil {
			merr = pprof.Lookup("allocs").WriteTo(mf, 0)
			mf.Close()
		}
		err = errors.Join(err, merr)
	}
	return err
}

// recordTo starts a recorder (the tracer, the CPU profiler) writing to a
// file at path, unless path is empty; the function returned stops it and
// closes the file.
func recordTo(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

// watchdog ends the process with every goroutine's stack if a row hangs (a
// deadlock is a result too).
func watchdog(name string, d time.Duration, w io.Writer) (stop func()) {
	t := time.AfterFunc(d, func() {
		fmt.Fprintf(w, "bench: %s did not finish within %v; goroutines:\n", name, d)
		pprof.Lookup("goroutine").WriteTo(w, 2)
		os.Exit(3)
	})
	return func() { t.Stop() }
}

// machine describes where the run happens.
func machine() map[string]any {
	m := map[string]any{
		"go": runtime.Version(), "cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"start": time.Now().UTC().Format(time.RFC3339),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b strings.Builder
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b.WriteByte(byte(c))
		}
		m["kernel"] = b.String()
	}
	return m
}
