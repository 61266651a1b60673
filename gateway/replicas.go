package gateway

// Replicas: one backend served by several processes. A ReplicaSet is a
// Backend whose replicas are RemoteBackends, each with its own pool and
// supervisor: a replica that cannot be reached or described is down, gets
// no calls, and is retried with backoff; calls in flight on a replica that
// dies fail with UNAVAILABLE (a cut stream is an error, never a short
// success). Each call goes to the replica with the fewest calls in
// progress (least outstanding; see balancer for the measurement); a call
// refused by a replica seen down before anything of it was sent goes to
// another.
//
// The replicas may be a fixed list, or re-resolved periodically (Resolve:
// the addresses of a DNS name, as a Kubernetes headless Service gives):
// new addresses become replicas, vanished ones are closed once their calls
// end.
//
// Schemas during a rolling upgrade: the set serves one schema at a time,
// the one most of its up replicas describe (on a tie, the one served
// already), and calls go only to the up replicas that describe exactly it.
// The others wait, up but without calls, until their schema is the most
// described: as new replicas replace old ones, the gateway switches to the
// new schema when they are the majority, and from then on calls go to them
// only. The switch is a mount like any other: one that would renumber or
// retype a served field is refused (schemachange.go), and the set keeps
// the old schema and its replicas.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framegate/framegate/native"
)

// Replica is one process of a backend: a name (its address) and how to
// reach it.
type Replica struct {
	Name string
	Dial DialFunc
}

// ReplicaOptions configure a ReplicaSet.
type ReplicaOptions struct {
	// Name names the backend in logs and errors.
	Name string
	// Remote configures each replica's RemoteBackend; its Name is the
	// replica's.
	Remote RemoteOptions
	// Resolve, if set, returns the replicas as they are now: it is called
	// every ResolveInterval, and its answer replaces the set's replicas
	// (a failure keeps them).
	Resolve func(ctx context.Context) ([]Replica, error)
	// ResolveInterval is how often Resolve is called (default 10s).
	ResolveInterval time.Duration
	// Logger receives the set's events. The default discards them.
	Logger *slog.Logger
}

// DefaultResolveInterval is how often a ReplicaSet resolves its replicas.
const DefaultResolveInterval = 10 * time.Second

// ReplicaSet is a backend served by several replicas (see the file
// comment). Give it to New or to a Router.
type ReplicaSet struct {
	o ReplicaOptions

	mu         sync.Mutex
	owner      backendOwner
	replicas   []*replica     // sorted by name
	served     []byte         // JSON of the schema served; nil: none yet
	servedS    *native.Schema // the schema served
	servedUp   bool           // what the owner was told last (healthSet)
	healthSet  bool
	supervised bool

	eligible atomic.Pointer[[]*replica] // up, with the served schema
	balance  balancer                   // how pick chooses (a knob for the benchmark)
	rr       atomic.Uint64              // roundRobin's counter

	stopCh   chan struct{}
	stopOnce sync.Once
	loops    sync.WaitGroup
	ctx      context.Context // cancelled by stop
	cancel   context.CancelFunc
}

// replica is one replica of a set; it is its RemoteBackend's owner.
type replica struct {
	set      *ReplicaSet
	name     string
	rb       *RemoteBackend
	inflight atomic.Int64
	calls    atomic.Int64 // made on it, for the spread
	// set.mu:
	up     bool
	schema *native.Schema
	sJSON  []byte
}

