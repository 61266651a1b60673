package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

// result is one scenario's row of the table and of the JSON file.
type result struct {
	Scenario string  `json:"scenario"` // "grpc/inproc", "rest/remote", ...
	Protocol string  `json:"protocol"`
	Backend  string  `json:"backend"`
	Seconds  float64 `json:"seconds"` // from the start until the last call in flight ended

	Streams     int     `json:"streams"` // concurrent
	StreamBytes int64   `json:"stream_bytes"`
	StreamsDone int64   `json:"streams_done"` // transfers verified complete
	StreamMiBps float64 `json:"stream_mib_s"` // verified bytes per second, all streams together
	StreamP50ms float64 `json:"stream_p50_ms"`
	StreamP99ms float64 `json:"stream_p99_ms"`

	UnaryCalls  int64   `json:"unary_calls"` // verified
	UnaryPerSec float64 `json:"unary_calls_s"`
	UnaryP50ms  float64 `json:"unary_p50_ms"`
	UnaryP99ms  float64 `json:"unary_p99_ms"`

	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"` // the first few
	// SilentErrors is the failed calls that ended as a success with wrong
	// or short content (silentError); counted in Errors too.
	SilentErrors int64 `json:"silent_errors"`
	// Kill is, for replicas-kill, what happened around the replica killed
	// mid-run; Errors then leaves out the failures it expects.
	Kill *killReport `json:"kill,omitempty"`
	// PeakRSSMiB is the peak RSS of this process: the gateway's, with an
	// in-process backend's, and the clients' and a remote backend's too
	// unless they ran apart.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// ClientPeakRSSMiB is the clients' process's, when they ran apart.
	ClientPeakRSSMiB float64 `json:"client_peak_rss_mib,omitempty"`
	// BackendPeakRSSMiB is a remote backend's process's, when it ran
	// apart, and the largest of the replicas' processes'.
	BackendPeakRSSMiB float64 `json:"backend_peak_rss_mib,omitempty"`

	PoolWaits int64 `json:"pool_waits,omitempty"` // remote and exec: calls that waited for a connection
	PoolDials int64 `json:"pool_dials,omitempty"` // remote and exec: connections dialled in the timed part
	// BackendProcesses is, for exec, how many backend processes the pool
	// started (one per successful dial) from the backend's start to this
	// scenario's end, warm-ups and earlier scenarios included: 1 unless
	// one was lost (BackendLost: its connection ended before the gateway
	// closed it) and replaced, or -pool > 1.
	BackendProcesses int64 `json:"backend_processes,omitempty"`
	// ReplicaCalls is, for replicas, the calls each replica took in the
	// timed part: the spread of the balancing.
	ReplicaCalls []int64 `json:"replica_calls,omitempty"`
	BackendLost  int64   `json:"backend_processes_lost,omitempty"`
}

// errorLog counts errors and keeps the first few messages, and with a
// timeline every failed call.
type errorLog struct {
	n, silent atomic.Int64
	start     time.Time
	timeline  bool
	mu        sync.Mutex
	samples   []string
	failures  []failedCall
}

// failedCall is a call that failed, in a timeline.
type failedCall struct {
	Start  time.Duration `json:"start"` // after the start of the timed part
	End    time.Duration `json:"end"`
	Silent bool          `json:"silent,omitempty"` // a silentError
	Err    string        `json:"err"`              // at most maxFailureMessage bytes
}

// maxFailureMessage bounds a failedCall's message.
const maxFailureMessage = 300

func (l *errorLog) add(what string, began time.Time, err error) {
	l.n.Add(1)
	silent := isSilent(err)
	if silent {
		l.silent.Add(1)
	}
	msg := what + ": " + err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < 5 {
		l.samples = append(l.samples, msg)
	}
	if l.timeline {
		if len(msg) > maxFailureMessage {
			msg = msg[:maxFailureMessage] + "..."
		}
		l.failures = append(l.failures, failedCall{Start: began.Sub(l.start), End: time.Since(l.start), Silent: silent, Err: msg})
	}
}

