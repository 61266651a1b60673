package native

// The reading role: who reads the connection's frames. Each connection has
// one reader goroutine, but a goroutine that waits for a frame of its own
// (a client caller for its answer, a stream's reader for its DATA) reads the
// connection itself when it finds the role parked: it handles whatever
// frames come, hands the others' to them, and reads its own DATA straight
// from the transport into its buffer. A hand-off between goroutines wakes
// one, and with an idle P a thread (futex): a loopback ping-pong with one
// hand-off on each side ran at about half the calls/s of one without (24.7k
// against 45.6k), and handing each DATA frame over and back cost half of the
// CPU per streamed GiB on a unix socket.
//
// The role is parked when its holder stops reading and someone may want it;
// while parked for idleAfter without anyone taking it, the reader goroutine
// takes it, so PINGs, WINDOW_UPDATEs, other calls' frames and a lost
// connection are never left unread for long. A stream's consumer that read
// a payload of its own leaves the role for its next Read instead (leave):
// the others take it only once it stayed away for awayGrace.

import (
	"sync"
	"sync/atomic"
	"time"
)

// The role stays parked for at most its idle period: between that and
// twice that, the reader goroutine takes it. The idle timer is not reset per
// park (that woke a netpoller asleep with a later timer, a thread, at every
// call): it stays armed while the role keeps being taken, and wakes the
// reader when nobody took it for a full period (onIdle).
//
// A server's period is short: a request stream's reader that stops reading
// leaves the other calls' frames unread until then. A client's is longer:
// a caller waiting for its answer takes a parked role itself, so only
// frames nobody waits for (a PING, a CLOSE, DATA for a reader that is away)
// wait for the period, and the timer firing each period cost a streamed
// GiB a tenth of its throughput on a unix socket (twice the context
// switches).
const (
	serverIdleAfter = time.Millisecond
	clientIdleAfter = 20 * time.Millisecond
)

// readRole is a connection's reading role.
type readRole struct {
	role chan struct{} // capacity 1: holds the role while it is parked
	wake chan struct{} // capacity 1: gives the role to the reader goroutine
	away chan struct{} // capacity 1: holds the role while it is left (leave)

	awayT     *time.Timer  // parks a role left for longer than awayGrace
	awayArmed atomic.Bool  // awayT is set
	leftAt    atomic.Int64 // when the role was last left, since wireEpoch

	idle      *time.Timer
	idleAfter time.Duration
	idleMu    sync.Mutex
	idleArmed bool   // idleMu: idle is set
	takesSeen uint64 // idleMu: takes when idle last fired
	takes     atomic.Uint64
	// waiters counts goroutines waiting for a frame of their own that
	// would read it themselves if the role were parked.
	waiters atomic.Int32

	// Owned by the role's holder.
	scratch []byte        // payload buffer for small frames
	pend    *streamReader // a DATA payload its consumer read in part
	pendN   uint32        // the bytes of it still unread
	took    uint32        // bytes of pend's frame its consumer holds already (framer.readTail)
	// run is the call of the DATA frames read last, runLen how many came
	// in a row, runSize the length of the last: a consumer whose frames
	// come in a run reads the next header with its payload (headerAhead).
	run     uint32
	runLen  int
	runSize uint32
}

// saw counts frame h in the run of DATA frames of one call.
func (r *readRole) saw(h FrameHeader) {
	switch {
	case h.Type != TypeData:
		r.runLen = 0
	case h.Call == r.run:
		r.runLen++
	default:
		r.run, r.runLen = h.Call, 1
	}
	r.runSize = h.Length
}

// headerAhead reports whether s's consumer, holding the role at a frame
// boundary, should read the next frame's header and its payload's first
// bytes in one read (framer.readTail of no tail), and how many: when the
// last two frames were s's DATA, up to the last one's length. Beside
// calls, a stream's frames come in runs between their small ones; two
// streams' frames alternate, and the read would take the other's payload
// into s's buffer only to give it back.
func (r *readRole) headerAhead(s *streamReader) (int, bool) {
	if r.pend != nil || r.run != s.call || r.runLen < 2 {
		return 0, false
	}
	return int(r.runSize), true
}

func (r *readRole) init(idleAfter time.Duration) {
	r.idleAfter = idleAfter
	r.role = make(chan struct{}, 1)
	r.wake = make(chan struct{}, 1)
	r.idle = time.AfterFunc(time.Hour, r.onIdle)
	r.idle.Stop()
	r.away = make(chan struct{}, 1)
	r.awayT = time.AfterFunc(time.Hour, r.onAway)
	r.awayT.Stop()
}

// park parks the role its holder has, for a waiter or, once idle, the
// reader goroutine; at once the reader's if the connection is ending.
func (r *readRole) park(ending bool) {
	r.role <- struct{}{}
	r.armIdle()
	if ending {
		r.wakeReader()
	}
}

// armIdle has the idle timer run if it does not.
func (r *readRole) armIdle() {
	r.idleMu.Lock()
	if !r.idleArmed {
		r.idleArmed = true
		r.idle.Reset(r.idleAfter)
	}
	r.idleMu.Unlock()
}

