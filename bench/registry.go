package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// A contender is one measured row. Each file registers its rows from an init
// function, so a new family of rows (gatewayrows.go, say) is one new file:
//
//	func init() {
//		register(contender{name: "gateway/grpc/unix", unit: "GiB/s", order: 700, run: ...})
//		registerRatio(ratio{name: "gateway/grpc-go unix", num: "gateway/grpc/unix", den: "grpc/unix/1MiB", target: atLeast(0.9)})
//	}
//
// Every round runs every selected contender once, in order, so the
// contenders of a ratio are measured minutes apart at most and the rounds
// interleave them (A B C ... A B C ...).
type contender struct {
	name  string
	unit  string
	order int  // position in a round: lower first, ties in registration order
	heavy bool // skipped by -quick (the 10 GiB peak-RSS row)
	// target, if set, is printed beside the row and checked.
	target *target
	// run measures once and returns the row's value. It sets up and tears
	// down whatever it needs (connections, servers); only the measured part
	// is timed. It may record side metrics with r.record.
	run func(r *round) (float64, error)
}

// A ratio is num's value divided by den's, computed per round (both measured
// in that round), then summarised over the rounds like a row.
type ratio struct {
	name     string
	num, den string
	target   *target
}

// target is a threshold a row or ratio should meet.
type target struct {
	op string // ">=", "<=", "<"
	v  float64
}

func atLeast(v float64) *target  { return &target{">=", v} }
func atMost(v float64) *target   { return &target{"<=", v} }
func lessThan(v float64) *target { return &target{"<", v} }

func (t *target) String() string { return fmt.Sprintf("%s %g", t.op, t.v) }

func (t *target) met(v float64) bool {
	switch t.op {
	case ">=":
		return v >= t.v
	case "<=":
		return v <= t.v
	case "<":
		return v < t.v
	}
	return false
}

var (
	contenders []contender
	ratios     []ratio
	// rowTargets are targets of side metrics (recorded with round.record),
	// which have no contender of their own.
	rowTargets = map[string]*target{}
)

func register(c contender) {
	if c.name == "" || c.unit == "" || c.run == nil {
		panic("bench: contender needs a name, a unit and a run function")
	}
	for _, o := range contenders {
		if o.name == c.name {
			panic("bench: contender " + c.name + " registered twice")
		}
	}
	contenders = append(contenders, c)
	if c.target != nil {
		rowTargets[c.name] = c.target
	}
}

func registerRatio(r ratio) { ratios = append(ratios, r) }

// registerTarget sets the target of a side metric ("native/unix cpu").
func registerTarget(row string, t *target) { rowTargets[row] = t }

// ordered returns the contenders in round order.
func ordered() []contender {
	cs := slices.Clone(contenders)
	slices.SortStableFunc(cs, func(a, b contender) int { return a.order - b.order })
	return cs
}

// round is what a contender's run gets: the settings, and a place for side
// metrics.
type round struct {
	index  int
	cfg    *config
	name   string // the contender being run
	extras []sample
	// childCPU is CPU time used by child processes the run started (the
	// peak-RSS row), so the contention probe does not count it as foreign.
	childCPU time.Duration
}

type sample struct {
	name, unit string
	v          float64
}

// record adds a side metric of the running contender; its row is named
// "<contender> <suffix>".
func (r *round) record(suffix, unit string, v float64) {
	r.extras = append(r.extras, sample{r.name + " " + suffix, unit, v})
}

// transfer measures a bulk transfer: seg(n) must move n bytes end to end.
// After one untimed warm-up segment it runs segments until at least
// cfg.minBytes have moved and cfg.minTime has passed, and returns GiB/s. It
// records the process's CPU time (user+sys, both ends live in this process)
// per GiB and the heap allocations per MiB moved.
func (r *round) transfer(seg func(n int64) error) (float64, error) {
	segN := r.cfg.segment()
	if err := seg(min(segN, 64<<20)); err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	cpu0, allocs0 := cpuTime(), heapAllocs()
	t0 := time.Now()
	var total int64
	for total < r.cfg.minBytes || time.Since(t0) < r.cfg.minTime {
		if err := seg(segN); err != nil {
			return 0, err
		}
		total += segN
	}
	el := time.Since(t0)
	cpu, allocs := cpuTime()-cpu0, heapAllocs()-allocs0
	gib := float64(total) / (1 << 30)
	r.record("cpu", "CPU-s/GiB", cpu.Seconds()/gib)
	r.record("allocs", "allocs/MiB", float64(allocs)/(gib*1024))
	return gib / el.Seconds(), nil
}

// cpuTime is the user+system CPU time of the whole process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapAllocs is the number of heap objects allocated so far. It uses
// runtime.ReadMemStats (a short stop-the-world) because the runtime/metrics
// counter is only updated as per-P caches refill, too coarse for "near zero
// allocations per MiB".
func heapAllocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// series is one output row: a contender, a side metric or a ratio, with one
// value per round (NaN where it was not measured).
type series struct {
	name, unit string
	ratio      bool
	target     *target
	values     []float64
}

func (s *series) measured() []float64 {
	var v []float64
	for _, x := range s.values {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	return v
}

// results collects the series in the order they first appear.
type results struct {
	rounds int
	order  []*series
	byName map[string]*series
}

func newResults(rounds int) *results {
	return &results{rounds: rounds, byName: map[string]*series{}}
}

func (rs *results) add(round int, name, unit string, v float64) {
	s := rs.byName[name]
	if s == nil {
		s = &series{name: name, unit: unit, target: rowTargets[name], values: make([]float64, rs.rounds)}
		for i := range s.values {
			s.values[i] = math.NaN()
		}
		rs.byName[name] = s
		rs.order = append(rs.order, s)
	}
	s.values[round] = v
}

// addRatios computes every declared ratio whose rows were measured.
func (rs *results) addRatios() {
	for _, r := range ratios {
		num, den := rs.byName[r.num], rs.byName[r.den]
		if num == nil || den == nil || num.ratio || den.ratio {
			continue
		}
		s := &series{name: r.name, unit: "x", ratio: true, target: r.target, values: make([]float64, rs.rounds)}
		for i := range s.values {
			s.values[i] = num.values[i] / den.values[i] // NaN if either is
		}
		rs.byName[r.name] = s
		rs.order = append(rs.order, s)
	}
}
