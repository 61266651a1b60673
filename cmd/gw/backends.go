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
	"slices"
	"strings"
	"time"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// remoteEntry is one -backend value.
type remoteEntry struct {
	value string                 // the value, as given
	name  string                 // its name: the value, or the target it parses to
	rb    *gateway.RemoteBackend // one process
	rs    *gateway.ReplicaSet    // or replicas
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

// entries returns the remote backends served now.
func (s *server) entries() []*remoteEntry {
	if p := s.backends.Load(); p != nil {
		return *p
	}
	return nil
}

// startRemote serves the -backend values through a gateway.Router, which
// a reload updates.
func (s *server) startRemote(ctx context.Context, sio *stdio, opts []gateway.Option) error {
	f := &s.f
	entries, err := s.remoteEntries(f, nil, sio)
	if err != nil {
		return err
	}
	s.backends.Store(&entries)
	if s.router, err = gateway.NewRouter(named(entries), gateway.RouterOptions{Precedence: f.backendPrecedence, Logger: s.log}); err != nil {
		return fmt.Errorf("-backend: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, gateway.DefaultDialTimeout)
	defer cancel()
	if s.g, err = gateway.New(ctx, s.router, opts...); err != nil {
		return err
	}
	s.m.registerRemote(s.entries)
	return nil
}

// remoteEntries builds the backends of f's -backend values; an entry of
// keep with the same value is taken as it is (a reload that does not
// change the backend's settings).
func (s *server) remoteEntries(f *serveFlags, keep []*remoteEntry, sio *stdio) ([]*remoteEntry, error) {
	if f.poolSize < 1 {
		return nil, fmt.Errorf("-pool-size %d: want at least 1", f.poolSize)
	}
	var out, built []*remoteEntry
	for _, value := range f.backends {
		if i := slices.IndexFunc(keep, func(e *remoteEntry) bool { return e.value == value }); i >= 0 {
			out = append(out, keep[i])
			continue
		}
		e, err := s.remoteEntry(f, value, sio)
		if err != nil {
			for _, e := range built {
				e.close()
			}
			return nil, err
		}
		e.value = value
		out, built = append(out, e), append(built, e)
	}
	return out, nil
}

// named is the entries as a Router's backends.
func named(entries []*remoteEntry) []gateway.NamedBackend {
	out := make([]gateway.NamedBackend, len(entries))
	for i, e := range entries {
		out[i] = gateway.NamedBackend{Name: e.name, Backend: e.backend()}
	}
	return out
}

// remoteEntry builds the backend of one -backend value of f.
func (s *server) remoteEntry(f *serveFlags, value string, sio *stdio) (*remoteEntry, error) {
	remote := gateway.RemoteOptions{
		PoolSize:      f.poolSize,
		ProbeInterval: f.probeInterval,
		MaxBackoff:    f.reconnectMax,
		Logger:        s.log,
		// A hung backend must not hold up a shutdown for long.
		ClientOptions: append(s.tr.nativeOptions(), native.WithLogger(s.log), native.WithCloseTimeout(2*time.Second)),
	}
	if hostPort, ok := strings.CutPrefix(value, "dns:///"); ok {
		return s.dnsReplicas(f, value, hostPort, remote)
	}
	if !strings.HasPrefix(value, "exec:") && strings.Contains(value, ",") {
		var reps []gateway.Replica
		for _, target := range strings.Split(value, ",") {
			rep, err := replica(f, strings.TrimSpace(target), sio)
			if err != nil {
				return nil, err
			}
			reps = append(reps, rep)
		}
		return &remoteEntry{name: value, rs: gateway.NewReplicaSet(reps, gateway.ReplicaOptions{Name: value, Remote: remote, Logger: s.log})}, nil
	}
	rep, err := replica(f, value, sio)
	if err != nil {
		return nil, err
	}
	remote.Name = rep.Name
	return &remoteEntry{name: rep.Name, rb: gateway.NewRemoteBackend(rep.Dial, remote)}, nil
}

// replica parses one target of f's -backend into a replica.
func replica(f *serveFlags, target string, sio *stdio) (gateway.Replica, error) {
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
func (s *server) dnsReplicas(f *serveFlags, value, hostPort string, remote gateway.RemoteOptions) (*remoteEntry, error) {
	host, port, err := dnsTarget(value, hostPort)
	if err != nil {
		return nil, err
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

// dnsTarget splits the name:port of a -backend dns:///name:port value.
func dnsTarget(value, hostPort string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(hostPort)
	if err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("-backend %q: want dns:///name:port", value)
	}
	return host, port, nil
}

// checkBackend checks a -backend value of f without building its
// backend: its targets parse, and the files their TLS needs load.
func checkBackend(f *serveFlags, value string) error {
	if hostPort, ok := strings.CutPrefix(value, "dns:///"); ok {
		host, _, err := dnsTarget(value, hostPort)
		if err == nil && f.nativeTLS {
			_, err = clientTLS(f.backendCA, f.tlsCert, f.tlsKey, host)
		}
		return err
	}
	targets := []string{value}
	if !strings.HasPrefix(value, "exec:") {
		targets = strings.Split(value, ",")
	}
	for _, t := range targets {
		if _, err := replica(f, strings.TrimSpace(t), &stdio{}); err != nil {
			return err
		}
	}
	return nil
}