// runScenario loads e's gateway over s.protocol: cfg.streams goroutines
// each download one stream after another, and cfg.callers goroutines make
// one echo call after another, until cfg.duration has passed; calls in
// flight then finish (within cfg.grace, or fail). The clients run in this
// process, or (cfg.clientsApart) in a child process (clientchild.go), as
// does a remote backend (backendchild.go), so that this process's peak RSS
// is the gateway's alone (with an in-process backend's).
func runScenario(e *env, s scenario, cfg *config) (result, error) {
	c := *cfg
	c.timeline = e.kind == "replicas-kill"
	cfg = &c
	res := result{Scenario: s.String(), Protocol: s.protocol, Backend: s.backend, Streams: cfg.streams, StreamBytes: cfg.streamSize}
	var pool0 struct{ waits, dials int64 }
	var calls0 []int64 // per replica
	var apartErr error // of resetting a remote backend's peak RSS
	var kill *killRun  // replicas-kill
	if e.kind == "replicas-kill" {
		// The replica killed in the scenario before may still wait for
		// its next reconnect attempt (up to 5s apart).
		if err := e.replicasServing(15 * time.Second); err != nil {
			return res, err
		}
	}
	// start is called once the clients are warmed up, just before the
	// timed part.
	start := func() {
		if e.rb != nil {
			ps := e.rb.PoolStats()
			pool0.waits, pool0.dials = ps.Waits, ps.Dials
		}
		calls0 = e.replicaCalls()
		resetPeakRSS()
		if e.apart != nil {
			if err := e.apart.resetPeak(); err != nil {
				apartErr = err
			}
		}
		if err := e.resetReplicasPeak(); err != nil {
			apartErr = err
		}
		if e.kind == "replicas-kill" {
			kill = startKill(e, cfg.duration)
		}
	}
	var d driven
	var err error
	if cfg.clientsApart {
		d, err = driveApart(e, s.protocol, cfg, start)
		res.ClientPeakRSSMiB = d.PeakRSSMiB
	} else {
		d, err = driveHere(e, s.protocol, cfg, start)
	}
	if err != nil {
		if kill != nil {
			kill.halt()
		}
		return res, err
	}
	if peak, err := benchkit.VmHWM(); err == nil {
		res.PeakRSSMiB = peak
	}
	if apartErr != nil {
		return res, apartErr
	}
	if e.apart != nil {
		if res.BackendPeakRSSMiB, err = e.apart.peak(); err != nil {
			return res, err
		}
	}
	if e.rprocs != nil {
		if res.BackendPeakRSSMiB, err = e.replicasPeak(); err != nil {
			return res, err
		}
	}
	for i, n := range e.replicaCalls() {
		if i < len(calls0) {
			res.ReplicaCalls = append(res.ReplicaCalls, n-calls0[i])
		}
	}
	if e.rb != nil {
		ps := e.rb.PoolStats()
		res.PoolWaits, res.PoolDials = ps.Waits-pool0.waits, ps.Dials-pool0.dials
		if e.kind == "exec" {
			res.BackendProcesses, res.BackendLost = e.procs.started.Load(), e.procs.lost.Load()
		}
	}

	el := time.Duration(d.Elapsed)
	res.Seconds = el.Seconds()
	sd := d.StreamDurs
	slices.Sort(sd)
	res.StreamsDone = int64(len(sd))
	res.StreamMiBps = float64(d.StreamBytes) / (1 << 20) / el.Seconds()
	res.StreamP50ms, res.StreamP99ms = ms(percentile(sd, 50)), ms(percentile(sd, 99))
	ul := d.UnaryLats
	slices.Sort(ul)
	res.UnaryCalls = int64(len(ul))
	if d := time.Duration(d.UnaryEnd); d > 0 {
		res.UnaryPerSec = float64(len(ul)) / d.Seconds()
	}
	res.UnaryP50ms, res.UnaryP99ms = ms(percentile(ul, 50)), ms(percentile(ul, 99))
	if kill != nil {
		if res.Kill, err = kill.finish(&d); err != nil {
			return res, err
		}
	}
	res.Errors, res.SilentErrors = d.Errors, d.Silent
	res.ErrorSamples = d.ErrorSamples
	if res.StreamsDone == 0 {
		res.Errors++
		res.ErrorSamples = append(res.ErrorSamples, "no stream completed")
	}
	if cfg.callers > 0 && res.UnaryCalls == 0 {
		res.Errors++
		res.ErrorSamples = append(res.ErrorSamples, "no unary call completed")
	}
	return res, nil
}

// driven is what the clients of a scenario measured, in this process or
// in the child (as JSON).
type driven struct {
	Elapsed      time.Duration   `json:"elapsed"` // from the start until the last call in flight ended
	StreamBytes  int64           `json:"stream_bytes"`
	StreamDurs   []time.Duration `json:"stream_durs"` // of each verified transfer
	UnaryLats    []time.Duration `json:"unary_lats"`  // of each verified call
	UnaryEnd     time.Duration   `json:"unary_end"`   // after the start, when the last caller stopped
	Errors       int64           `json:"errors"`
	Silent       int64           `json:"silent"` // of Errors, silentErrors
	ErrorSamples []string        `json:"error_samples,omitempty"`
	PeakRSSMiB   float64         `json:"peak_rss_mib"` // of the child, when apart
	// With a timeline (cfg.timeline): when the timed part began (Unix
	// nanoseconds), when each verified call began (after that), and every
	// failed call.
	StartUnix int64           `json:"start_unix,omitempty"`
	OKStarts  []time.Duration `json:"ok_starts,omitempty"`
	Failures  []failedCall    `json:"failures,omitempty"`
}

