// Command hostile attacks a gw serve process as a hostile client and a
// hostile backend would (issue 13) and measures what it costs the gateway
// and the well-behaved clients beside the attack. Everything runs on
// 127.0.0.1 against gw built from ./cmd/gw, with gw serve's default
// configuration (temporary data directory, free ports, JSON log):
//
//	rss      RSS of gw serve while 200 native connections each claim a 4 MiB
//	         BODY frame and stall, and while 20 connections drip bytes up to
//	         the native body limit
//	siege    gw call, grpcurl and curl, each -n times, while 1000 idle native
//	         connections, 200 stalled REST bodies and 1100 header-only gRPC
//	         streams are held
//	schema   startup time against a backend whose describe answer nests list
//	         types N deep, and the time to exit on SIGTERM during it
//	openapi  GET /openapi.json with a backend of 20,000 endpoints
//
//	go run ./bench/hostile                  # make hostile
//	go run ./bench/hostile -only siege -n 3
//
// It prints a table (median and min-max where repeated, the goal of issue
// 13 where it states one) and writes the same as JSON to -out. Every
// scenario is bounded in time and count, and every process and connection
// it starts is ended before it returns. It exits 1 if a scenario could not
// be run at all; a goal missed is a result, not a failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

func main() { os.Exit(hostileMain(os.Args[1:], os.Stdout, os.Stderr)) }

type config struct {
	only    *regexp.Regexp
	n       int
	rssRuns int
	timeout time.Duration
	out     string

	gwBin, grpcurlBin string
	clients           map[string]bool

	// rss
	stallConns int
	stallClaim int64
	dripConns  int
	dripBytes  int64
	settle     time.Duration
	// siege
	idleNative  int
	stalledREST int
	grpcStreams int
	callTimeout time.Duration
	siegeHold   time.Duration
	// schema
	depths       []int
	schemaCap    time.Duration
	sigtermAfter time.Duration
	sigtermDepth int
	// openapi
	openapiEndpoints int
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("hostile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	claim, drip := benchkit.ByteSize(4<<20), benchkit.ByteSize(32<<20)
	only := fs.String("only", "", "run only the scenarios (rss, siege, schema, openapi) whose name matches this regexp")
	fs.IntVar(&cfg.n, "n", 5, "runs of each well-behaved client in siege")
	fs.IntVar(&cfg.rssRuns, "rss-runs", 3, "runs of each rss variant, each against a fresh gw serve")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "stop the whole run after this long")
	fs.StringVar(&cfg.out, "out", "hostile-results.json", "write the results here as JSON (empty: do not)")
	fs.StringVar(&cfg.gwBin, "gw", "", "gw binary to attack (default: built from ./cmd/gw into a temporary directory)")
	fs.StringVar(&cfg.grpcurlBin, "grpcurl", "", "grpcurl binary (default: the version pinned in tools/go.mod, built likewise)")
	clients := fs.String("clients", "gw,grpcurl,curl", "the well-behaved clients of siege: any of gw, grpcurl, curl")
	fs.IntVar(&cfg.stallConns, "stall-conns", 200, "rss: native connections that each claim -stall-claim and stall")
	fs.Var(&claim, "stall-claim", "rss: the BODY frame length each stalled connection claims")
	fs.IntVar(&cfg.dripConns, "drip-conns", 20, "rss: native connections that drip a body of -drip-bytes")
	fs.Var(&drip, "drip-bytes", "rss: the body each dripping connection sends, without END (the native body limit by default)")
	fs.DurationVar(&cfg.settle, "settle", 3*time.Second, "rss: how long after the attack the RSS is read")
	fs.IntVar(&cfg.idleNative, "idle-native", 1000, "siege: idle native connections (preface only)")
	fs.IntVar(&cfg.stalledREST, "stalled-rest", 200, "siege: REST requests with Content-Length: 100 and one byte sent")
	fs.IntVar(&cfg.grpcStreams, "grpc-streams", 1100, "siege: header-only gRPC streams on one connection")
	fs.DurationVar(&cfg.callTimeout, "call-timeout", 10*time.Second, "siege: give up one client run after this long")
	fs.DurationVar(&cfg.siegeHold, "siege-hold", 0, "siege: after the clients, hold the attack this much longer before counting what the gateway closed")
	depths := fs.String("schema-depths", "500,1000,4000", "schema: list nesting depths of the hostile describe answers")
	fs.DurationVar(&cfg.schemaCap, "schema-cap", 30*time.Second, "schema: give up one startup (and one SIGTERM exit) after this long")
	fs.DurationVar(&cfg.sigtermAfter, "sigterm-after", time.Second, "schema: SIGTERM this long after starting gw against the deepest schema")
	fs.IntVar(&cfg.openapiEndpoints, "openapi-endpoints", 10000, "openapi: endpoints of the backend (10000 is the most the gateway's default SchemaLimits accept)")
	fs.IntVar(&cfg.sigtermDepth, "sigterm-depth", 64, "schema: how deep the lists of the ever-changing schema go in the SIGTERM run\n(64 is the deepest the gateway's default SchemaLimits accept; deeper ones are refused at once)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.stallClaim, cfg.dripBytes = int64(claim), int64(drip)
	var err error
	if cfg.only, err = regexp.Compile(*only); err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	cfg.clients = map[string]bool{}
	for c := range strings.SplitSeq(*clients, ",") {
		switch c = strings.TrimSpace(c); c {
		case "gw", "grpcurl", "curl":
			cfg.clients[c] = true
		case "":
		default:
			return nil, fmt.Errorf("-clients: unknown client %q", c)
		}
	}
	for d := range strings.SplitSeq(*depths, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(d))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-schema-depths: bad depth %q", d)
		}
		cfg.depths = append(cfg.depths, v)
	}
	switch {
	case cfg.n < 1 || cfg.rssRuns < 1:
		return nil, errors.New("-n and -rss-runs must be at least 1")
	case cfg.stallClaim < 1 || cfg.stallClaim > maxPayload:
		return nil, fmt.Errorf("-stall-claim must be 1 to %d bytes (the frame limit)", maxPayload)
	case min(cfg.stallConns, cfg.dripConns, cfg.idleNative, cfg.stalledREST, cfg.grpcStreams, cfg.openapiEndpoints) < 0:
		return nil, errors.New("counts must not be negative")
	case cfg.timeout <= 0 || cfg.callTimeout <= 0 || cfg.schemaCap <= 0 || cfg.siegeHold < 0:
		return nil, errors.New("timeouts must be positive")
	}
	return cfg, nil
}