// NewReplicaSet returns a backend served by replicas (more come from
// o.Resolve, if set).
func NewReplicaSet(replicas []Replica, o ReplicaOptions) *ReplicaSet {
	if o.ResolveInterval <= 0 {
		o.ResolveInterval = DefaultResolveInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "replicas"
	}
	s := &ReplicaSet{o: o, stopCh: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.eligible.Store(&[]*replica{})
	for _, r := range replicas {
		if !slices.ContainsFunc(s.replicas, func(x *replica) bool { return x.name == r.Name }) {
			s.replicas = append(s.replicas, s.newReplica(r))
		}
	}
	slices.SortFunc(s.replicas, func(a, b *replica) int { return cmp.Compare(a.name, b.name) })
	return s
}

func (s *ReplicaSet) newReplica(r Replica) *replica {
	o := s.o.Remote
	o.Name = r.Name
	if o.Logger == nil {
		o.Logger = s.o.Logger
	}
	return &replica{set: s, name: r.Name, rb: NewRemoteBackend(r.Dial, o)}
}

// Call makes the call on a replica (see the file comment).
func (s *ReplicaSet) Call(ctx context.Context, method string, req, resp any, opts ...native.CallOption) error {
	var tried []*replica
	for {
		rp := s.pick(tried)
		if rp == nil {
			return s.unavailable(tried)
		}
		rp.inflight.Add(1)
		rp.calls.Add(1)
		err := rp.rb.Call(ctx, method, req, resp, opts...)
		rp.inflight.Add(-1)
		if err == nil || !notSent(err) {
			return err
		}
		tried = append(tried, rp)
	}
}

// balancer is how a ReplicaSet chooses the replica of a call. The default
// is leastOutstanding. BenchmarkReplicaBalance (three replicas serving 4
// calls at once each, callers back to back; medians of 10 interleaved
// rounds on 2 shared cores) measured it ahead of power of two choices on
// every median of calls/s, level on p99 within the spread: one replica 5x
// slower, 24 callers: 5.46k calls/s (4.49-6.15k) against 5.04k
// (3.38-5.86k), p99 17.7 ms against 18.9, 11.7% of the calls on the slow
// replica against 12.5%; 6 callers: 3.10k against 2.81k, 11.3% against
// 15.3%; equal replicas: 7.66k against 7.41k, p99 6.2 against 7.5 ms.
// Round robin, blind to the slow replica, made 2.08k calls/s with a p99 of
// 41 ms. The calls in progress compared are this set's own, read as the
// call is placed: the herding that power of two choices avoids (many
// balancers acting on one stale view) does not arise, and a scan of a few
// replicas costs nothing beside a call. The knob stays unexported: no
// measured case favours another policy.
type balancer int

const (
	// leastOutstanding: the replica with the fewest calls in progress,
	// scanning all (ties to the first from a random start).
	leastOutstanding balancer = iota
	// powerOfTwo: of two replicas drawn at random, the one with fewer
	// calls in progress.
	powerOfTwo
	// roundRobin: each replica in turn, whatever its calls in progress.
	roundRobin
)

// pick returns an eligible replica not in tried, chosen by s.balance; nil
// if none is left.
func (s *ReplicaSet) pick(tried []*replica) *replica {
	all := *s.eligible.Load()
	cands := all
	if len(tried) > 0 {
		cands = make([]*replica, 0, len(all))
		for _, r := range all {
			if !slices.Contains(tried, r) {
				cands = append(cands, r)
			}
		}
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	switch s.balance {
	case powerOfTwo:
		i := rand.IntN(len(cands))
		j := rand.IntN(len(cands) - 1)
		if j >= i {
			j++
		}
		if cands[j].inflight.Load() < cands[i].inflight.Load() {
			return cands[j]
		}
		return cands[i]
	case roundRobin:
		return cands[(s.rr.Add(1)-1)%uint64(len(cands))]
	}
	// leastOutstanding
	start := rand.IntN(len(cands))
	best := cands[start]
	bestN := best.inflight.Load()
	for k := 1; k < len(cands); k++ {
		r := cands[(start+k)%len(cands)]
		if n := r.inflight.Load(); n < bestN {
			best, bestN = r, n
		}
	}
	return best
}

// unavailable is the error of a call no replica could take.
func (s *ReplicaSet) unavailable(tried []*replica) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var why []string
	for _, r := range s.replicas {
		st := r.rb.Status()
		switch {
		case slices.Contains(tried, r):
			why = append(why, r.name+": went down")
		case !st.Up && st.Err != nil:
			why = append(why, r.name+": "+errorMessage(st.Err))
		case !st.Up:
			why = append(why, r.name+": down")
		default:
			why = append(why, r.name+": serves another schema")
		}
	}
	if len(why) == 0 {
		why = append(why, "no replica")
	}
	return native.Errorf(native.CodeUnavailable, "backend %s unavailable: no replica takes calls (%s)", s.o.Name, strings.Join(why, "; "))
}

// Schema describes the backend: the schema it serves, or, before it is
// supervised, the first replica's that answers.
func (s *ReplicaSet) Schema(ctx context.Context) (*native.Schema, error) {
	s.mu.Lock()
	if sc := s.servedS; sc != nil {
		s.mu.Unlock()
		return sc, nil
	}
	rs := slices.Clone(s.replicas)
	s.mu.Unlock()
	var errs []error
	for _, r := range rs {
		sc, err := r.rb.Schema(ctx)
		if err == nil {
			return sc, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// ReplicaStatus is one replica as Replicas reports it.
type ReplicaStatus struct {
	Name string
	// Up: reachable and described. Serving: up, with the schema the set
	// serves, so it takes calls.
	Up, Serving bool
	// InFlight is the calls in progress on it now, Calls those made on it
	// so far (a call refused before it was sent, and made again on another
	// replica, counts on both).
	InFlight, Calls int64
	Remote          RemoteStatus
	Pool            native.PoolStats
}

// Replicas returns the state of each replica, by name.
func (s *ReplicaSet) Replicas() []ReplicaStatus {
	s.mu.Lock()
	out := make([]ReplicaStatus, len(s.replicas))
	rs := slices.Clone(s.replicas)
	for i, r := range rs {
		out[i] = ReplicaStatus{Name: r.name, Up: r.up, Serving: r.up && s.served != nil && bytes.Equal(r.sJSON, s.served)}
	}
	s.mu.Unlock()
	for i, r := range rs {
		out[i].InFlight, out[i].Calls, out[i].Remote, out[i].Pool = r.inflight.Load(), r.calls.Load(), r.rb.Status(), r.rb.PoolStats()
	}
	return out
}

// supervise starts every replica's supervision, in parallel, each within
// ctx for its first connection, then the resolver if any (New).
func (s *ReplicaSet) supervise(ctx context.Context, owner backendOwner) error {
	s.mu.Lock()
	if s.supervised {
		s.mu.Unlock()
		return errors.New("gateway: a ReplicaSet serves one gateway, once")
	}
	s.supervised, s.owner = true, owner
	rs := slices.Clone(s.replicas)
	s.mu.Unlock()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { errs[i] = r.rb.supervise(ctx, r) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.stop()
		return err
	}
	s.mu.Lock()
	err := s.reconcileLocked(ctx)
	s.mu.Unlock()
	if err != nil {
		s.stop()
		return err
	}
	if s.o.Resolve != nil {
		s.loops.Go(s.resolveLoop)
	}
	return nil
}

// stop ends the supervision of every replica and the resolver.
func (s *ReplicaSet) stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		close(s.stopCh)
	})
	s.loops.Wait()
	s.mu.Lock()
	rs := slices.Clone(s.replicas)
	s.mu.Unlock()
	for _, r := range rs {
		r.rb.stop()
	}
}

// Close stops the supervision and closes every replica's connections.
func (s *ReplicaSet) Close() error {
	s.stop()
	s.mu.Lock()
	rs := slices.Clone(s.replicas)
	s.mu.Unlock()
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.rb.Close())
	}
	return errors.Join(errs...)
}

