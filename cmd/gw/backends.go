package main

// The remote backends of gw serve: one per -backend value. A value is one
// process (tcp://, tls://, unix://, exec:), several replicas of one backend
// (a comma-separated list of tcp://, tls:// or unix:// targets), or the
// replicas a DNS name resolves to, resolved again every -resolve-interval
// (dns:///name:port, as a Kubernetes headless Service gives). Several
// values are several backends, each serving its own services, behind one
// gateway.Router.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// remoteEntry is one -backend value.
type remoteEntry struct {
	name string                 // the value, as given
	rb   *gateway.RemoteBackend // one process
	rs   *gateway.ReplicaSet    // or replicas
}

// backend is the entry as a gateway.Backend.
func (e *remoteEntry) backend() gateway.Backend {
	if e.rs != nil {
		return e.rs
	}
	return e.rb
}

// replicaState is one process of an entry, for health and metrics.
type replicaState struct {
	name   string
	up     bool // takes calls
	status gateway.RemoteStatus
	pool   native.PoolStats
}

// replicas returns the state of the entry's processes.
func (e *remoteEntry) replicas() []replicaState {
	if e.rs == nil {
		st := e.rb.Status()
		return []replicaState{{name: e.name, up: st.Up, status: st, pool: e.rb.PoolStats()}}
	}
	var out []replicaState
	for _, r := range e.rs.Replicas() {
		out = append(out, replicaState{name: r.Name, up: r.Serving, status: r.Remote, pool: r.Pool})
	}
	return out
}

// up reports whether a process of the entry takes calls.
func (e *remoteEntry) up() bool {
	for _, r := range e.replicas() {
		if r.up {
			return true
		}
	}
	return false
}

func (e *remoteEntry) close() {
	if e.rs != nil {
		e.rs.Close()
	} else {
		e.rb.Close()
	}
}

func (s *server) startRemote(ctx context.Context, sio *stdio, opts []gateway.Option) error {
	f := &s.f
	if f.poolSize < 1 {
		return fmt.Errorf("-pool-size %d: want at least 1", f.poolSize)
	}
	var named []gateway.NamedBackend
	for _, value := range f.backends {
		e, err := s.remoteEntry(value, sio)
		if err != nil {
			return err
		}
		s.backends = append(s.backends, e)
		named = append(named, gateway.NamedBackend{Name: e.name, Backend: e.backend()})
	}
	backend := named[0].Backend
	if len(named) > 1 {
		r, err := gateway.NewRouter(named, gateway.RouterOptions{Precedence: f.backendPrecedence, Logger: s.log})
		if err != nil {
			return fmt.Errorf("-backend: %w", err)
		}
		backend = r
	}
	ctx, cancel := context.WithTimeout(ctx, gateway.DefaultDialTimeout)
	defer cancel()
	var err error
	if s.g, err = gateway.New(ctx, backend, opts...); err != nil {
		return err
	}
	s.m.registerRemote(s.backends)
	return nil
}

// remoteEntry builds the backend of one -backend value.
func (s *server) remoteEntry(value string, sio *stdio) (*remoteEntry, error) {
	f := &s.f
	remote := gateway.RemoteOptions{
		PoolSize:      f.poolSize,
		ProbeInterval: f.probeInterval,
		MaxBackoff:    f.reconnectMax,
		Logger:        s.log,
		// A hung backend must not hold up a shutdown for long.
		ClientOptions: append(s.tr.nativeOptions(), native.WithLogger(s.log), native.WithCloseTimeout(2*time.Second)),
	}
	if hostPort, ok := strings.CutPrefix(value, "dns:///"); ok {
		return s.dnsReplicas(value, hostPort, remote)
	}
	if !strings.HasPrefix(value, "exec:") && strings.Contains(value, ",") {
		var reps []gateway.Replica
		for _, target := range strings.Split(value, ",") {
			rep, err := s.replica(strings.TrimSpace(target), sio)
			if err != nil {
				return nil, err
			}
			reps = append(reps, rep)
		}
		return &remoteEntry{name: value, rs: gateway.NewReplicaSet(reps, gateway.ReplicaOptions{Name: value, Remote: remote, Logger: s.log})}, nil
	}
	rep, err := s.replica(value, sio)
	if err != nil {
		return nil, err
	}
	remote.Name = rep.Name
	return &remoteEntry{name: rep.Name, rb: gateway.NewRemoteBackend(rep.Dial, remote)}, nil
}

// replica parses one target into a replica.
func (s *server) replica(target string, sio *stdio) (gateway.Replica, error) {
	f := &s.f
	t, err := native.ParseTarget(target)
	if err != nil {
		return gateway.Replica{}, fmt.Errorf("-backend %w", err)
	}
	var cliTLS *tls.Config
	if t.Scheme == "tls" || (t.Scheme == "tcp" && f.nativeTLS) {
		if cliTLS, err = clientTLS(f.backendCA, f.tlsCert, f.tlsKey, t.Host()); err != nil {
			return gateway.Replica{}, err
		}
	}
	dial, err := t.Dialer(native.DialOptions{TLS: cliTLS, Stderr: childStderr(sio)})
	if err != nil {
		return gateway.Replica{}, err
	}
	return gateway.Replica{Name: t.String(), Dial: dial}, nil
}

// dnsReplicas is the backend of dns:///name:port: a replica per address
// the name resolves to (TCP, TLS with -native-tls verified for name),
// resolved again every -resolve-interval.
func (s *server) dnsReplicas(value, hostPort string, remote gateway.RemoteOptions) (*remoteEntry, error) {
	f := &s.f
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("-backend %q: want dns:///name:port", value)
	}
	var cliTLS *tls.Config
	if f.nativeTLS {
		if cliTLS, err = clientTLS(f.backendCA, f.tlsCert, f.tlsKey, host); err != nil {
			return nil, err
		}
	}
	resolve := func(ctx context.Context) ([]gateway.Replica, error) {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		var reps []gateway.Replica
		for _, a := range addrs {
			t := native.Target{Scheme: "tcp", Addr: net.JoinHostPort(a, port)}
			dial, err := t.Dialer(native.DialOptions{TLS: cliTLS})
			if err != nil {
				return nil, err
			}
			reps = append(reps, gateway.Replica{Name: t.String(), Dial: dial})
		}
		return reps, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), gateway.DefaultDialTimeout)
	defer cancel()
	reps, err := resolve(ctx)
	if err != nil {
		// The name may not exist yet (a Service created with the gateway):
		// the set starts empty and resolves again.
		s.log.Warn("cannot resolve a -backend yet; resolving again", "backend", value, "err", err)
	}
	rs := gateway.NewReplicaSet(reps, gateway.ReplicaOptions{Name: value, Remote: remote, Logger: s.log,
		Resolve: resolve, ResolveInterval: f.resolveInterval})
	return &remoteEntry{name: value, rs: rs}, nil
}
