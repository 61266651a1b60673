package main

// The replicas backends: three processes serving the load's backend
// (backendchild.go), each on a loopback TCP listener, behind one
// gateway.ReplicaSet, as gw serve -backend tcp://a,tcp://b,tcp://c reaches
// them. The report gives the calls each replica took: the spread of the
// balancing. "replicas-kill" is the same with one replica killed mid-run
// and restarted (replicakill.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// replicaCount is how many replicas the replicas backends run.
const replicaCount = 3

// startReplicas starts the replicas' processes and a gateway over them.
func (e *env) startReplicas(ctx context.Context) error {
	var reps []gateway.Replica
	for range replicaCount {
		p, err := startBackendApart("127.0.0.1:0")
		if err != nil {
			return err
		}
		e.rprocs = append(e.rprocs, p)
		addr := p.addr
		reps = append(reps, gateway.Replica{Name: "tcp://" + addr, Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, native.NewError(native.CodeUnavailable, err)
			}
			return c, nil
		}})
	}
	e.rs = gateway.NewReplicaSet(reps, gateway.ReplicaOptions{Name: "replicas", Remote: gateway.RemoteOptions{
		PoolSize: max(e.cfg.pool, 1), ClientOptions: []native.Option{native.WithCloseTimeout(2 * time.Second)}}})
	var err error
	if e.g, err = gateway.New(ctx, e.rs); err != nil {
		return err
	}
	for _, st := range e.rs.Replicas() {
		if !st.Serving {
			return fmt.Errorf("replica %s not serving after its first connection: %v", st.Name, st.Remote.Err)
		}
	}
	return nil
}

// replicaCalls is the calls each replica took so far (nil unless the
// backend has replicas).
func (e *env) replicaCalls() []int64 {
	if e.rs == nil {
		return nil
	}
	var out []int64
	for _, st := range e.rs.Replicas() {
		out = append(out, st.Calls)
	}
	return out
}

// replicasServing waits until every replica takes calls (one killed in
// the scenario before may still be waiting for its next reconnect
// attempt), for at most d.
func (e *env) replicasServing(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var down []string
		for _, st := range e.rs.Replicas() {
			if !st.Serving {
				down = append(down, st.Name)
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replicas %q not serving after %v", down, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resetReplicasPeak resets the replicas' peak RSS.
func (e *env) resetReplicasPeak() error {
	var errs []error
	for _, p := range e.rprocs {
		errs = append(errs, p.resetPeak())
	}
	return errors.Join(errs...)
}

// replicasPeak is the largest peak RSS of the replicas' processes, in MiB.
func (e *env) replicasPeak() (float64, error) {
	var peak float64
	for _, p := range e.rprocs {
		mib, err := p.peak()
		if err != nil {
			return 0, err
		}
		peak = max(peak, mib)
	}
	return peak, nil
}
