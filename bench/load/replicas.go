package main

// The replicas backend: three native servers of the load's backend, each on
// a loopback TCP listener, behind one gateway.ReplicaSet, as gw serve
// -backend tcp://a,tcp://b,tcp://c reaches them. The report gives the
// calls each replica took: the spread of the balancing (power of two
// choices on calls in progress).

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

// replicaCount is how many replicas the replicas backend runs.
const replicaCount = 3

// replicaServer is one replica: a native server on a listener.
type replicaServer struct {
	srv    *native.Server
	addr   string
	served chan error
}

func (r *replicaServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if serr := <-r.served; serr != nil && !errors.Is(serr, native.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("replica %s: serve: %w", r.addr, serr))
	}
	return err
}

// startReplicas starts the replicas and a gateway over them.
func (e *env) startReplicas(ctx context.Context) error {
	var reps []gateway.Replica
	for range replicaCount {
		srv, err := newBackend()
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		r := &replicaServer{srv: srv, addr: l.Addr().String(), served: make(chan error, 1)}
		go func() { r.served <- srv.Serve(l) }()
		e.rsrvs = append(e.rsrvs, r)
		reps = append(reps, gateway.Replica{Name: "tcp://" + r.addr, Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", r.addr)
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