// resolveLoop replaces the replicas with Resolve's answer every
// ResolveInterval, until stop.
func (s *ReplicaSet) resolveLoop() {
	t := time.NewTicker(s.o.ResolveInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCh:
			return
		case <-t.C:
		}
		s.resolve()
	}
}

// resolve resolves the replicas once and applies the answer: new ones are
// supervised, vanished ones closed once their calls end.
func (s *ReplicaSet) resolve() {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.ResolveInterval)
	defer cancel()
	now, err := s.o.Resolve(ctx)
	if err != nil {
		s.o.Logger.Warn("gateway: cannot resolve the replicas; keeping them", "backend", s.o.Name, "err", err)
		return
	}
	if len(now) == 0 {
		s.o.Logger.Warn("gateway: the replicas resolved to nothing; keeping them", "backend", s.o.Name)
		return
	}
	want := map[string]Replica{}
	for _, r := range now {
		want[r.Name] = r
	}
	s.mu.Lock()
	var keep, gone []*replica
	for _, r := range s.replicas {
		if _, ok := want[r.name]; ok {
			keep = append(keep, r)
			delete(want, r.name)
		} else {
			gone = append(gone, r)
		}
	}
	var added []*replica
	for _, name := range slices.Sorted(maps.Keys(want)) {
		added = append(added, s.newReplica(want[name]))
	}
	s.replicas = append(keep, added...)
	slices.SortFunc(s.replicas, func(a, b *replica) int { return cmp.Compare(a.name, b.name) })
	for _, r := range gone {
		r.up = false
	}
	if len(gone) > 0 {
		s.reconcileLocked(s.ctx)
	}
	s.mu.Unlock()
	for _, r := range gone {
		s.o.Logger.Info("gateway: replica gone from the resolved addresses", "backend", s.o.Name, "replica", r.name)
		go r.rb.Close() // its calls in progress end first
	}
	for _, r := range added {
		s.o.Logger.Info("gateway: new replica", "backend", s.o.Name, "replica", r.name)
		if err := r.rb.supervise(s.ctx, r); err != nil {
			s.o.Logger.Error("gateway: cannot serve a new replica", "backend", s.o.Name, "replica", r.name, "err", err)
		}
	}
}

