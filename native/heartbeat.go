package native

// Heartbeats: a side that has received nothing from its peer for an
// interval sends a PING; one that then receives nothing for the timeout
// declares the peer dead and fails the connection, so a call on a link that
// died silently (a cable pulled, a NAT entry dropped, a peer frozen) fails
// with UNAVAILABLE instead of waiting forever. Liveness is any byte
// arriving, not whole frames: a slow link in the middle of a large frame is
// alive.

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// heartbeat watches one connection.
type heartbeat struct {
	w        *wire
	fail     func(error)
	interval time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	t       *time.Timer
	seen    uint64 // bytes counted when the timer last looked
	pinging bool   // a PING is out, and nothing arrived since
	stopped bool
}

// start arms the heartbeat of w; fail ends the connection.
func (h *heartbeat) start(cfg *config, w *wire, fail func(error)) {
	if cfg.pingInterval <= 0 {
		return
	}
	h.w, h.fail, h.interval, h.timeout = w, fail, cfg.pingInterval, cfg.pingTimeout
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = w.fr.inBytes.Load()
	h.t = time.AfterFunc(h.interval, h.tick)
}

func (h *heartbeat) tick() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	cur := h.w.fr.inBytes.Load()
	alive := cur != h.seen
	h.seen = cur
	switch {
	case alive:
		h.pinging = false
		h.t.Reset(h.interval)
	case !h.pinging:
		h.pinging = true
		h.t.Reset(h.timeout)
	default:
		h.stopped = true
		h.mu.Unlock()
		h.fail(&Error{code: CodeUnavailable, msg: fmt.Sprintf("connection lost: the peer sent nothing for %v after a PING (heartbeat)", h.timeout)})
		return
	}
	ping := h.pinging && !alive
	h.mu.Unlock()
	if ping {
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], uint64(time.Now().UnixNano()))
		h.w.writeControl(FrameHeader{Type: TypePing}, p[:])
	}
}

// stop stops the heartbeat; the connection is over.
func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.t != nil {
		h.t.Stop()
	}
}

// countingReader counts the bytes read from a transport: the heartbeat's
// sign of life.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(uint64(n))
	}
	return n, err
}
