package gateway

// Tests of a backend with replicas (ReplicaSet) on real TCP sockets: the
// spread of calls, a replica killed and restarted under load, a rolling
// change of schema, and replicas that come and go with resolution.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/native"
)

// replicaServers starts n notes servers, each answering with its index.
func replicaServers(t *testing.T, n int) []*stoppable {
	var out []*stoppable
	for i := range n {
		out = append(out, startStoppable(t, func() *native.Server { return notesServer(t, fmt.Sprint(i)) }))
	}
	return out
}

// replicated serves servers as the replicas of one backend; the gateway
// is closed when t ends.
func replicated(t *testing.T, servers []*stoppable) (*ReplicaSet, *Gateway) {
	t.Helper()
	rs := NewReplicaSet(replicasOf(servers), ReplicaOptions{Name: "notes", Remote: fastOptions("")})
	g, err := New(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return rs, g
}

func replicasOf(ss []*stoppable) []Replica {
	var out []Replica
	for _, s := range ss {
		out = append(out, Replica{Name: s.addr, Dial: tcpDial(s.addr)})
	}
	return out
}

// noteFrom calls Notes.Get on c and returns which replica answered.
func noteFrom(ctx context.Context, c native.Caller) (string, error) {
	var out struct {
		Text string `json:"text"`
	}
	if err := c.Call(ctx, "Notes.Get", map[string]string{"text": "x"}, &out); err != nil {
		return "", err
	}
	from, _, _ := strings.Cut(out.Text, ":")
	return from, nil
}

func TestReplicaSetSpreadsCalls(t *testing.T) {
	checkLeaks(t)
	servers := replicaServers(t, 3)
	rs, _ := replicated(t, servers)
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 75 {
				from, err := noteFrom(context.Background(), rs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[from]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("calls per replica: %v", got)
	for i := range 3 {
		if n := got[fmt.Sprint(i)]; n < 30 { // of 600, a fair share being 200
			t.Errorf("replica %d took %d of 600 calls: %v", i, n, got)
		}
	}
}

// A replica killed under load: calls in flight on it may fail, loudly
// (UNAVAILABLE); calls started once the set has seen it down never fail,
// and go to the others; it comes back and takes calls again.
func TestReplicaSetKillUnderLoad(t *testing.T) {
	checkLeaks(t)
	servers := replicaServers(t, 3)
	rs, _ := replicated(t, servers)

	var ejected atomic.Int64 // unix nanos when the set saw replica 1 down
	type result struct {
		start time.Time
		from  string
		err   error
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				from, err := noteFrom(context.Background(), rs)
				mu.Lock()
				results = append(results, result{start, from, err})
				mu.Unlock()
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	servers[1].stop()
	waitFor(t, 5*time.Second, "replica 1 down", func() bool {
		for _, st := range rs.Replicas() {
			if st.Name == servers[1].addr && !st.Serving {
				ejected.Store(time.Now().UnixNano())
				return true
			}
		}
		return false
	})
	time.Sleep(100 * time.Millisecond)
	servers[1].start()
	waitFor(t, 5*time.Second, "replica 1 back", func() bool {
		for _, st := range rs.Replicas() {
			if st.Name == servers[1].addr && st.Serving {
				return true
			}
		}
		return false
	})
	backAt := time.Now()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	ej := time.Unix(0, ejected.Load())
	failed, after, fromBack := 0, 0, 0
	for _, r := range results {
		switch {
		case r.err != nil && native.CodeOf(r.err) != native.CodeUnavailable:
			t.Errorf("a call failed quietly or with the wrong code: %v", r.err)
		case r.err != nil:
			failed++
			if r.start.After(ej) {
				after++
				t.Errorf("a call started %v after the ejection failed: %v", r.start.Sub(ej), r.err)
			}
		case r.start.After(backAt) && r.from == "1":
			fromBack++
		}
	}
	t.Logf("%d calls, %d failed (all before the ejection), %d to the replica after its return", len(results), failed, fromBack)
	if fromBack == 0 {
		t.Error("the replica that came back took no calls")
	}
}

// A rolling upgrade: replicas are replaced one by one by ones describing a
// new endpoint. The set serves the old schema while most replicas describe
// it (calls go to the old ones only), then switches when most describe the
// new one (calls go to the new ones only, and the endpoint is served).
func TestReplicaSetRollingSchema(t *testing.T) {
	checkLeaks(t)
	servers := replicaServers(t, 3)
	upgrade := func(i int) {
		servers[i].stop()
		servers[i].mk = func() *native.Server {
			srv := notesServer(t, fmt.Sprint("new", i))
			if err := srv.Register("Notes.Count", func(req *struct{}, resp *struct {
				N int `json:"n"`
			}) error {
				resp.N = i
				return nil
			}, native.Safe()); err != nil {
				t.Fatal(err)
			}
			return srv
		}
		servers[i].start()
	}
	rs, g := replicated(t, servers)
	serving := func() int {
		n := 0
		for _, st := range rs.Replicas() {
			if st.Serving {
				n++
			}
		}
		return n
	}
	callsGoTo := func(prefix string) {
		t.Helper()
		for range 30 {
			from, err := noteFrom(context.Background(), rs)
			if err != nil || !strings.HasPrefix(from, prefix) || (prefix == "" && strings.HasPrefix(from, "new")) {
				t.Fatalf("a call went to %q (%v), want a replica %q", from, err, prefix)
			}
		}
	}

	upgrade(0)
	waitFor(t, 5*time.Second, "the new replica up, waiting", func() bool { return anyUpNotServing(rs.Replicas()) && serving() == 2 })
	if slicesContain(endpointNamesOf(g), "Notes.Count") {
		t.Error("the new endpoint is served while most replicas describe the old schema")
	}
	callsGoTo("")

	upgrade(1)
	waitFor(t, 5*time.Second, "the switch to the new schema", func() bool { return slicesContain(endpointNamesOf(g), "Notes.Count") })
	callsGoTo("new")
	var n struct {
		N int `json:"n"`
	}
	if err := rs.Call(context.Background(), "Notes.Count", struct{}{}, &n); err != nil {
		t.Errorf("Notes.Count after the switch: %v", err)
	}
	if st := servingStatus(t, g); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after the switch: %v", st)
	}

	upgrade(2)
	waitFor(t, 5*time.Second, "all three on the new schema", func() bool { return serving() == 3 })
}

func anyUpNotServing(sts []ReplicaStatus) bool {
	for _, st := range sts {
		if st.Up && !st.Serving {
			return true
		}
	}
	return false
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Replicas from a resolver: a new address becomes a replica taking calls;
// one gone is closed and takes none; a failed resolution keeps them.
func TestReplicaSetResolve(t *testing.T) {
	checkLeaks(t)
	servers := replicaServers(t, 3)
	var mu sync.Mutex
	current := replicasOf(servers[:2])
	fail := false
	resolved := make(chan struct{}, 100)
	rs := NewReplicaSet(replicasOf(servers[:2]), ReplicaOptions{
		Name: "notes", Remote: fastOptions(""), ResolveInterval: 10 * time.Millisecond,
		Resolve: func(context.Context) ([]Replica, error) {
			mu.Lock()
			defer mu.Unlock()
			defer func() {
				select {
				case resolved <- struct{}{}:
				default:
				}
			}()
			if fail {
				return nil, fmt.Errorf("no such host")
			}
			return current, nil
		},
	})
	g, err := New(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	set := func(reps []Replica, failing bool) {
		mu.Lock()
		current, fail = reps, failing
		mu.Unlock()
		for len(resolved) > 0 {
			<-resolved
		}
		// The first call to Resolve after this may have read the old
		// replicas; the second read the new ones, and its answer is
		// applied before the third begins.
		for range 3 {
			<-resolved
		}
	}
	seen := func() map[string]bool {
		got := map[string]bool{}
		for range 60 {
			from, err := noteFrom(context.Background(), rs)
			if err != nil {
				t.Fatal(err)
			}
			got[from] = true
		}
		return got
	}

	set(replicasOf(servers), false)
	waitFor(t, 5*time.Second, "the third replica serving", func() bool { return countServing(rs) == 3 })
	if got := seen(); !got["2"] {
		t.Errorf("the resolved replica took no calls: %v", got)
	}
	set(replicasOf(servers[1:]), false)
	if n := len(rs.Replicas()); n != 2 {
		t.Errorf("%d replicas after one vanished", n)
	}
	if got := seen(); got["0"] {
		t.Errorf("a vanished replica took calls: %v", got)
	}
	set(nil, true)
	if n := len(rs.Replicas()); n != 2 {
		t.Errorf("%d replicas after a failed resolution, want the 2 kept", n)
	}
}

func countServing(rs *ReplicaSet) int {
	n := 0
	for _, st := range rs.Replicas() {
		if st.Serving {
			n++
		}
	}
	return n
}

// The default balancing: the replica with the fewest calls in progress,
// ties spread, and never one already tried.
func TestReplicaSetPicksLeastOutstanding(t *testing.T) {
	s := NewReplicaSet(nil, ReplicaOptions{})
	rs := []*replica{{name: "a"}, {name: "b"}, {name: "c"}}
	s.eligible.Store(&rs)
	rs[0].inflight.Store(3)
	rs[1].inflight.Store(1)
	rs[2].inflight.Store(2)
	for range 50 {
		if r := s.pick(nil); r != rs[1] {
			t.Fatalf("picked %s, want b (fewest calls in progress)", r.name)
		}
		if r := s.pick([]*replica{rs[1]}); r != rs[2] {
			t.Fatalf("with b tried, picked %s, want c", r.name)
		}
	}
	rs[1].inflight.Store(2)
	got := map[string]int{}
	for range 300 {
		got[s.pick(nil).name]++
	}
	if got["a"] != 0 || got["b"] < 50 || got["c"] < 50 {
		t.Errorf("with b and c tied: %v", got)
	}
	if r := s.pick(rs); r != nil {
		t.Errorf("with all tried, picked %s", r.name)
	}
}
