package main

// Calls sharing one native connection (issue 15): small calls beside a
// saturating stream on the same Client, against each alone.
//
// The transport is a unix socketpair, the fastest one: the stream saturates
// it, so whatever the small calls wait for is the connection's own
// scheduling (a DATA frame at most, with the write lock's turns), not a slow
// link. The small calls are paced, one per millisecond, as the control
// calls (a List, a Stat) beside a download are: a caller looping as fast as
// it can would measure the CPU the two share on this 2-core machine, not the
// connection.
//
// The p99 beside the stream is mostly the stream's DATA frame being
// written when a call's answer is ready (native/flow.go, sharedQuantum).
// The kernel adds its share: on the 2-vCPU VM of development (Linux 6.18,
// HZ=250) a thread can wait on one CPU's run queue for most of a tick
// while the other CPU idles (perf sched timehist: 6.9 ms, the other CPU
// idle for 7 ms meanwhile), behind the thread carrying the stream, which
// rarely sleeps. mux/small-beside-other-conn has the same load on another
// connection, so the two p99s tell the connection's share from the
// machine's. -trace writes an execution trace with a region per small
// call.

import (
	"context"
	"errors"
	"io"
	"runtime/trace"
	"slices"
	"sync/atomic"
	"time"

	"github.com/framegate/framegate/native"
)

func init() {
	register(contender{name: "mux/small-alone", unit: "calls/s", order: 600,
		run: func(r *round) (float64, error) { return muxSmall(r, false) }})
	register(contender{name: "mux/small-beside-stream", unit: "calls/s", order: 601,
		run: func(r *round) (float64, error) { return muxSmall(r, true) }})
	register(contender{name: "mux/stream-alone", unit: "GiB/s", order: 602,
		run: func(r *round) (float64, error) { return muxStreams(r, 1) }})
	register(contender{name: "mux/two-streams", unit: "GiB/s", order: 605,
		run: func(r *round) (float64, error) { return muxStreams(r, 2) }})
	register(contender{name: "mux/two-streams-two-conns", unit: "GiB/s", order: 606,
		run: func(r *round) (float64, error) { return muxStreamsApart(r, 2) }})
	register(contender{name: "mux/small-beside-upload", unit: "calls/s", order: 603, run: muxSmallBesideUpload})
	register(contender{name: "mux/small-beside-other-conn", unit: "calls/s", order: 604, run: muxSmallOtherConn})
	registerRatio(ratio{name: "mux small p99 beside/alone", num: "mux/small-beside-stream p99", den: "mux/small-alone p99", target: atMost(5)})
	registerRatio(ratio{name: "mux stream beside/alone", num: "mux/small-beside-stream stream", den: "mux/stream-alone", target: atLeast(0.8)})
	registerRatio(ratio{name: "mux small p99 beside-upload/alone", num: "mux/small-beside-upload p99", den: "mux/small-alone p99"})
	registerRatio(ratio{name: "mux small p99 beside/other-conn", num: "mux/small-beside-stream p99", den: "mux/small-beside-other-conn p99"})
	registerRatio(ratio{name: "mux two-streams/stream-alone", num: "mux/two-streams", den: "mux/stream-alone"})
	// What sharing one connection costs two bulk streams: the same two
	// downloads, each on a connection of its own.
	registerRatio(ratio{name: "mux two-streams one-conn/two-conns", num: "mux/two-streams", den: "mux/two-streams-two-conns"})
}

// smallEvery is the pace of the small calls, and maxBehind how many
// missed calls pacedCalls makes up at most.
const (
	smallEvery = time.Millisecond
	maxBehind  = 20
)

// muxSmall makes paced small calls on one Client for the round's time, with
// an endless download running on the same Client if beside; it records
// their p50 and p99 latency, and the download's GiB/s meanwhile.
func muxSmall(r *round, beside bool) (float64, error) {
	ns, err := startNative("unix")
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var streamed atomic.Int64
	streamDone := make(chan error, 1)
	moved := func() int64 { return 0 }
	if beside {
		var rc io.ReadCloser
		if err := ns.client.Call(ctx, "Bench.Stream", &streamRequest{N: 1 << 50}, &rc); err != nil {
			cancel()
			return 0, errors.Join(err, ns.close())
		}
		go func() { streamDone <- drain(rc, &streamed) }()
		time.Sleep(100 * time.Millisecond) // the stream at full speed first
		moved = streamed.Load
	}
	v, err := pacedCalls(r, ns.client, moved, "stream", beside)
	cancel() // ends the stream: the call is aborted
	if beside {
		if serr := <-streamDone; serr == nil {
			err = errors.Join(err, errors.New("the endless stream ended"))
		}
	}
	return v, errors.Join(err, ns.close())
}

