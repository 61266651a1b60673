package native

// Running handlers inline on a server connection's reader goroutine, and
// lending the reading role on when one runs long.
//
// A handler that answers JSON runs on the goroutine that read its request
// (runInline): a small call then passes between no goroutines on the
// server at all. While it runs, nobody reads the connection; if it runs
// longer than the lending period (lendAfter, longer on a connection whose
// calls come one at a time), a new reader goroutine takes the reading over
// (lendRole). That bounds the wait of the other calls on the connection,
// but a handler that blocks (on a disk, a database, another service)
// blocks the reading for lendAfter at every call: one connection then
// started about one call per 1-2 ms whatever the callers.
//
// So only quick handlers run inline. Each handler keeps how long its recent
// calls took (handler.took, server-wide): two calls in a row that took
// longer (or were lent) raise it at once, and each quicker call takes an
// eighth of the way back down. A handler whose figure is under inlineMax
// runs inline; any other on a goroutine of its own from the start. A
// handler that turns slow is noticed at its second long call (each lent
// after the lending period at most, and the first call's lending and its
// end count as two), and one that turns quick again runs inline after a
// few dozen calls.
//
//	handler took    the next call runs
//	< inlineMax     inline, on the reader goroutine (lent if it runs long)
//	>= inlineMax    on a goroutine of its own

import "time"

// lendAfter bounds how long a handler run inline keeps a shared connection
// unread: between lendAfter and twice that, a new reader goroutine takes
// over reading (another call, an RST aborting the call, or a PING, waits
// that long at most). It is config.lendAfter's value, which only tests
// change.
//
// A connection that is not shared (wire.shared: no call started beside
// another lately) has nothing to wait but an RST of the running call, a
// PING, or the first call of a caller that starts to overlap, and waits
// soloLendFactor times longer. The check behind the bound is a timer that
// fires once per period while calls come, and each firing cost about one
// call in a hundred a wait of tens of microseconds, the threads it woke
// sharing two CPUs with the call: one caller on one connection ran 2.5%
// (1.5-3.5) fewer calls/s with a 1 ms period than with none, 2 ms the same
// within spread, 20 ms none within spread (bench unary/native/1, calls
// slower than twice the median 2.6% against 1.7%).
const (
	lendAfter      = time.Millisecond
	soloLendFactor = 10
)

// inlineMax is the most a handler's recent calls may take for the next to
// run inline (see the top of the file).
const inlineMax = 20 * time.Microsecond

// quick reports whether h's calls run inline.
func (h *handler) quick() bool { return h.took.Load() < int64(inlineMax) }

// observe counts a call of h that took d, or the shorter time of the call
// before: one long call among quick ones is likelier the machine's (a GC
// assist, the thread descheduled by another process) than the handler's.
// 5-10% of the calls of an instant handler ran on goroutines without that,
// on this loaded 2-core machine. The time counts at once if it is longer
// than h's figure, by an eighth of the difference if shorter. Calls that
// end at once may lose an update to each other; the next corrects it.
func (h *handler) observe(d time.Duration) {
	n := min(int64(d), h.last.Swap(int64(d)))
	took := h.took.Load()
	if n < took {
		n = took - (took-n)/8
	}
	h.took.Store(n)
}

// lendRun is a handler run inline by a reader goroutine.
type lendRun struct {
	h    *handler
	seq  uint64 // lendMu: the run's number
	lent bool   // lendMu: the reading role passed on during the run
}

// runInline runs call's handler on the reader goroutine, and reports
// whether this goroutine still reads: c.lend starts a new reader goroutine
// if the handler runs too long. A small call then passes between no
// goroutines on the server at all: each hand-off wakes a goroutine, and
// with an idle P a thread (futex), which measured here cost as much as the
// rest of the call. c.lend is not reset per call: that put a timer ahead of
// a netpoller asleep with a later one, and woke it (a thread) at every
// call. It stays armed while inline handlers keep coming, and lends when
// the run it saw last time still runs (lendRole).
func (c *serverConn) runInline(call *serverCall, r *lendRun) bool {
	c.lendMu.Lock()
	c.lendSeq++
	r.h, r.seq, r.lent = call.h, c.lendSeq, false
	c.lendCur = r
	if !c.lendArmed {
		c.lendArmed = true
		c.lend.Reset(c.lendPeriod())
	}
	c.lendMu.Unlock()
	call.inline = r
	c.run(call)
	c.lendMu.Lock()
	lent := r.lent
	if c.lendCur == r {
		c.lendCur = nil
	}
	c.lendMu.Unlock()
	return !lent
}

// batchable reports whether the JSON response of call, size bytes, may
// wait in the write queue (wire.queueResponse) for the next write instead of
// being written now: its handler ran inline, the reader still has the role,
// and a whole frame has arrived after the request, so the reader goes on
// to it at once. The reader has the queue written before it may wait for a
// frame (readOne), and c.lend before it lends the role: a response waits at most
// while the frames already received are handled, and for the lending period
// if a handler among them runs long. Many callers on one connection then
// get their answers in fewer writes: 64 callers on one Client ran 1.07x
// (1.04-1.09 against 1.00, 0.95-1.01) of net/rpc's calls/s with it.
func (c *serverConn) batchable(call *serverCall, size int) bool {
	if call.inline == nil || c.w.queued()+size > maxBatch {
		return false
	}
	c.lendMu.Lock()
	defer c.lendMu.Unlock()
	return !call.inline.lent && c.w.fr.frameBuffered()
}

// lendPeriod is how long c.lend waits: lendAfter on a shared connection,
// soloLendFactor times that on one whose calls come one at a time.
func (c *serverConn) lendPeriod() time.Duration {
	if c.w.shared() {
		return c.cfg.lendAfter
	}
	return soloLendFactor * c.cfg.lendAfter
}

// lendRole is c.lend's function.
func (c *serverConn) lendRole() {
	c.lendMu.Lock()
	defer c.lendMu.Unlock()
	switch {
	case c.lendCur == nil:
		c.lendArmed = false
	case c.lendCur.seq != c.lendSeen:
		c.lendSeen = c.lendCur.seq // see whether it still runs next time
		c.lend.Reset(c.lendPeriod())
	default:
		// The handler's next calls run on goroutines of their own at
		// once, not after this one returns (it may wait for long).
		c.lendCur.h.observe(c.cfg.lendAfter)
		c.lendCur.lent, c.lendCur = true, nil
		c.lendArmed = false
		c.handlers.Add(1)
		go func() {
			defer c.handlers.Done()
			c.readLoop()
		}()
		if c.w.ctrlPending.Load() {
			// The answers batched before the long run: written by a
			// goroutine of their own, never under lendMu (a write may
			// wait for the peer).
			c.handlers.Add(1)
			go func() {
				defer c.handlers.Done()
				c.w.flushQueued()
			}()
		}
	}
}