// leave is park for a stream's consumer that read a payload of its own and
// returns it: the role waits for the consumer's next Read (back), which in
// a copy loop comes within microseconds, while the DATA ahead of anyone
// else's frame is most likely the consumer's own. A waiter that took the
// role parked at once read the stream's DATA into its buffer until its own
// frame came, a copy more per byte, and took the consumer's turns: beside a
// saturating download, a small call read up to a frame and the socket's
// bytes for it. Now the consumer reads them straight into its own buffer
// and hands the small call its answer. A consumer away for awayGrace has
// its role taken by a waiter (waiting, onAway), and the idle timer covers a
// consumer that never comes back.
func (r *readRole) leave() {
	r.leftAt.Store(int64(time.Since(wireEpoch)))
	r.away <- struct{}{}
	r.armIdle()
	if r.waiters.Load() > 0 {
		r.armAway(awayGrace)
	}
}

// awayGrace is how long a role left by a stream's consumer waits for it
// while someone else waits for the role.
const awayGrace = 50 * time.Microsecond

// armAway has awayT fire after d.
func (r *readRole) armAway(d time.Duration) {
	r.awayArmed.Store(true)
	r.awayT.Reset(d)
}

// waiting is called by a waiter for the role once it counts among the
// waiters. It takes a role left away for awayGrace already (took: the
// waiter holds it), and has one left more recently parked for it when
// its grace ends. The grace counts from the leaving, not the waiting: a
// timer that short fires up to a millisecond late in a process otherwise
// idle (the runtime's netpoller sleeps whole milliseconds), and a consumer
// that writes what it read to a slow peer is away for long. The leaver
// checks the waiters after leaving, and the waiter the role after counting
// itself, so one of them sees the other.
func (r *readRole) waiting() (took bool) {
	if len(r.away) == 0 {
		return false
	}
	left := time.Since(wireEpoch) - time.Duration(r.leftAt.Load())
	if left >= awayGrace {
		return r.back()
	}
	if !r.awayArmed.Load() {
		r.armAway(awayGrace - left)
	}
	return false
}

// onAway is awayT's function: a role still left is parked for the waiters.
func (r *readRole) onAway() {
	r.awayArmed.Store(false)
	r.unleave()
}

// back takes the role back if it is still left.
func (r *readRole) back() bool { return r.takeFrom(r.away) }

// unleave parks a role left away: its consumer will not come back for it.
func (r *readRole) unleave() {
	select {
	case <-r.away:
		r.park(false)
	default:
	}
}

// take takes the parked role, if it is parked.
func (r *readRole) take() bool { return r.takeFrom(r.role) }

// takeFrom takes the role from ch (role or away) if it is there.
func (r *readRole) takeFrom(ch chan struct{}) bool {
	select {
	case <-ch:
		r.takes.Add(1)
		return true
	default:
		return false
	}
}

// taken is called by a goroutine that took the role from r.role in a
// select of its own.
func (r *readRole) taken() { r.takes.Add(1) }

// onIdle is the idle timer's function.
func (r *readRole) onIdle() {
	r.idleMu.Lock()
	defer r.idleMu.Unlock()
	if t := r.takes.Load(); t != r.takesSeen {
		r.takesSeen = t // taken since: look again a period later
		r.idle.Reset(r.idleAfter)
		return
	}
	r.idleArmed = false
	r.wakeReader()
}

// wakeReader gives the role to the reader goroutine if it is parked or
// left.
func (r *readRole) wakeReader() {
	select {
	case <-r.role:
		r.handOver()
	case <-r.away:
		r.handOver()
	default:
	}
}

// handOver gives the role its holder has to the reader goroutine. The wake
// channel is empty while someone holds the role; it may hold a token once
// reading is over, and nobody waits.
func (r *readRole) handOver() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// stop stops the idle timer; the connection is over.
func (r *readRole) stop() {
	r.idleMu.Lock()
	r.idle.Stop()
	r.idleArmed = false
	r.idleMu.Unlock()
	r.awayT.Stop()
}

// payload reads a frame's payload into the scratch buffer; the caller holds
// the role.
func (r *readRole) payload(fr *framer, n uint32) ([]byte, error) {
	b, err := fr.readPayload(r.scratch, n)
	if cap(b) <= 64<<10 {
		r.scratch = b
	}
	return b, err
}

// settle reads the rest of a DATA payload whose consumer read only part of
// it into that stream's buffer, unless the holder is that consumer (me). It
// reports the error of the transport.
func (r *readRole) settle(fr *framer, me *streamReader) error {
	s, n := r.pend, r.pendN
	if s == nil || s == me {
		return nil
	}
	r.pend, r.pendN = nil, 0
	return s.buffer(fr, n)
}

// ownData takes a DATA frame of n bytes for s, whose consumer holds the
// role: the payload is left for it to read straight into its buffer (pend),
// or discarded, its credit given back, if s was given up. The first bytes
// of it may be in the consumer's buffer already (framer.readTail): they are
// its own (took), or dropped with the rest.
func (r *readRole) ownData(w *wire, s *streamReader, n uint32) error {
	have := w.fr.takeInHand()
	live, err := s.accept(n)
	if err != nil {
		return err
	}
	if !live {
		w.consumed(int64(n))
		return w.fr.discard(n - have)
	}
	r.took = have
	if have < n {
		r.pend, r.pendN = s, n-have
	}
	return nil
}
