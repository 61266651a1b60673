package native

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// wire is what a client and a server connection share: the transport, the
// framer, the write side and the send side of flow control.
type wire struct {
	rwc   io.ReadWriteCloser
	fr    *framer
	chunk int      // DATA payload size we send
	peer  settings // what the peer announced in its preface
	mine  settings // what this side announced

	wl   writeLock // serialises writes; guards werr and every half's open flag
	werr error     // sticky write error
	tw   tryWriter // writes what the transport takes at once; nil if it cannot
	vw   vecWriter // writes runs of DATA frames at once (datarun.go); nil if it cannot

	// Control frames queued by writeControl, written by the next holder of
	// wl as it lets go (unlock).
	ctrlMu      sync.Mutex
	ctrl, spare []byte
	ctrlFrames  int // ctrlMu: frames in ctrl
	ctrlPending atomic.Bool

	// Send-side flow control: credit is what the peer still takes, of the
	// connection (here) and of each stream (half.credit).
	flowMu     sync.Mutex
	flowCond   sync.Cond // on flowMu: credit arrived, a half ended, or the wire died
	connCredit int64
	dead       bool // flowMu: the transport is closed
	// onStall runs when a sender finds no credit: the owner makes sure
	// someone reads the peer's frames, its WINDOW_UPDATE among them.
	onStall func()

	// Receive-side flow control of the connection (streams keep their own).
	recvMu      sync.Mutex
	recvUsed    int64 // DATA bytes received and not yet given back
	recvUnacked int64 // of those, consumed since the last WINDOW_UPDATE

	// sharedAt is when a call last started while another was in progress
	// (markShared), in nanoseconds since wireEpoch; 0 if never.
	sharedAt  atomic.Int64
	sharedFor time.Duration

	closeOnce sync.Once
	// cause, if set, is why this side gave the connection up (abandon): the
	// owner reports it in place of the read error that follows.
	cause atomic.Pointer[Error]
}

// init sets up w on rwc, before the handshake.
func (w *wire) init(rwc io.ReadWriteCloser, lim limits) {
	w.rwc = rwc
	w.fr = newFramer(rwc, lim)
	w.tw = newTryWriter(rwc)
	if _, tcp := rwc.(*net.TCPConn); !tcp {
		// Over TCP a large frame goes in two writes (splitHead), faster
		// than in one; runs are measured over unix sockets only.
		w.vw = newWritev(rwc)
	}
	w.flowCond.L = &w.flowMu
}

// errHalfClosed is returned by writes to a message that already ended
// (the peer reset the call, or the message was completed).
var errHalfClosed = errors.New("native: message already ended")

// half is one direction of one call. open turns false once, when the frame
// that ends the half is written under wire.wl or an RST for it is queued
// (writeRST): a frame of the half is written only by a holder of wl that
// saw it open, so none follows its end. Its owner, if set, hears of the
// end once, outside the lock, after the write that ended the half. credit
// and stopped are guarded by wire.flowMu.
type half struct {
	id      uint32
	open    atomic.Bool
	owner   halfOwner
	credit  int64 // DATA bytes the peer still takes on this stream
	stopped bool  // ended: a sender waiting for credit gives up
}

// halfOwner is the call a half belongs to (a clientCall or a serverCall).
// An interface its call implements, not closures: a closure per half was
// an allocation per call.
type halfOwner interface {
	// halfEnded runs once, after the write that ended the half.
	halfEnded()
	// halfClosed runs as open turns false, before the frame ending the
	// half is written: the peer cannot see the end before it runs.
	halfClosed()
}

// ended tells the owner if this write ended the half.
func (hf *half) ended(w *wire, did bool) {
	if !did {
		return
	}
	w.stopFlow(hf)
	if hf.owner != nil {
		hf.owner.halfEnded()
	}
}

// handshake exchanges prefaces. The client writes first and the server
// answers, so both sides of an unbuffered pipe make progress; a server always
// answers with its own preface, so a client learns the server's version even
// when they differ.
func (w *wire) handshake(cfg *config, client bool) error {
	stop := w.deadline(cfg.handshakeTimeout)
	defer stop()
	w.mine = settings{maxFramePayload: cfg.lim.maxFramePayload, maxCalls: cfg.maxCalls, streamWindow: cfg.streamWindow, connWindow: cfg.connWindow}
	mine := appendPreface(nil, ProtocolVersion, w.mine)
	var peer [PrefaceLen]byte
	if client {
		if _, err := w.rwc.Write(mine); err != nil {
			return handshakeError(err)
		}
	}
	// The magic, version and frame limit first, the part version 1 had: a
	// peer of another version may send a preface of another length, and
	// gets an error naming both versions.
	if _, err := io.ReadFull(w.fr.r, peer[:prefaceHead]); err != nil {
		return handshakeError(err)
	}
	headErr := parsePrefaceHead(peer[:])
	if !client {
		if _, err := w.rwc.Write(mine); err != nil {
			return handshakeError(err)
		}
	}
	if headErr != nil {
		return headErr
	}
	if _, err := io.ReadFull(w.fr.r, peer[prefaceHead:]); err != nil {
		return handshakeError(err)
	}
	st, err := parsePreface(peer[:])
	if err != nil {
		return err
	}
	w.peer = st
	w.fr.peerMax = st.maxFramePayload
	w.chunk = min(cfg.streamChunk, int(st.maxFramePayload))
	w.sharedFor = cfg.sharedFor
	w.connCredit = int64(st.connWindow)
	return nil
}

