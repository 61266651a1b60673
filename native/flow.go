package native

// Flow control and write scheduling: how the calls of one connection share
// it. A receiver announces in its preface how many DATA bytes it takes
// ahead of its readers, per stream and per connection; a sender spends that
// credit and waits for WINDOW_UPDATE frames to get more, so a reader that
// stops reading stops its own sender, not the connection. Writes take turns
// through a FIFO lock that lets every frame but DATA go first.
//
// Small messages of many calls share writes through the queue that control
// frames wait in (writeControl): a client's caller that finds the lock held
// leaves its request to the holder (queueEnd), and a server answers the
// requests it has already read in one write (serverConn.batchable). Each
// write syscall over loopback TCP costs more than the rest of a small call;
// with them, one Client's calls ran 1.08x net/rpc's with 64 callers
// (1.07-1.12, against 1.00x, 0.95-1.01, without) and 1.13x with 16
// (1.12-1.13, against 1.10x, 1.02-1.17): make bench, 3 rounds each, the
// two builds one after the other.

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// writeLock serialises writes in FIFO order, with two classes: a waiter of
// the high class (HEADER, BODY, RST, PING, WINDOW_UPDATE, CLOSE) goes before
// every waiter of the low one (DATA). A sync.Mutex would let a sender of
// back-to-back DATA frames take it again and again while another goroutine
// waits (up to a millisecond before its starvation mode), so a small call
// could wait behind many frames of a bulk stream.
type writeLock struct {
	mu        sync.Mutex
	held      bool
	high, low []chan struct{}
}

func (l *writeLock) lock(high bool) {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	if high {
		l.high = append(l.high, ch)
	} else {
		l.low = append(l.low, ch)
	}
	l.mu.Unlock()
	<-ch // unlock hands the lock over: held stays true
}

// waited reports whether anyone waits for the lock.
func (l *writeLock) waited() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.high)+len(l.low) > 0
}

// tryLock takes the lock if it is free.
func (l *writeLock) tryLock() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return false
	}
	l.held = true
	return true
}

func (l *writeLock) unlock() {
	l.mu.Lock()
	var next chan struct{}
	switch {
	case len(l.high) > 0:
		next = l.high[0]
		l.high[0] = nil
		l.high = l.high[1:]
	case len(l.low) > 0:
		next = l.low[0]
		l.low[0] = nil
		l.low = l.low[1:]
	default:
		l.held = false
	}
	l.mu.Unlock()
	if next != nil {
		close(next)
	}
}

// takeCredit waits until both hf and the connection have credit, and takes
// up to want bytes of it. It fails when the half ends (the peer reset the
// call) or the connection dies.
func (w *wire) takeCredit(hf *half, want int) (int, error) {
	w.flowMu.Lock()
	defer w.flowMu.Unlock()
	for {
		switch {
		case hf.stopped:
			return 0, errHalfClosed
		case w.dead:
			return 0, &Error{code: CodeUnavailable, msg: "connection lost"}
		case hf.credit > 0 && w.connCredit > 0:
			n := int(min(int64(want), hf.credit, w.connCredit))
			hf.credit -= int64(n)
			w.connCredit -= int64(n)
			return n, nil
		}
		if w.onStall != nil {
			// Someone must read the peer's WINDOW_UPDATE.
			w.flowMu.Unlock()
			w.onStall()
			w.flowMu.Lock()
			if hf.credit > 0 && w.connCredit > 0 || hf.stopped || w.dead {
				continue
			}
		}
		w.flowCond.Wait()
	}
}

// refund gives back n bytes of connection credit taken for DATA that will
// not be sent: its half ended first. The peer returns credit only for the
// bytes it receives, so credit kept would be lost to the connection.
func (w *wire) refund(n int) {
	if n <= 0 {
		return
	}
	w.flowMu.Lock()
	w.connCredit += int64(n)
	w.flowMu.Unlock()
	w.flowCond.Broadcast()
}

// stopFlow wakes a sender waiting for hf's credit: the half ended.
func (w *wire) stopFlow(hf *half) {
	w.flowMu.Lock()
	hf.stopped = true
	w.flowMu.Unlock()
	w.flowCond.Broadcast()
}