// driveHere makes a client of protocol for e's gateway in this process,
// warms it up, calls start and drives the load (drive).
func driveHere(e *env, protocol string, cfg *config, start func()) (driven, error) {
	c, err := warmClient(e, protocol, cfg)
	if err != nil {
		return driven{}, err
	}
	start()
	d := drive(c, cfg)
	return d, c.close()
}

// warmClient makes a client and one untimed call of each kind: a scenario
// that cannot work at all stops here, with its error.
func warmClient(e *env, protocol string, cfg *config) (client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := newClient(ctx, e, protocol)
	if err != nil {
		return nil, err
	}
	if err := c.stream(ctx, min(cfg.streamSize, 1<<20), 1); err != nil {
		return nil, errors.Join(fmt.Errorf("warm-up stream: %w", err), c.close())
	}
	if err := c.echo(ctx, &EchoMsg{ID: -1, Name: "warm-up", Tags: []string{"a"}}); err != nil {
		return nil, errors.Join(fmt.Errorf("warm-up echo: %w", err), c.close())
	}
	return c, nil
}

// drive runs the timed part of a scenario with c.
func drive(c client, cfg *config) driven {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+cfg.grace)
	defer cancel()
	var bytesDone atomic.Int64
	streamDurs := make([][]time.Duration, cfg.streams)
	unaryLats := make([][]time.Duration, cfg.callers)
	okStarts := make([][]time.Duration, cfg.streams+cfg.callers) // with a timeline
	var unaryEnd atomic.Int64                                    // ns after start when the last caller stopped
	var seq atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	errs := errorLog{start: start, timeline: cfg.timeline}
	deadline := start.Add(cfg.duration)
	ok := func(i int, began time.Time) {
		if cfg.timeline {
			okStarts[i] = append(okStarts[i], began.Sub(start))
		}
	}
	for i := range cfg.streams {
		wg.Go(func() {
			var durs []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				off := rand.Int64N(chunk)
				t := time.Now()
				if err := c.stream(ctx, cfg.streamSize, off); err != nil {
					errs.add(fmt.Sprintf("stream (off %d)", off), t, err)
					time.Sleep(10 * time.Millisecond) // no spinning on a broken gateway
					continue
				}
				durs = append(durs, time.Since(t))
				ok(i, t)
				bytesDone.Add(cfg.streamSize)
			}
			streamDurs[i] = durs
		})
	}
	for i := range cfg.callers {
		wg.Go(func() {
			lats := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req := &EchoMsg{ID: seq.Add(1), Name: "reports/2026/q3-summary.pdf", Tags: []string{"finance", "quarterly"}, Size: 1048576, Owner: "alice"}
				t := time.Now()
				if err := c.echo(ctx, req); err != nil {
					errs.add(fmt.Sprintf("echo %d", req.ID), t, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				lats = append(lats, time.Since(t))
				ok(cfg.streams+i, t)
			}
			unaryLats[i] = lats
			end := int64(time.Since(start))
			for {
				cur := unaryEnd.Load()
				if end <= cur || unaryEnd.CompareAndSwap(cur, end) {
					break
				}
			}
		})
	}
	wg.Wait()
	d := driven{
		Elapsed: time.Since(start), StreamBytes: bytesDone.Load(),
		StreamDurs: slices.Concat(streamDurs...), UnaryLats: slices.Concat(unaryLats...),
		UnaryEnd: time.Duration(unaryEnd.Load()), Errors: errs.n.Load(), Silent: errs.silent.Load(), ErrorSamples: errs.samples,
	}
	if cfg.timeline {
		d.StartUnix, d.OKStarts, d.Failures = start.UnixNano(), slices.Concat(okStarts...), errs.failures
	}
	if peak, err := benchkit.VmHWM(); err == nil {
		d.PeakRSSMiB = peak
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// percentile of sorted durations by nearest rank, p in (0, 100]; 0 if
// there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// resetPeakRSS returns freed memory to the OS and resets the process's
// peak RSS (VmHWM) to its current RSS (Linux 4.0+), so that each scenario
// reports a peak of its own. Where that fails the peak is the process's
// since it started.
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