func handshakeError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{code: CodeDeadlineExceeded, msg: "handshake timed out", err: err}
	}
	return &Error{code: CodeUnavailable, msg: "handshake failed: " + err.Error(), err: err}
}

// deadline bounds the operations that follow by d: with the transport's
// deadlines when it has them, else by closing it when d expires. The
// returned func lifts the bound.
func (w *wire) deadline(d time.Duration) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	if dl, ok := w.rwc.(interface{ SetDeadline(time.Time) error }); ok && dl.SetDeadline(time.Now().Add(d)) == nil {
		return func() { dl.SetDeadline(time.Time{}) }
	}
	t := time.AfterFunc(d, func() { w.rwc.Close() })
	return func() { t.Stop() }
}

// writeLocked writes b; the caller holds wl.
func (w *wire) writeLocked(b []byte) error {
	if w.werr != nil {
		return w.werr
	}
	if err := w.fr.write(b); err != nil {
		return w.writeFailed(err)
	}
	return nil
}

// tryWriteLocked writes as much of b as the transport takes at once; the
// caller holds wl. done is false if the rest, b[n:], is still to write:
// all of it where the transport cannot write without waiting.
func (w *wire) tryWriteLocked(b []byte) (n int, done bool) {
	switch {
	case w.werr != nil:
		return 0, true // as writeLocked: the frames are lost with the connection
	case w.tw == nil:
		return 0, false
	}
	n, err := w.tw.tryWrite(b)
	if err != nil {
		w.writeFailed(err)
		return n, true
	}
	return n, n == len(b)
}

// writeFailed makes err the connection's sticky write error.
func (w *wire) writeFailed(err error) error {
	w.werr = &Error{code: CodeUnavailable, msg: "write failed: " + err.Error(), err: err}
	return w.werr
}

// writeFrame writes one frame of a call's half, if the half is still open;
// end closes the half. A nil half writes a connection frame.
func (w *wire) writeFrame(hf *half, h FrameHeader, payload []byte, end bool) error {
	w.wl.lock(true)
	if hf != nil && !hf.take(end) {
		w.unlock()
		return errHalfClosed
	}
	err := w.writeTurn(appendFrame(w.fr.wbuf[:0], h, payload))
	if hf != nil {
		hf.ended(w, end)
	}
	return err
}

// writeMessage writes a HEADER and, if hasBody, the JSON body in BODY
// frames. It ends the half unless a stream follows. open, if not nil, runs
// under the write lock first: a client numbers its call there, so that
// calls go out in the order of their ids. A body larger than a DATA chunk
// goes out one chunk per turn of the write lock, so that another call's
// frames wait for one chunk at most, as beside a stream; the half may be
// reset between two turns, and the rest is then not sent.
func (w *wire) writeMessage(hf *half, header any, body []byte, hasBody, end bool, open func()) error {
	turn, rest := body, []byte(nil)
	if hasBody && len(body) > w.chunk {
		turn, rest = body[:w.chunk], body[w.chunk:]
	}
	did := end && rest == nil
	locked := false
	if did {
		if locked = w.wl.tryLock(); !locked {
			if queued, err := w.queueEnd(hf, header, body, hasBody, open); queued {
				return err
			}
		}
	}
	if !locked {
		w.wl.lock(true)
	}
	b := w.fr.wbuf[:0]
	if open != nil {
		// The call is numbered as the queue is taken: the requests
		// queued meanwhile (queueEnd) have lower ids, and go first.
		w.ctrlMu.Lock()
		open()
		b = w.appendQueuedLocked(b)
		w.ctrlMu.Unlock()
	}
	if !hf.take(did) {
		w.writeTurn(b)
		return errHalfClosed
	}
	b = w.appendMessage(b, hf, header, turn, hasBody, bodyFlags(rest))
	err := w.writeTurn(b)
	for err == nil && len(rest) > 0 {
		turn, rest = rest[:min(len(rest), w.chunk)], rest[min(len(rest), w.chunk):]
		w.wl.lock(true)
		if did = end && len(rest) == 0; !hf.take(did) {
			w.unlock()
			return errHalfClosed
		}
		err = w.writeTurn(w.fr.appendChunked(w.fr.wbuf[:0], TypeBody, hf.id, turn, bodyFlags(rest)))
	}
	hf.ended(w, did)
	return err
}