// mount records the replica's schema (backendOwner) and has the set
// choose what it serves.
func (r *replica) mount(ctx context.Context, sc *native.Schema) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	s := r.set
	s.mu.Lock()
	defer s.mu.Unlock()
	r.schema, r.sJSON = sc, b
	return s.reconcileLocked(ctx)
}

// setServing records whether the replica is up (backendOwner).
func (r *replica) setServing(ok bool) {
	s := r.set
	s.mu.Lock()
	defer s.mu.Unlock()
	r.up = ok
	s.reconcileLocked(s.ctx)
}

// reconcileLocked chooses the schema to serve (the one most up replicas
// describe; on a tie the one served), mounts it on the owner if it
// changed, and makes the up replicas that describe it the ones taking
// calls; s.mu is held. It returns the mount's error: the set then keeps
// serving what it did.
func (s *ReplicaSet) reconcileLocked(ctx context.Context) error {
	if s.owner == nil {
		return nil
	}
	count := map[string]int{}
	var best *replica // one describing the schema most up replicas describe
	for _, r := range s.replicas {
		if !r.up || r.sJSON == nil {
			continue
		}
		k := string(r.sJSON)
		count[k]++
		switch {
		case best == nil, count[k] > count[string(best.sJSON)]:
			best = r
		case count[k] == count[string(best.sJSON)] && bytes.Equal(r.sJSON, s.served):
			best = r
		}
	}
	var err error
	switch {
	case best != nil && !bytes.Equal(best.sJSON, s.served):
		if err = s.owner.mount(ctx, best.schema); err == nil {
			if s.served != nil {
				s.o.Logger.Info("gateway: the replicas' schema changed; calls go to the replicas of the new one", "backend", s.o.Name, "replicas", count[string(best.sJSON)])
			}
			s.served, s.servedS = best.sJSON, best.schema
		} else if ctx.Err() == nil {
			s.o.Logger.Error("gateway: cannot serve the schema most replicas describe; keeping the one served", "backend", s.o.Name, "err", err)
		}
	case s.served == nil:
		// Nothing described yet: serve no endpoints until a replica is up.
		empty := &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}
		if err = s.owner.mount(ctx, empty); err == nil {
			s.served, _ = json.Marshal(empty)
			s.servedS = empty
		}
	}
	var eligible []*replica
	for _, r := range s.replicas {
		if r.up && s.served != nil && bytes.Equal(r.sJSON, s.served) {
			eligible = append(eligible, r)
		}
	}
	s.eligible.Store(&eligible)
	if up := len(eligible) > 0; !s.healthSet || up != s.servedUp {
		s.healthSet, s.servedUp = true, up
		s.owner.setServing(up)
	}
	return err
}

var _ io.Closer = (*ReplicaSet)(nil)