// muxSmallOtherConn is muxSmall beside the same endless download on
// another connection, to another server: the machine as loaded as beside
// the stream, nothing shared but the process. Against it, the p99 beside
// the stream on the same connection is what sharing the connection costs;
// against the calls alone, what the load costs too.
func muxSmallOtherConn(r *round) (float64, error) {
	ns, err := startNative("unix")
	if err != nil {
		return 0, err
	}
	other, err := startNative("unix")
	if err != nil {
		return 0, errors.Join(err, ns.close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var rc io.ReadCloser
	if err := other.client.Call(ctx, "Bench.Stream", &streamRequest{N: 1 << 50}, &rc); err != nil {
		cancel()
		return 0, errors.Join(err, other.close(), ns.close())
	}
	var streamed atomic.Int64
	streamDone := make(chan error, 1)
	go func() { streamDone <- drain(rc, &streamed) }()
	time.Sleep(100 * time.Millisecond)
	v, err := pacedCalls(r, ns.client, streamed.Load, "stream", true)
	cancel()
	if serr := <-streamDone; serr == nil {
		err = errors.Join(err, errors.New("the endless stream ended"))
	}
	return v, errors.Join(err, other.close(), ns.close())
}

// pacedCalls makes a small call every smallEvery on c for the round's time
// (at least a second), records their p50 and p99 latency and, if record,
// the GiB/s by which moved grew meanwhile, as the side metric name.
//
// The rate is kept: a caller that woke late makes the calls it missed at
// once (up to maxBehind of them), so a stream beside the calls carries the
// same load whatever the timers do. Dropping them, as a ticker drops its
// ticks, made the load depend on how late the caller woke: with the
// client's windows doubled, fewer idle threads woke beside the stream, its
// timer woke later (wake p99 9 ms against 5), and the calls fell from 690
// to 560 a second, which the stream's ratio took for a gain (0.86; 0.78 at
// the full rate, the same build).
//
// It also records how late the caller woke for each call ("wake p99"): a
// goroutine asleep until a set time ran that much after it, on the same
// machine under the same load, with no connection involved. On an idle
// process it is the runtime's timer granularity (its netpoller sleeps whole
// milliseconds: about 1.1 ms); beside a stream it is scheduling, and on the
// VM of development it was 5.5-8.8 ms beside the stream, against calls whose
// own p99 was 0.3-0.4 ms.
func pacedCalls(r *round, c *native.Client, moved func() int64, name string, record bool) (float64, error) {
	d := max(r.cfg.minTime, time.Second)
	var lats, wakes []time.Duration
	var err error
	m0, t0 := moved(), time.Now()
	for slot := 1; time.Since(t0) < d; slot++ {
		due := t0.Add(time.Duration(slot) * smallEvery)
		time.Sleep(time.Until(due))
		t := time.Now()
		wakes = append(wakes, t.Sub(due))
		var resp EchoMsg
		reg := trace.StartRegion(context.Background(), "small call") // for -trace
		if err = c.Call(context.Background(), "Bench.Echo", &echoRequest, &resp); err == nil {
			err = checkEcho(&resp)
		}
		reg.End()
		if err != nil {
			break
		}
		lats = append(lats, time.Since(t))
		// Slots missed are made up, but for those over maxBehind ago.
		slot = max(slot, int(time.Since(t0)/smallEvery)-maxBehind)
	}
	el := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if record {
		r.record(name, "GiB/s", float64(moved()-m0)/(1<<30)/el.Seconds())
	}
	slices.Sort(lats)
	slices.Sort(wakes)
	r.record("p50", "µs", float64(percentile(lats, 50))/1e3)
	r.record("p99", "µs", float64(percentile(lats, 99))/1e3)
	r.record("wake p99", "µs", float64(percentile(wakes, 99))/1e3)
	return float64(len(lats)) / el.Seconds(), nil
}

// muxSmallBesideUpload is muxSmall beside an endless upload on the same
// Client: the server's handler reads the request stream, and the server's
// reading role passes between it and the other calls' frames.
func muxSmallBesideUpload(r *round) (float64, error) {
	ns, err := startNative("unix")
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	up := &countingSource{}
	uploadDone := make(chan error, 1)
	go func() {
		uploadDone <- ns.client.Call(ctx, "Bench.Sink", up, &streamRequest{})
	}()
	time.Sleep(100 * time.Millisecond)
	v, err := pacedCalls(r, ns.client, up.n.Load, "upload", true)
	cancel()
	if uerr := <-uploadDone; uerr == nil {
		err = errors.Join(err, errors.New("the endless upload ended"))
	}
	return v, errors.Join(err, ns.close())
}

// countingSource is an endless request stream of the pattern, counting
// the bytes taken.
type countingSource struct{ n atomic.Int64 }

func (c *countingSource) Read(p []byte) (int, error) {
	n := copy(p, pattern)
	c.n.Add(int64(n))
	return n, nil
}

// drain reads rc until it fails, counting the bytes.
func drain(rc io.ReadCloser, n *atomic.Int64) error {
	defer rc.Close()
	buf := make([]byte, chunk)
	for {
		m, err := rc.Read(buf)
		n.Add(int64(m))
		if err != nil {
			return err
		}
	}
}

// muxStreams runs n endless downloads on one Client for as long as muxSmall
// runs, and returns their GiB/s together. With n > 1 it records "fairness":
// the bytes of the download that moved least over those of the one that
// moved most (1: an even split). One download is muxSmall's alone; two are
// the gateway's case, where the downloads of many clients share the one
// connection to a backend.
func muxStreams(r *round, n int) (float64, error) {
	ns, err := startNative("unix")
	if err != nil {
		return 0, err
	}
	sessions := make([]*nativeSession, n)
	for i := range sessions {
		sessions[i] = ns
	}
	gibs, err := streamOn(r, sessions)
	return gibs, errors.Join(err, ns.close())
}

// muxStreamsApart is muxStreams with each download on a connection of its
// own.
func muxStreamsApart(r *round, n int) (float64, error) {
	var sessions []*nativeSession
	closeAll := func() error {
		var errs []error
		for _, ns := range sessions {
			errs = append(errs, ns.close())
		}
		return errors.Join(errs...)
	}
	for range n {
		ns, err := startNative("unix")
		if err != nil {
			return 0, errors.Join(err, closeAll())
		}
		sessions = append(sessions, ns)
	}
	gibs, err := streamOn(r, sessions)
	return gibs, errors.Join(err, closeAll())
}

// streamOn runs an endless download on each of sessions' Clients (one
// Client may appear more than once) as muxStreams describes, and returns
// their GiB/s together.
func streamOn(r *round, sessions []*nativeSession) (float64, error) {
	n := len(sessions)
	ctx, cancel := context.WithCancel(context.Background())
	streamed := make([]atomic.Int64, n)
	done := make(chan error, n)
	for i, ns := range sessions {
		var rc io.ReadCloser
		if err := ns.client.Call(ctx, "Bench.Stream", &streamRequest{N: 1 << 50}, &rc); err != nil {
			cancel()
			for range i {
				<-done
			}
			return 0, err
		}
		go func() { done <- drain(rc, &streamed[i]) }()
	}
	time.Sleep(100 * time.Millisecond)
	start := make([]int64, n)
	for i := range streamed {
		start[i] = streamed[i].Load()
	}
	t0 := time.Now()
	time.Sleep(max(r.cfg.minTime, time.Second))
	el := time.Since(t0)
	var total, least, most int64
	for i := range streamed {
		m := streamed[i].Load() - start[i]
		total += m
		if i == 0 || m < least {
			least = m
		}
		most = max(most, m)
	}
	cancel()
	for range n {
		<-done
	}
	if n > 1 && most > 0 {
		r.record("fairness", "x", float64(least)/float64(most))
	}
	return float64(total) / (1 << 30) / el.Seconds(), nil
}
