package main

// Calls whose handlers block, many callers on ONE native connection (the
// Client multiplexes them): a handler that sleeps stands for one that waits
// for I/O (a disk, a database, another service). Such handlers take no CPU,
// so N callers could make N calls per handler time; each row's side metric
// "ideal" is that figure, callers / the handler's mean time as measured in
// the handler (time.Sleep oversleeps), and the ratio "blocking ... /ideal"
// is how much of it one connection delivers. The instant echo on the same
// connection is unary/native/1 and unary/native-client/16 and /64.
//
//	unary/native-sleep100us/N   N callers, handlers of 100 µs
//	unary/native-sleep1ms/N     N callers, handlers of 1 ms

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

func init() {
	i := 0
	for _, d := range []time.Duration{100 * time.Microsecond, time.Millisecond} {
		for _, callers := range []int{1, 16, 64} {
			name := fmt.Sprintf("unary/native-sleep%s/%d", durName(d), callers)
			register(contender{name: name, unit: "calls/s", order: 520 + i,
				run: func(r *round) (float64, error) { return blockingUnary(r, callers, d) }})
			registerRatio(ratio{name: fmt.Sprintf("blocking %s/ideal %d", durName(d), callers), num: name, den: name + " ideal"})
			i++
		}
	}
}

// durName is 100us for 100 µs, 1ms for a millisecond.
func durName(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dus", d.Microseconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// sleepRequest asks Bench.Sleep to block for NS nanoseconds.
type sleepRequest struct {
	NS int64 `json:"ns"`
}

// sleepResponse says how long Bench.Sleep blocked.
type sleepResponse struct {
	SleptNS int64 `json:"slept_ns"`
}

// blockingUnary makes calls to Bench.Sleep(d) from callers goroutines on
// one Client over loopback TCP, and records the ideal calls/s and the
// handler's mean time.
func blockingUnary(r *round, callers int, d time.Duration) (float64, error) {
	srv, err := newNativeServer()
	if err != nil {
		return 0, err
	}
	if err := srv.Register("Bench.Sleep", func(ctx context.Context, req *sleepRequest, resp *sleepResponse) error {
		t := time.Now()
		time.Sleep(time.Duration(req.NS))
		resp.SleptNS = int64(time.Since(t))
		return nil
	}); err != nil {
		return 0, err
	}
	ns, err := startNativeOn(srv, "tcp")
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	req := &sleepRequest{NS: int64(d)}
	var slept, n atomic.Int64
	v, err := r.calls(callers, func() error {
		var resp sleepResponse
		if err := ns.client.Call(ctx, "Bench.Sleep", req, &resp); err != nil {
			return err
		}
		if resp.SleptNS < int64(d) {
			return fmt.Errorf("the handler slept %v, asked %v", time.Duration(resp.SleptNS), d)
		}
		slept.Add(resp.SleptNS)
		n.Add(1)
		return nil
	})
	if err == nil {
		mean := float64(slept.Load()) / float64(n.Load()) // warm-up included
		r.record("handler", "µs", mean/1e3)
		r.record("ideal", "calls/s", float64(callers)/(mean/1e9))
	}
	return v, errors.Join(err, ns.close())
}