// scenarios in run order.
var scenarios = []struct {
	name string
	run  func(ctx context.Context, e *env) error
}{
	{"rss", runRSS},
	{"siege", runSiege},
	{"schema", runSchema},
	{"openapi", runOpenAPI},
}

// env is what every scenario gets.
type env struct {
	cfg      *config
	tools    *tools
	dataDir  func() (string, error) // a fresh temporary data directory
	reap     *reaper
	rep      *report
	progress io.Writer
}

func (e *env) logf(format string, a ...any) { fmt.Fprintf(e.progress, "hostile: "+format+"\n", a...) }

func hostileMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hostile:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	rep, err := run(ctx, cfg, stderr)
	printTable(stdout, rep)
	if cfg.out != "" {
		if werr := benchkit.WriteJSON(cfg.out, rep); werr != nil {
			err = errors.Join(err, werr)
		} else {
			fmt.Fprintf(stdout, "wrote %s\n", cfg.out)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hostile:", err)
		return 1
	}
	return 0
}

// run builds the tools and runs the selected scenarios; a scenario that
// fails is reported and the next one runs.
func run(ctx context.Context, cfg *config, progress io.Writer) (*report, error) {
	rep := &report{Meta: meta(cfg)}
	start := time.Now()
	dir, err := os.MkdirTemp("", "hostile-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	e := &env{cfg: cfg, reap: newReaper(), rep: rep, progress: progress}
	defer e.reap.killAll()
	e.dataDir = func() (string, error) { return os.MkdirTemp(dir, "data-") }
	var errs []error
	sel := 0
	for _, s := range scenarios {
		if !cfg.only.MatchString(s.name) {
			continue
		}
		sel++
		if e.tools == nil {
			e.logf("building gw and grpcurl ...")
			if e.tools, err = buildTools(ctx, cfg, dir); err != nil {
				return rep, err
			}
		}
		e.logf("%s ...", s.name)
		t0 := time.Now()
		err := s.run(ctx, e)
		e.reap.killAll()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s.name, err))
			e.logf("%s: %v", s.name, err)
		}
		e.logf("%s done in %.1fs", s.name, time.Since(t0).Seconds())
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("stopped: %w", context.Cause(ctx)))
			break
		}
	}
	if sel == 0 {
		return rep, fmt.Errorf("no scenario matches -only %q", cfg.only)
	}
	rep.Meta["runtime_s"] = time.Since(start).Seconds()
	return rep, errors.Join(errs...)
}