// bodyFlags are the flags of the last BODY frame of a turn: END if nothing
// of the body is left for another.
func bodyFlags(rest []byte) Flags {
	if len(rest) == 0 {
		return FlagEnd
	}
	return 0
}

// appendMessage appends hf's HEADER frame and, if hasBody, body in BODY
// frames, the last with flags.
func (w *wire) appendMessage(b []byte, hf *half, header any, body []byte, hasBody bool, flags Flags) []byte {
	// The header is encoded in place after room for its frame header.
	start := len(b)
	b = append(b, make([]byte, FrameHeaderLen)...)
	switch h := header.(type) {
	case *requestHeader:
		b = appendRequestHeader(b, h)
	case *responseHeader:
		b = appendResponseHeader(b, h)
	default:
		// Not naming the type keeps header from escaping: the callers'
		// headers stay on their stacks.
		panic("native: a message header of a type appendMessage does not know")
	}
	putFrameHeader(b[start:], FrameHeader{Type: TypeHeader, Length: uint32(len(b) - start - FrameHeaderLen), Call: hf.id})
	if hasBody {
		b = w.fr.appendChunked(b, TypeBody, hf.id, body, flags)
	}
	return b
}

// writeTurn writes b, the frames of one turn of the write lock, built in
// w.fr.wbuf, and the queued frames after them in the same write, and lets
// the lock go.
func (w *wire) writeTurn(b []byte) error {
	b = w.appendQueued(b)
	w.fr.wbuf = b
	var err error
	if len(b) > 0 {
		err = w.writeLocked(b)
	}
	w.fr.shrink()
	w.unlock()
	return err
}

// writeRST ends the half with RST if it is open, and reports whether it
// did. The RST is a control frame (writeControl): it never waits for the
// write lock, so the goroutine reading the connection may send it. Frames
// of the half being written now go before it; none goes after.
func (w *wire) writeRST(hf *half, code Code, msg string) bool {
	if !hf.close() {
		return false
	}
	w.writeControl(FrameHeader{Type: TypeRST, Call: hf.id}, rstPayload(code, msg))
	hf.ended(w, true)
	return true
}

// take reports whether hf is open, and ends it if end; the caller holds
// the write lock and writes the half's frame.
func (hf *half) take(end bool) bool {
	if end {
		return hf.close()
	}
	return hf.open.Load()
}

// close turns open false, and reports whether this call did.
func (hf *half) close() bool {
	if !hf.open.CompareAndSwap(true, false) {
		return false
	}
	if hf.owner != nil {
		hf.owner.halfClosed()
	}
	return true
}

// isOpen reports whether hf is still open.
func (hf *half) isOpen() bool { return hf.open.Load() }

// rstPayload is the RST payload: the code, then the message.
func rstPayload(code Code, msg string) []byte {
	if len(msg) > maxRSTMessage {
		msg = msg[:maxRSTMessage]
	}
	b := make([]byte, 4, 4+len(msg))
	b[0], b[1], b[2], b[3] = byte(code>>24), byte(code>>16), byte(code>>8), byte(code)
	return append(b, msg...)
}

// parseRST decodes an RST payload.
func parseRST(p []byte) (Code, string) {
	return Code(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])), string(p[4:])
}

// reset tells the peer the connection is being torn down because of err (an
// RST on call 0), without waiting long for a writer that is stuck, then
// closes the transport.
func (w *wire) reset(err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if dl, ok := w.rwc.(interface{ SetWriteDeadline(time.Time) error }); ok {
			dl.SetWriteDeadline(time.Now().Add(time.Second))
		}
		w.wl.lock(true)
		defer w.unlock()
		if w.werr == nil {
			w.fr.wbuf = appendFrame(w.fr.wbuf[:0], FrameHeader{Type: TypeRST}, rstPayload(CodeOf(err), messageOf(err)))
			w.writeLocked(w.fr.wbuf)
		}
	}()
	t := time.NewTimer(time.Second)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	w.close()
	<-done
}

// abandon closes the transport because of err: the owner's reader, failing
// on the closed transport, reports err instead (failure).
func (w *wire) abandon(err *Error) {
	w.cause.CompareAndSwap(nil, err)
	w.close()
}

// failure returns err, or why the connection was abandoned if it was.
func (w *wire) failure(err error) error {
	if e := w.cause.Load(); e != nil {
		return e
	}
	return err
}

// close closes the transport once, and wakes the senders waiting for
// credit.
func (w *wire) close() {
	w.closeOnce.Do(func() {
		w.rwc.Close()
		w.flowMu.Lock()
		w.dead = true
		w.flowMu.Unlock()
		w.flowCond.Broadcast()
	})
}