// onWindow applies a WINDOW_UPDATE the peer sent: for the connection (hf
// nil) or one half. A window pushed past MaxWindow is a protocol error.
func (w *wire) onWindow(hf *half, call uint32, inc uint32) error {
	if inc == 0 || inc > MaxWindow {
		return protocolErrorf("WINDOW_UPDATE of call %d increments by %d, want 1 to %d", call, inc, MaxWindow)
	}
	w.flowMu.Lock()
	c := &w.connCredit
	if hf != nil {
		c = &hf.credit
	}
	*c += int64(inc)
	over := *c > MaxWindow
	w.flowMu.Unlock()
	if over {
		return protocolErrorf("WINDOW_UPDATE of call %d pushes the window past %d", call, MaxWindow)
	}
	w.flowCond.Broadcast()
	return nil
}

// received accounts n DATA bytes against the connection's window. More
// than the window is a protocol error: the peer sent without credit.
func (w *wire) received(n uint32) error {
	w.recvMu.Lock()
	defer w.recvMu.Unlock()
	w.recvUsed += int64(n)
	if w.recvUsed > int64(w.mine.connWindow) {
		return protocolErrorf("DATA beyond the connection's flow-control window of %d bytes", w.mine.connWindow)
	}
	return nil
}

// consumed gives n DATA bytes back to the connection's window once their
// reader took them (or they were discarded): a WINDOW_UPDATE goes out when
// half the window is due, so the sender never waits while the reader keeps
// up, at one small frame per half window.
func (w *wire) consumed(n int64) {
	w.writeWindows(0, 0, w.connDue(n))
}

// connDue accounts n consumed bytes, and returns the connection's credit
// to give back now, if any.
func (w *wire) connDue(n int64) (inc int64) {
	if n == 0 {
		return 0
	}
	w.recvMu.Lock()
	defer w.recvMu.Unlock()
	w.recvUnacked += n
	if w.recvUnacked >= int64(w.mine.connWindow/2) {
		inc = w.recvUnacked
		w.recvUnacked = 0
		w.recvUsed -= inc
	}
	return inc
}

// writeWindows sends the WINDOW_UPDATEs due: inc for call's stream and
// connInc for the connection, together in one write when both are. Each
// write wakes the sender's reader, at a cost far above its bytes (see
// DefaultClientStreamWindow): with the windows in the ratio of the
// defaults, every connection update goes out with a stream's.
func (w *wire) writeWindows(call uint32, inc, connInc int64) {
	if inc == 0 && connInc == 0 {
		return
	}
	w.enqueue(func(q []byte) []byte {
		var p [4]byte
		if inc > 0 {
			binary.BigEndian.PutUint32(p[:], uint32(inc))
			q = appendFrame(q, FrameHeader{Type: TypeWindow, Call: call}, p[:])
		}
		if connInc > 0 {
			binary.BigEndian.PutUint32(p[:], uint32(connInc))
			q = appendFrame(q, FrameHeader{Type: TypeWindow}, p[:])
		}
		return q
	}, true)
}

// writeControl sends a control frame (PING, its answer, WINDOW_UPDATE, RST,
// CLOSE) without waiting for the write lock, and without writing on the
// calling goroutine: the frame is queued, and written by whoever holds the
// lock when it lets go, or by a new goroutine if nobody does. The goroutine
// reading the connection sends such frames, and must never wait for a
// write: with both sides' readers writing to each other (a synchronous
// pipe, or full socket buffers), neither would read again.
//
// A peer that sends frames calling for answers and reads none of them would
// grow the queue without end: past maxQueuedControl frames the connection
// is given up, as x/net/http2 does past 10,000.
func (w *wire) writeControl(h FrameHeader, payload []byte) {
	w.enqueue(func(q []byte) []byte { return appendFrame(q, h, payload) }, true)
}

// writeRefusal ends hf, a response half nothing was written on, with the
// response header rh, queued as writeControl queues its frames: the
// goroutine reading the connection refuses calls this way.
func (w *wire) writeRefusal(hf *half, rh *responseHeader) {
	w.queueResponse(hf, rh, nil, false, true)
}

// queueResponse ends hf with the response header rh and, if hasBody, its
// JSON body, queued as writeControl queues its frames. Unless flush, the
// frames wait for the next writer or flushQueued.
func (w *wire) queueResponse(hf *half, rh *responseHeader, body []byte, hasBody, flush bool) {
	if !hf.close() {
		return
	}
	w.enqueue(func(q []byte) []byte { return w.appendMessage(q, hf, rh, body, hasBody, FlagEnd) }, flush)
	hf.ended(w, true)
}