func meta(cfg *config) map[string]any {
	m := map[string]any{
		"go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH, "cpus": runtime.NumCPU(),
		"start": time.Now().UTC().Format(time.RFC3339),
		"n":     cfg.n, "rss_runs": cfg.rssRuns,
		"gw": "gw serve with its default configuration, a temporary -data-dir, free ports on 127.0.0.1",
	}
	if out, err := runGit("rev-parse", "HEAD"); err == nil {
		m["commit"] = out
	}
	if out, err := runGit("status", "--porcelain", "--untracked-files=no"); err == nil {
		m["dirty"] = out != ""
	}
	return m
}

// report is the JSON file.
type report struct {
	Meta   map[string]any `json:"meta"`
	Rows   []row          `json:"rows"`
	Errors []string       `json:"errors,omitempty"` // scenarios that could not run
}

// row is one measurement: samples, their median and range, and the goal of
// issue 13 if it states one.
type row struct {
	Scenario string    `json:"scenario"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Median   *float64  `json:"median,omitempty"`
	Min      *float64  `json:"min,omitempty"`
	Max      *float64  `json:"max,omitempty"`
	Samples  []float64 `json:"samples"`
	Goal     string    `json:"goal,omitempty"`
	Pass     *bool     `json:"pass,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// goal is a target of issue 13: the median must be below max.
type goal struct {
	text string
	max  float64
}

// add records a row; a nil goal has no target.
func (r *report) add(scenario, name, unit string, samples []float64, g *goal, note string) {
	rw := row{Scenario: scenario, Name: name, Unit: unit, Samples: samples, Note: note}
	if samples == nil {
		rw.Samples = []float64{}
	}
	if len(samples) > 0 {
		med := benchkit.Median(samples)
		lo, hi := benchkit.MinMax(samples)
		rw.Median, rw.Min, rw.Max = &med, &lo, &hi
		if g != nil {
			pass := med < g.max
			rw.Pass = &pass
		}
	}
	if g != nil {
		rw.Goal = g.text
	}
	r.Rows = append(r.Rows, rw)
}

// failLast marks the last row's goal as missed whatever its median (a
// client run that failed is no success, however fast).
func (r *report) failLast() {
	pass := false
	r.Rows[len(r.Rows)-1].Pass = &pass
}

func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "framegate hostile: %s %s/%s, %v CPUs, commit %v\n", rep.Meta["go"], rep.Meta["os"], rep.Meta["arch"], rep.Meta["cpus"], rep.Meta["commit"])
	width := len("measurement")
	for _, r := range rep.Rows {
		width = max(width, len(r.Scenario)+1+len(r.Name))
	}
	const f = "%-*s %-6s %9s %9s %9s %3s  %-18s %s\n"
	fmt.Fprintf(w, f, width, "measurement", "unit", "median", "min", "max", "n", "goal", "note")
	fmt.Fprintln(w, strings.Repeat("-", width+70))
	for _, r := range rep.Rows {
		g := r.Goal
		if r.Pass != nil {
			g += map[bool]string{true: " PASS", false: " FAIL"}[*r.Pass]
		}
		fmt.Fprintf(w, f, width, r.Scenario+"/"+r.Name, r.Unit, fmtPtr(r.Median), fmtPtr(r.Min), fmtPtr(r.Max), strconv.Itoa(len(r.Samples)), g, r.Note)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "ERROR %s\n", e)
	}
}

// fmtPtr prints a value with about three significant digits; "-" for none.
func fmtPtr(v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return "-"
	}
	a := math.Abs(*v)
	switch {
	case a == math.Trunc(a) && a < 1e9:
		return strconv.FormatFloat(*v, 'f', 0, 64)
	case a >= 100:
		return fmt.Sprintf("%.0f", *v)
	case a >= 10:
		return fmt.Sprintf("%.1f", *v)
	case a >= 0.1:
		return fmt.Sprintf("%.2f", *v)
	}
	return fmt.Sprintf("%.2g", *v)
}
