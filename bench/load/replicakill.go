package main

// The replicas-kill scenarios: the replicas scenario, with one replica's
// process killed (SIGKILL) a quarter of the way through and started again
// on the same address at half way. What the issue asks of a gateway in
// front of replicas, checked call by call:
//
//   - calls in flight on the killed replica, and calls started between the
//     kill and the moment the gateway ejects it, may fail, but loudly: a
//     gRPC status, an HTTP error status, or a REST body the HTTP client
//     finds cut (what makes curl exit non-zero); never a short or wrong
//     answer under a success (a silentError);
//   - calls started after the ejection never fail: they go to the other
//     replicas, and to the killed one again once the gateway has
//     readmitted it.
//
// The moment of the ejection is the gateway's own: ReplicaStatus.Remote
// .Since of the killed replica, taken when its supervisor marked it down,
// just before the set stopped choosing it; calls are placed by when the
// client began them (clocks of one machine). The load polls the set
// every millisecond to learn it.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/framegate/framegate/gateway"
)

// killReport is what happened around the killed replica; times are
// seconds after the start of the timed part.
type killReport struct {
	Replica  string  `json:"replica"`
	KillS    float64 `json:"kill_s"`
	EjectMs  float64 `json:"eject_ms"` // after the kill, when the gateway marked it down
	RestartS float64 `json:"restart_s"`
	// ReadmitS is when the gateway took it back (its next reconnect
	// attempt after the restart); 0 if not before the end.
	ReadmitS float64 `json:"readmit_s,omitempty"`
	// Calls by when they began: before the kill, between the kill and the
	// ejection, after the ejection.
	BeforeKill  phaseCalls `json:"before_kill"`
	KillToEject phaseCalls `json:"kill_to_eject"`
	AfterEject  phaseCalls `json:"after_eject"`
	// Expected is the failed calls that were in flight at the kill or
	// began before the ejection, and failed loudly: the scenario's errors
	// are the others.
	Expected        int64    `json:"expected_failures"`
	ExpectedSamples []string `json:"expected_failure_samples,omitempty"`
	// Spread is the calls each replica took (the gateway's count), phase
	// by phase, in the order of Replicas.
	Replicas []string      `json:"replicas"`
	Spread   []phaseSpread `json:"spread"`
}

// phaseCalls counts the calls that began in a phase.
type phaseCalls struct {
	OK           int64 `json:"ok"`
	FailedLoud   int64 `json:"failed_loud"`
	FailedSilent int64 `json:"failed_silent"` // must be 0 in every phase
}

func (p phaseCalls) String() string {
	return fmt.Sprintf("%d ok, %d failed loudly, %d silently", p.OK, p.FailedLoud, p.FailedSilent)
}

// phaseSpread is the calls per replica (in the order of ReplicaCalls) in
// one phase.
type phaseSpread struct {
	Phase string  `json:"phase"`
	Calls []int64 `json:"calls"`
}

// killRun kills and restarts a replica while a scenario runs.
type killRun struct {
	e        *env
	victim   int // in e.rprocs
	name     string
	duration time.Duration
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	// Written by run, read once done is closed:
	killAt, ejectAt, restartAt, readmitAt time.Time
	snaps                                 map[string][]int64 // calls per replica at "start", "kill", "eject", "readmit", "end"
	err                                   error
}

// startKill starts killing a replica of e at a quarter of duration from
// now; finish stops it.
func startKill(e *env, duration time.Duration) *killRun {
	const victim = 1
	k := &killRun{e: e, victim: victim, name: "tcp://" + e.rprocs[victim].addr, duration: duration,
		stop: make(chan struct{}), done: make(chan struct{}), snaps: map[string][]int64{"start": e.replicaCalls()}}
	go k.run()
	return k
}

// run kills the victim at a quarter of the duration, learns when the gateway
// ejects it, restarts it at half (or at the end if that comes first), and
// learns when the gateway readmits it.
func (k *killRun) run() {
	defer close(k.done)
	start := time.Now()
	if !k.sleepUntil(start.Add(k.duration / 4)) {
		k.err = errors.New("the scenario ended before the kill")
		return
	}
	k.snaps["kill"] = k.e.replicaCalls()
	k.killAt = time.Now()
	p := k.e.rprocs[k.victim]
	if err := p.kill(); err != nil {
		k.err = err
		return
	}
	for k.ejectAt.IsZero() {
		if st, ok := k.status(); ok && !st.Serving {
			k.ejectAt = st.Remote.Since
			k.snaps["eject"] = k.e.replicaCalls()
		} else if !k.sleepUntil(time.Now().Add(time.Millisecond)) {
			break
		}
	}
	k.sleepUntil(start.Add(k.duration / 2))
	k.restartAt = time.Now()
	np, err := startBackendApart(p.addr)
	if err != nil {
		k.err = fmt.Errorf("restarting replica %s: %w", k.name, err)
		return
	}
	k.e.rprocs[k.victim] = np
	if k.ejectAt.IsZero() {
		k.err = fmt.Errorf("the gateway did not eject replica %s within the scenario", k.name)
		return
	}
	for {
		if st, ok := k.status(); ok && st.Serving {
			k.readmitAt = st.Remote.Since
			k.snaps["readmit"] = k.e.replicaCalls()
			return
		}
		if !k.sleepUntil(time.Now().Add(5 * time.Millisecond)) {
			return
		}
	}
}