// queueEnd queues a message that ends its half (a request, or a server's
// answer), whose writer found the write lock held, instead of waiting for
// the lock: the holder writes it with its own frames as it lets go
// (unlock), so the requests of many callers go out in few writes, and an
// answer beside a stream goes out after the DATA frame being written
// without a hand-over of the lock. open, if not nil, numbers a client's
// call as the request is queued, under ctrlMu, as writeMessage numbers a
// call as it takes the queue: the ids go out in order. It reports false,
// having done nothing, if the batch has no room for the body (maxBatch).
//
// Beside a saturating download on the same connection (bench
// mux/small-beside-stream, three runs of 3 rounds each way, alternated), a
// handler that waited for the lock parked until the stream's writer handed
// it over, and woke: answers queued took the small calls' p50 from 112-118
// µs to 88-97. Their p99 (286-302 µs against 287-293) and the stream's
// GiB/s beside them (5.05-5.16 against 5.07-5.21) did not move.
func (w *wire) queueEnd(hf *half, header any, body []byte, hasBody bool, open func()) (bool, error) {
	w.ctrlMu.Lock()
	if len(w.ctrl)+len(body) > maxBatch {
		w.ctrlMu.Unlock()
		return false, nil
	}
	if open != nil {
		open()
	}
	if !hf.take(true) {
		w.ctrlMu.Unlock()
		return true, errHalfClosed
	}
	w.ctrl = w.appendMessage(w.ctrl, hf, header, body, hasBody, FlagEnd)
	w.ctrlFrames += 2
	w.ctrlPending.Store(true)
	w.ctrlMu.Unlock()
	if w.wl.tryLock() {
		w.unlock() // the holder let go meanwhile
	}
	hf.ended(w, true)
	return true, nil
}

// maxBatch bounds the bytes of messages queued to go out together
// (queueEnd, serverConn.batchable): past it, a message waits for the
// write lock and is written at once, with the batch.
const maxBatch = 16 << 10

// appendQueued moves the queued frames to the end of b.
func (w *wire) appendQueued(b []byte) []byte {
	if !w.ctrlPending.Load() {
		return b
	}
	w.ctrlMu.Lock()
	defer w.ctrlMu.Unlock()
	return w.appendQueuedLocked(b)
}

// appendQueuedLocked is appendQueued with ctrlMu held.
func (w *wire) appendQueuedLocked(b []byte) []byte {
	if len(w.ctrl) == 0 {
		return b
	}
	b = append(b, w.ctrl...)
	w.ctrl, w.ctrlFrames = w.ctrl[:0], 0
	if cap(w.ctrl) > 4<<10 {
		w.ctrl = nil // a flood's, or a large batch's
	}
	w.ctrlPending.Store(false)
	return b
}

// flushQueued has the queued frames written, if any.
func (w *wire) flushQueued() {
	if w.ctrlPending.Load() && w.wl.tryLock() {
		w.unlock()
	}
}

// queued is the bytes waiting in the queue.
func (w *wire) queued() int {
	w.ctrlMu.Lock()
	defer w.ctrlMu.Unlock()
	return len(w.ctrl)
}

// enqueue appends a frame to the queue with add and, if flush, has it
// written.
func (w *wire) enqueue(add func(q []byte) []byte, flush bool) {
	w.ctrlMu.Lock()
	if w.ctrlFrames >= maxQueuedControl {
		w.ctrlMu.Unlock()
		w.abandon(errControlFlood)
		return
	}
	w.ctrl = add(w.ctrl)
	w.ctrlFrames++
	w.ctrlPending.Store(true)
	w.ctrlMu.Unlock()
	if flush && w.wl.tryLock() {
		w.unlockNoWait()
	}
}

// maxQueuedControl bounds the control frames waiting for the write lock.
const maxQueuedControl = 10000

// errControlFlood is why a connection whose control queue overflowed ends.
var errControlFlood = &Error{code: CodeResourceExhausted, msg: fmt.Sprintf(
	"connection given up: more than %d control frames (PING answers, WINDOW_UPDATE, RST) waited for the peer to read them", maxQueuedControl)}

// unlock lets go of the write lock, writing the queued control frames
// first; one queued after that is written now if the lock is free (else by
// its next holder).
func (w *wire) unlock() { w.letGo(true) }

// unlockNoWait is unlock for a goroutine that must not wait for the
// transport (writeControl says why): it writes the queued frames only as
// far as the transport takes them at once, and leaves the rest, with the
// lock, to a new goroutine. On a socket the frames almost always go at
// once: a consumer's WINDOW_UPDATE then costs no goroutine, whose start
// woke an idle thread, which then slept in the netpoller and took every
// later wake-up of the stream's goroutines, a thread hand-off each (bench
// -trace of native/unix: Ps started 800-1271 times over 2 GiB with the
// goroutines, 187-197 with windows too large for any update).
func (w *wire) unlockNoWait() { w.letGo(false) }

