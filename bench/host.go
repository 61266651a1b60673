package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The machine may be shared: hostLoad measures how much CPU other processes
// took while a row ran, so a table measured under contention says so.

// hostBusy is the machine's busy CPU time so far (all CPUs, from /proc/stat).
func hostBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, s := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true // USER_HZ is 100 on Linux
}

// loadProbe measures the share of the machine's CPUs that other processes
// used between its start and foreign().
type loadProbe struct {
	t0         time.Time
	busy0, me0 time.Duration
	ok         bool
}

func startLoadProbe() loadProbe {
	b, ok := hostBusy()
	return loadProbe{t0: time.Now(), busy0: b, me0: cpuTime(), ok: ok}
}

// foreign is the fraction (0-1) of all CPUs other processes kept busy,
// not counting mine (CPU time of our own child processes); 0 when
// /proc/stat is unreadable or the span too short to tell.
func (p loadProbe) foreign(mine time.Duration) float64 {
	b, ok := hostBusy()
	el := time.Since(p.t0)
	if !ok || !p.ok || el < 250*time.Millisecond { // /proc/stat counts 10ms ticks
		return 0
	}
	other := (b - p.busy0) - (cpuTime() - p.me0) - mine
	return min(1, max(0, other.Seconds()/(el.Seconds()*float64(runtime.NumCPU()))))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