// status is the victim's ReplicaStatus.
func (k *killRun) status() (gateway.ReplicaStatus, bool) {
	for _, s := range k.e.rs.Replicas() {
		if s.Name == k.name {
			return s, true
		}
	}
	return gateway.ReplicaStatus{}, false
}

// sleepUntil sleeps until t, or until finish; it reports whether t came.
func (k *killRun) sleepUntil(t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-k.stop:
		return false
	}
}

// halt stops the kill run (a victim killed is restarted first) and waits
// for it.
func (k *killRun) halt() {
	k.stopOnce.Do(func() { close(k.stop) })
	<-k.done
}

// finish stops the kill run once the scenario's calls have ended, and
// makes its report from what the clients measured (d, with a timeline).
// It fails if the kill could not be done.
func (k *killRun) finish(d *driven) (*killReport, error) {
	k.halt()
	k.snaps["end"] = k.e.replicaCalls()
	if k.err != nil {
		return nil, k.err
	}
	var names []string
	for _, st := range k.e.rs.Replicas() {
		names = append(names, st.Name)
	}
	return k.report(d, names), nil
}

// report is the killReport of a finished run: the calls of d placed by
// when they began; d's errors lose the expected failures.
func (k *killRun) report(d *driven, replicas []string) *killReport {
	base := time.Unix(0, d.StartUnix)
	at := func(t time.Time) time.Duration { return t.Sub(base) }
	kill, eject := at(k.killAt), at(k.ejectAt)
	r := &killReport{Replica: k.name, Replicas: replicas, KillS: kill.Seconds(), EjectMs: ms(k.ejectAt.Sub(k.killAt)), RestartS: at(k.restartAt).Seconds()}
	if !k.readmitAt.IsZero() {
		r.ReadmitS = at(k.readmitAt).Seconds()
	}
	phase := func(start time.Duration) *phaseCalls {
		switch {
		case start < kill:
			return &r.BeforeKill
		case start < eject:
			return &r.KillToEject
		}
		return &r.AfterEject
	}
	for _, s := range d.OKStarts {
		phase(s).OK++
	}
	var unexpected []string
	for _, f := range d.Failures {
		p := phase(f.Start)
		if f.Silent {
			p.FailedSilent++
		} else {
			p.FailedLoud++
		}
		if !f.Silent && f.Start < eject && f.End >= kill {
			r.Expected++
			if len(r.ExpectedSamples) < 5 {
				r.ExpectedSamples = append(r.ExpectedSamples, f.Err)
			}
		} else if len(unexpected) < 5 {
			unexpected = append(unexpected, fmt.Sprintf("began %.3fs after the start (kill %.3fs, ejection %.3fs): %s", f.Start.Seconds(), kill.Seconds(), eject.Seconds(), f.Err))
		}
	}
	d.Errors -= r.Expected
	d.ErrorSamples = unexpected
	delta := func(from, to string) []int64 {
		a, b := k.snaps[from], k.snaps[to]
		if len(a) != len(b) {
			return nil
		}
		out := make([]int64, len(a))
		for i := range a {
			out[i] = b[i] - a[i]
		}
		return out
	}
	after := "end"
	if k.snaps["readmit"] != nil {
		after = "readmit"
	}
	r.Spread = []phaseSpread{{"before the kill", delta("start", "kill")}, {"kill to ejection", delta("kill", "eject")}, {"ejected", delta("eject", after)}}
	if after == "readmit" {
		r.Spread = append(r.Spread, phaseSpread{"readmitted", delta("readmit", "end")})
	}
	return r
}

// summary is the report in a few lines, for the table.
func (r *killReport) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "killed %s at %.2fs, ejected %.1fms later, restarted at %.2fs, ", r.Replica, r.KillS, r.EjectMs, r.RestartS)
	if r.ReadmitS > 0 {
		fmt.Fprintf(&b, "readmitted at %.2fs\n", r.ReadmitS)
	} else {
		b.WriteString("not readmitted before the end\n")
	}
	fmt.Fprintf(&b, "  calls begun before the kill: %v\n  between kill and ejection:   %v\n  after the ejection:          %v\n", r.BeforeKill, r.KillToEject, r.AfterEject)
	fmt.Fprintf(&b, "  expected failures (in flight at the kill or begun before the ejection, all loud): %d\n", r.Expected)
	var sp []string
	for _, p := range r.Spread {
		sp = append(sp, fmt.Sprintf("%s %v", p.Phase, p.Calls))
	}
	fmt.Fprintf(&b, "  calls per replica (the killed one is #%d): %s", slices.Index(r.Replicas, r.Replica)+1, strings.Join(sp, ", "))
	return b.String()
}
