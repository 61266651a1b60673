package main

// What native connections hold (issue 15): an idle stream, an idle
// connection, and a stream whose reader is slower than its sender, with a
// client's default windows and with the gateway's. Memory is the heap and
// the goroutine stacks in use after a GC, both ends together (they live in
// this process), against before.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/framegate/framegate/native"
)

func init() {
	register(contender{name: "mem/idle-stream", unit: "KiB", order: 610, run: memIdleStreams})
	register(contender{name: "mem/idle-conn", unit: "KiB", order: 611, run: memIdleConns})
	// A slow reader's stream holds at most its window in the client
	// (flow control) and the server's send buffer, a chunk: the targets
	// allow a tenth over that, for the buffers' rounding to size classes.
	register(contender{name: "mem/slow-reader", unit: "MiB", order: 612,
		target: atMost(1.1 * (native.DefaultClientStreamWindow + native.DefaultStreamChunkSize) / (1 << 20)),
		run:    func(r *round) (float64, error) { return memSlowReader(r) }})
	register(contender{name: "mem/slow-reader/gateway-window", unit: "MiB", order: 613,
		target: atMost(1.1 * (native.DefaultStreamWindow + native.DefaultStreamChunkSize) / (1 << 20)),
		run: func(r *round) (float64, error) {
			return memSlowReader(r, native.WithStreamWindow(native.DefaultStreamWindow), native.WithConnWindow(native.DefaultConnWindow))
		}})
}

// slowReadEvery and slowReadSize pace the slow reader: 1 MiB every 50 ms,
// 20 MiB/s, a 250th of what the sender makes. Its reads are further apart
// than the client's idle period of the reading role, so the client's
// reader goroutine takes the stream's DATA into its buffer meanwhile, up to
// the window (a reader that comes back sooner reads the DATA itself, from
// the socket, and holds about a chunk).
const (
	slowReadEvery = 50 * time.Millisecond
	slowReadSize  = 1 << 20
)

// memSlowReader streams endlessly from Bench.Stream to a reader taking
// slowReadSize every slowReadEvery, on a Client with opts, for the round's
// time (at least a second), and returns the memory held at its end, in
// MiB.
func memSlowReader(r *round, opts ...native.Option) (float64, error) {
	srv, err := newNativeServer()
	if err != nil {
		return 0, err
	}
	ns, err := startNativeOn(srv, "unix", opts...)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, slowReadSize)
	before := memInUse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rc io.ReadCloser
	if err = ns.client.Call(ctx, "Bench.Stream", &streamRequest{N: 1 << 50}, &rc); err == nil {
		err = slowRead(rc, buf, max(r.cfg.minTime, time.Second))
	}
	held := float64(memInUse()-before) / (1 << 20)
	cancel()
	if rc != nil {
		rc.Close()
	}
	return held, errors.Join(err, ns.close())
}

// slowRead reads rc into buf every slowReadEvery for d, checking the
// bytes.
func slowRead(rc io.Reader, buf []byte, d time.Duration) error {
	tick := time.NewTicker(slowReadEvery)
	defer tick.Stop()
	var off int64
	for t0 := time.Now(); time.Since(t0) < d; {
		<-tick.C
		n, err := io.ReadFull(rc, buf)
		if err != nil {
			return fmt.Errorf("slow reader, after %d bytes: %w", off, err)
		}
		for i, c := range buf[:n] {
			if c != pattern[(off+int64(i))%int64(len(pattern))] {
				return fmt.Errorf("slow reader: byte %d differs", off+int64(i))
			}
		}
		off += int64(n)
	}
	return nil
}

// idleStreams is how many idle streams memIdleStreams holds on one
// connection, and idleConns how many connections memIdleConns holds.
const (
	idleStreams = 1000
	idleConns   = 200
)

// memIdleStreams opens idleStreams calls on one connection whose response
// streams have begun and then wait (their handlers' readers block), and
// returns the memory each holds, client and server sides together: heap and
// goroutine stacks in use, after a GC, against before.
func memIdleStreams(r *round) (float64, error) {
	release := make(chan struct{})
	srv := native.NewServer(native.WithMaxConcurrentCalls(2 * idleStreams))
	if err := srv.Register("Bench.Idle", func(ctx context.Context, body *io.Reader) error {
		*body = &blockedReader{first: pattern[:1], release: release, ctx: ctx}
		return nil
	}); err != nil {
		return 0, err
	}
	ns, err := startNativeOn(srv, "unix", native.WithMaxConcurrentCalls(2*idleStreams))
	if err != nil {
		return 0, err
	}
	c := ns.client
	before := memInUse()
	streams := make([]io.ReadCloser, 0, idleStreams)
	for range idleStreams {
		var rc io.ReadCloser
		if err = c.Call(context.Background(), "Bench.Idle", nil, &rc); err != nil {
			break
		}
		streams = append(streams, rc)
	}
	per := float64(memInUse()-before) / float64(max(len(streams), 1)) / 1024
	close(release)
	for _, rc := range streams {
		rc.Close()
	}
	return per, errors.Join(err, ns.close())
}

// blockedReader returns first, then blocks until release or ctx ends.
type blockedReader struct {
	first   []byte
	release <-chan struct{}
	ctx     context.Context
}

func (b *blockedReader) Read(p []byte) (int, error) {
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	select {
	case <-b.release:
	case <-b.ctx.Done():
	}
	return 0, io.EOF
}

// memIdleConns connects idleConns clients over socketpairs to one server,
// with no call, and returns the memory each connection holds, both ends
// together.
func memIdleConns(r *round) (float64, error) {
	srv := native.NewServer()
	var wg sync.WaitGroup
	before := memInUse()
	var clients []*native.Client
	var err error
	for range idleConns {
		var a, b net.Conn
		if a, b, err = socketPair(); err != nil {
			break
		}
		wg.Go(func() { srv.ServeConn(a) })
		var c *native.Client
		if c, err = native.NewClient(b); err != nil {
			break
		}
		clients = append(clients, c)
	}
	per := float64(memInUse()-before) / float64(max(len(clients), 1)) / 1024
	for _, c := range clients {
		err = errors.Join(err, c.Close())
	}
	srv.Close()
	wg.Wait()
	if len(clients) != idleConns && err == nil {
		err = fmt.Errorf("%d connections of %d", len(clients), idleConns)
	}
	return per, err
}

// memInUse is the heap and the goroutine stacks in use, after a GC.
func memInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}
