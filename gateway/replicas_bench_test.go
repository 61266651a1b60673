package gateway

// The balancing policies of a ReplicaSet measured against each other, on
// replicas of unequal speed: each replica serves at most replicaWorkers
// calls at once (more wait for a worker, as on a busy machine), one
// replica takes five times as long per call as the others. Callers make
// calls back to back through ReplicaSet.Call over loopback TCP; the
// benchmark reports calls/s, p50 and p99 latency, and the share of calls
// the slow replica took.
//
//	go test -run '^$' -bench ReplicaBalance -count 5 ./gateway

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// replicaWorkers is how many calls a benchmark replica serves at once.
// Each replica is reached over the default pool, one connection: a native
// server runs a handler that blocks on a goroutine of its own (native's
// inline.go), so one connection carries all the calls a replica serves
// at once. equal/24-callers/p2c made 8.0k calls/s (8.00-8.04k, 3 runs)
// over one connection per replica and 7.7k (7.67-7.80k) over 4; before,
// one connection took about one call per 1-2 ms (2.4k calls/s).
const replicaWorkers = 4

// timedReplica serves Bench.Work: each call holds one of replicaWorkers
// workers for d, and answers which replica it is.
func timedReplica(b *testing.B, name string, d time.Duration) Replica {
	workers := make(chan struct{}, replicaWorkers)
	srv := native.NewServer()
	if err := srv.Register("Bench.Work", func(ctx context.Context, req *struct{}, resp *struct {
		From string `json:"from"`
	}) error {
		select {
		case workers <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		time.Sleep(d)
		<-workers
		resp.From = name
		return nil
	}, native.Safe()); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	b.Cleanup(func() {
		srv.Close()
		<-done
	})
	return Replica{Name: name, Dial: tcpDial(l.Addr().String())}
}

func BenchmarkReplicaBalance(b *testing.B) {
	slow := []time.Duration{time.Millisecond, time.Millisecond, 5 * time.Millisecond}
	equal := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	cases := []struct {
		name    string
		d       []time.Duration
		callers int
	}{
		{"one-5x-slower/24-callers", slow, 24},
		{"one-5x-slower/6-callers", slow, 6},
		{"equal/24-callers", equal, 24},
	}
	policies := []struct {
		name string
		p    balancer
	}{{"p2c", powerOfTwo}, {"least", leastOutstanding}, {"rr", roundRobin}}
	for _, c := range cases {
		for _, pol := range policies {
			b.Run(c.name+"/"+pol.name, func(b *testing.B) {
				var reps []Replica
				for i, d := range c.d {
					reps = append(reps, timedReplica(b, fmt.Sprint(i), d))
				}
				rs := NewReplicaSet(reps, ReplicaOptions{Name: "bench", Remote: RemoteOptions{ProbeInterval: -1}})
				rs.balance = pol.p
				g, err := New(context.Background(), rs)
				if err != nil {
					b.Fatal(err)
				}
				defer g.Close()
				benchBalance(b, rs, c.callers, fmt.Sprint(len(c.d)-1))
			})
		}
	}
}

// benchBalance makes b.N calls on rs from callers goroutines and reports
// calls/s, p50 and p99 latency in ms, and the share of calls slow took
// (in %).
func benchBalance(b *testing.B, rs *ReplicaSet, callers int, slow string) {
	lats := make([][]time.Duration, callers)
	var next, fromSlow atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range callers {
		wg.Go(func() {
			var resp struct {
				From string `json:"from"`
			}
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				if err := rs.Call(context.Background(), "Bench.Work", struct{}{}, &resp); err != nil {
					b.Error(err)
					return
				}
				lats[i] = append(lats[i], time.Since(t))
				if resp.From == slow {
					fromSlow.Add(1)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lats...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	at := func(p float64) float64 { return float64(all[min(int(p*float64(len(all))), len(all)-1)]) / 1e6 }
	b.ReportMetric(float64(len(all))/el.Seconds(), "calls/s")
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(100*float64(fromSlow.Load())/float64(len(all)), "slow-%")
	b.ReportMetric(0, "ns/op")
}