// letGo is unlock if wait, else unlockNoWait.
func (w *wire) letGo(wait bool) {
	for {
		if w.ctrlPending.Load() {
			b := w.takeQueued()
			if wait {
				w.writeLocked(b)
			} else if n, done := w.tryWriteLocked(b); !done {
				go func() {
					w.writeLocked(b[n:])
					w.recycle(b)
					w.unlock()
				}()
				return
			}
			w.recycle(b)
		}
		w.wl.unlock()
		if !w.ctrlPending.Load() || !w.wl.tryLock() {
			return
		}
	}
}

// tryWriter writes as much of b as the transport takes at once, without
// waiting for room: n < len(b) with a nil error says it is full.
type tryWriter interface {
	tryWrite(b []byte) (n int, err error)
}

// takeQueued takes the queued frames, to be written; recycle gives their
// buffer back.
func (w *wire) takeQueued() []byte {
	w.ctrlMu.Lock()
	defer w.ctrlMu.Unlock()
	b := w.ctrl
	w.ctrl, w.spare = w.spare[:0], nil
	w.ctrlFrames = 0
	w.ctrlPending.Store(false)
	return b
}

// recycle keeps b, written, for the queue, unless it grew large.
func (w *wire) recycle(b []byte) {
	w.ctrlMu.Lock()
	defer w.ctrlMu.Unlock()
	if w.spare == nil && cap(b) <= 4<<10 {
		w.spare = b[:0]
	}
}

// recvWindow is the receive side of one stream's flow control. Its fields
// are guarded by the stream's lock.
type recvWindow struct {
	used    int64 // DATA bytes received and not yet given back
	unacked int64 // of those, consumed since the last WINDOW_UPDATE
}

// received accounts n bytes of the stream against window.
func (r *recvWindow) received(n uint32, window uint32, call uint32) error {
	r.used += int64(n)
	if r.used > int64(window) {
		return protocolErrorf("DATA of call %d beyond its flow-control window of %d bytes", call, window)
	}
	return nil
}

// consumed returns the stream credit to give back now, if any: half the
// window is due.
func (r *recvWindow) consumed(n int64, window uint32) (inc int64) {
	r.unacked += n
	if r.unacked >= int64(window/2) {
		inc = r.unacked
		r.unacked = 0
		r.used -= inc
	}
	return inc
}

// While the connection carries calls beside a stream, the stream's DATA
// frames are at most sharedQuantum bytes. A small call's answer waits for
// the DATA frame being written as it arrives, then for the peer to read
// what the socket holds before it. How long that one frame takes sets the
// small calls' tail: on the VM of development, bench -trace of
// mux/small-beside-stream with 512 KiB frames showed 41-53 write(2)s of
// over half a millisecond (up to 1.8 ms) in 2 s, and the slowest 1% of the
// calls were answers waiting for the write lock through one of them. The
// same calls beside the same load on another connection
// (mux/small-beside-other-conn) had a p99 of 190-290 µs.
//
// Measured on this code with the builds alternated (bench -only of
// mux/small-alone, mux/small-beside-stream and mux/stream-alone, runs of
// 3-5 rounds; the figures are run medians of the small calls' p99 beside
// the stream over their p99 alone, and of the stream's GiB/s beside them
// over its GiB/s alone):
//   - 512 KiB: 4.8-12.6x, 0.77-0.99 (six runs)
//   - 192 KiB: 2.7-5.4x, 0.74-0.81 (four runs)
//   - 128 KiB: 1.9-3.9x, 0.78-0.84 (six runs)
//   - 96 KiB: 2.2-2.8x, 0.80-0.81 (two runs)
//
// A stream alone keeps its whole chunks: smaller frames cost a stream alone
// on a unix socketpair a tenth of its GiB/s at 256 KiB.
//
// A connection counts as shared for sharedFor (tests change it) after a
// call started while another was in progress (markShared): small calls
// come and go between two frames, and the frame being written as one
// arrives is the one it waits for, so the quantum must hold between them,
// not only while one runs.
const (
	sharedQuantum = 128 << 10
	sharedFor     = 100 * time.Millisecond
)

// wireEpoch is the origin of wire.sharedAt.
var wireEpoch = time.Now()

// markShared records that a call started while another was in progress.
func (w *wire) markShared() {
	w.sharedAt.Store(int64(time.Since(wireEpoch)))
}

// shared reports whether a call started beside another within sharedFor.
func (w *wire) shared() bool {
	at := w.sharedAt.Load()
	return at != 0 && time.Since(wireEpoch)-time.Duration(at) < w.sharedFor
}
