package main

import (
	"io"
	"net"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

// The raw limits: what the transports and the memory do with no protocol.

func init() {
	register(contender{name: "raw/unix", unit: "GiB/s", order: 100,
		run: func(r *round) (float64, error) { return rawStream(r, socketPair) }})
	register(contender{name: "raw/tcp", unit: "GiB/s", order: 200,
		run: func(r *round) (float64, error) { return rawStream(r, tcpPair) }})
	register(contender{name: "raw/tcp/split", unit: "GiB/s", order: 201,
		run: func(r *round) (float64, error) { return rawStream(r, splitTCPPair) }})
	register(contender{name: "raw/memmove", unit: "GiB/s", order: 400, run: memmoveRow})
}

// rawStream is io.CopyBuffer with 1 MiB buffers on both ends: the sender
// copies from the same pattern source native's handler returns into a 1 MiB
// buffer and writes it; the receiver reads into a 1 MiB buffer and drops it.
// Segments are requested over a channel (both ends live in this process).
func rawStream(r *round, pair func() (net.Conn, net.Conn, error)) (float64, error) {
	send, recv, err := pair()
	if err != nil {
		return 0, err
	}
	defer recv.Close()
	defer send.Close()
	segs := make(chan int64)
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for n := range segs {
			_, err := io.CopyBuffer(writerOnly{send}, readerOnly{&benchkit.PatternReader{Pattern: pattern, Left: n}}, buf)
			if err != nil {
				send.Close() // unblock the receiver
			}
			sent <- err
		}
	}()
	defer close(segs)
	buf := make([]byte, chunk)
	return r.transfer(func(n int64) error {
		segs <- n
		if err := readN(recv, n, buf); err != nil {
			return err
		}
		return <-sent
	})
}

// splitTCPPair is tcpPair whose sending end writes each buffer as native
// writes a large DATA frame to TCP: its first 4 KiB, then the rest (see
// native's splitHead). With the same 1 MiB buffers, this is raw TCP at
// native's write pattern.
func splitTCPPair() (net.Conn, net.Conn, error) {
	send, recv, err := tcpPair()
	if err != nil {
		return nil, nil, err
	}
	return splitWriter{send}, recv, nil
}

// splitWriter writes p in two writes: its first 4 KiB, then the rest.
type splitWriter struct{ net.Conn }

func (w splitWriter) Write(p []byte) (int, error) {
	const head = 4 << 10
	if len(p) <= head {
		return w.Conn.Write(p)
	}
	n, err := w.Conn.Write(p[:head])
	if err != nil {
		return n, err
	}
	m, err := w.Conn.Write(p[head:])
	return n + m, err
}

// memmoveRow copies 1 MiB buffers in memory: the physical limit of any
// transfer that copies each byte once.
func memmoveRow(r *round) (float64, error) {
	src := pattern
	dst := make([]byte, chunk)
	copy(dst, src)
	t0 := time.Now()
	var total int64
	for total < r.cfg.minBytes || time.Since(t0) < r.cfg.minTime {
		for range 64 {
			copy(dst, src)
		}
		total += 64 * chunk
	}
	el := time.Since(t0)
	return float64(total) / (1 << 30) / el.Seconds(), nil
}
