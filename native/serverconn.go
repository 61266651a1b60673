package native

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// serverConn is the server side of one connection. A reader goroutine reads
// the client's frames; it runs small handlers itself (runInline) and starts
// a goroutine for the others. A handler that reads a request stream reads
// the connection itself while it waits for its bytes (role.go).
type serverConn struct {
	s        *Server
	cfg      *config
	w        wire
	rr       readRole
	hb       heartbeat
	peer     string
	ctx      context.Context // cancelled when the connection ends, with why
	cancel   context.CancelCauseFunc
	handlers sync.WaitGroup

	rd *deadlineReader // nil without WithReadTimeout

	ended   chan struct{} // closed when reading ended; endErr says why
	endErr  error
	endOnce sync.Once

	lend      *time.Timer // passes the role on from a long handler (runInline)
	lendMu    sync.Mutex
	lendArmed bool     // lendMu: lend is set
	lendSeq   uint64   // lendMu: handlers run inline so far, which numbers them
	lendCur   *lendRun // lendMu: the run holding the reading role, if any
	lendSeen  uint64   // lendMu: lendCur's number when lend last fired

	// Owned by the holder of the reading role.
	holder *streamReader // the stream whose reader holds it; nil: the reader goroutine
	due    *serverCall   // a call whose handler the reader goroutine runs next
	lastID uint32

	mu        sync.Mutex
	ready     bool                   // the handshake is done: frames may be written
	calls     map[uint32]*serverCall // between their HEADER and their completion
	over      bool                   // reading is over
	failErr   error                  // why the connection was failed from outside reading
	served    uint32                 // the last call id taken (for CLOSE)
	drain     bool                   // go away
	goingAway bool                   // CLOSE sent, or about to be (closeOnce)
	awayWhy   string                 // why, for the calls refused meanwhile
	closeTmr  *time.Timer
	closeOnce sync.Once
	idleSince time.Time   // accepted, or the last call ended (idle.go)
	idleTmr   *time.Timer // closes the connection once idle too long
}

// reqPart is where a request's reading is.
type reqPart uint8

const (
	partJSON reqPart = iota
	partStream
	partDone
)

// serverCall is one call on a server connection.
type serverCall struct {
	conn        *serverConn
	id          uint32
	h           *handler // nil when the call is rejected
	hdr         requestHeader
	ctx         context.Context // &cctx, or a timeout's context derived from it
	info        callInfo
	cctx        callContext        // with info
	stopTimeout context.CancelFunc // nil without a timeout
	inv         invocation         // the handler's arguments and results (respond)

	// Request half, owned by the role's holder.
	expect reqPart
	body   jsonBody
	inline *lendRun // the run of its handler on the reader goroutine, if inline
	stream *streamReader

	resp    half         // response half
	halves  atomic.Int32 // halves not yet ended
	counted atomic.Bool  // counted against WithMaxServerCalls until it ends
}

// cancel cancels the call's context with cause.
func (call *serverCall) cancel(cause error) {
	call.cctx.cancel(cause)
	if call.stopTimeout != nil {
		call.stopTimeout()
	}
}

// halfEnded: the response ended (halfDone counts both halves).
func (call *serverCall) halfEnded() { call.conn.halfDone(call) }

// halfClosed: the client may start another call as soon as it sees this
// one's response end, so the place is given back before that.
func (call *serverCall) halfClosed() { call.conn.s.releaseCall(call) }

func newServerConn(s *Server, rwc io.ReadWriteCloser) *serverConn {
	c := &serverConn{s: s, cfg: &s.cfg, calls: map[uint32]*serverCall{}, ended: make(chan struct{})}
	c.w.init(rwc, s.cfg.lim)
	c.rr.init(serverIdleAfter)
	if dc, ok := rwc.(interface{ SetReadDeadline(time.Time) error }); ok && s.cfg.readTimeout > 0 {
		c.rd = &deadlineReader{r: rwc, vec: c.w.fr.vec, conn: dc, d: s.cfg.readTimeout}
		c.rd.idle.Store(true)
		var vec vecReader
		if c.rd.vec != nil {
			vec = c.rd
		}
		c.w.fr.readFrom(c.rd, vec)
	}
	if nc, ok := rwc.(net.Conn); ok && nc.RemoteAddr() != nil {
		c.peer = nc.RemoteAddr().String()
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.idleSince = time.Now()
	c.lend = time.AfterFunc(time.Hour, c.lendRole)
	c.lend.Stop()
	return c
}

// errCleanClose ends the reader loop after the close handshake.
var errCleanClose = errors.New("closed cleanly")

func (c *serverConn) serve() error {
	defer c.cancel(nil)
	if err := c.w.handshake(c.cfg, false); err != nil {
		// Logged before the teardown, as a protocol error after the
		// handshake is: once the peer sees the connection end, it is logged.
		c.cfg.logger.Warn("native: handshake failed", "peer", c.peer, "err", err)
		if errors.Is(err, ErrProtocol) || CodeOf(err) == CodeUnimplemented {
			c.w.reset(err)
		}
		c.w.close()
		return err
	}
	c.w.onStall = c.rr.wakeReader
	// A Shutdown during the handshake waited for it: go away now.
	c.mu.Lock()
	c.ready = true
	send := c.drain && !c.goingAway
	c.goingAway = c.goingAway || send
	c.idleSince = time.Now()
	c.mu.Unlock()
	if send {
		c.sendClose()
	}
	c.startIdleTimer()
	c.hb.start(c.cfg, &c.w, c.failFromOutside)
	c.readLoop()
	<-c.ended
	c.handlers.Wait()
	c.mu.Lock()
	for _, call := range c.calls {
		c.s.releaseCall(call) // a call the teardown cut short
	}
	c.mu.Unlock()
	return c.endErr
}

// readLoop is the reader goroutine: it reads frames and runs the handlers
// that are due inline, until reading is over or a long handler lent the
// role to a new reader goroutine.
func (c *serverConn) readLoop() {
	var inline lendRun
	for {
		call, over := c.readUntilDue()
		if over {
			return
		}
		if !c.runInline(call, &inline) {
			return
		}
	}
}

// readUntilDue reads frames until a call's handler is due to run inline, or
// reading is over. It parks the role while a request stream's reader waits
// to read for itself.
func (c *serverConn) readUntilDue() (*serverCall, bool) {
	for {
		if c.readOne(nil) {
			return nil, true
		}
		if call := c.due; call != nil {
			c.due = nil
			return call, false
		}
		if c.rr.waiters.Load() > 0 {
			c.rr.park(false)
			<-c.rr.wake
			if c.isOver() {
				return nil, true
			}
		}
	}
}

func (c *serverConn) isOver() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}

// parkRole parks the role after a stream's reader read its own frame.
func (c *serverConn) parkRole() { c.rr.park(false) }

// leaveRole leaves the role for the request stream's reader that holds it.
func (c *serverConn) leaveRole() { c.rr.leave() }

// readOne reads one frame and handles it; see frameConn.
func (c *serverConn) readOne(me *streamReader) (over bool) {
	c.holder = me
	err := c.rr.settle(c.w.fr, me)
	var h FrameHeader
	if err == nil {
		if !c.w.fr.frameBuffered() {
			c.w.flushQueued() // the responses batched (batchable)
		}
		if c.rd != nil {
			// Waiting for a frame is unbounded only between requests:
			// nothing buffered of the next frame, and no request that
			// still expects frames.
			c.rd.idle.Store(c.w.fr.r.Buffered() == 0 && c.noRequestOpen())
		}
		h, err = c.w.fr.readHeader()
		if errors.Is(err, os.ErrDeadlineExceeded) && c.rd != nil {
			err = c.rd.timeoutError()
		} else if err == io.ErrUnexpectedEOF {
			// Not a vanished peer (that is io.EOF, between frames): the
			// peer ended its side in the middle of a frame.
			err = protocolErrorf("connection ended in the middle of a frame header")
		} else if err == nil {
			err = c.onFrame(h, me)
			if c.rd != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				err = c.rd.timeoutError()
			}
			err = cutPayload(h, err)
		}
	}
	if err == nil {
		return false
	}
	c.readFailed(err)
	return true
}

// noRequestOpen reports whether no request still expects frames.
func (c *serverConn) noRequestOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, call := range c.calls {
		if call.expect != partDone {
			return false
		}
	}
	return true
}

func (c *serverConn) onFrame(h FrameHeader, me *streamReader) error {
	if ok, err := c.w.onConnFrame(h, func() ([]byte, error) { return c.payload(h) }, c, "peer"); ok {
		return err
	}
	switch h.Type {
	case TypeHeader:
		return c.onHeader(h)
	case TypeBody:
		return c.onBody(h)
	case TypeData:
		return c.onData(h, me)
	case TypeTrailer:
		return c.onTrailer(h)
	case TypeRST:
		return c.onRST(h)
	case TypeClose:
		return c.onClose(h)
	}
	return protocolErrorf("unexpected %v frame", h.Type)
}

// failFromOutside ends the connection from a goroutine that does not read
// it (the heartbeat): the transport is closed, and whoever reads next
// fails and tears down with err.
func (c *serverConn) failFromOutside(err error) {
	c.mu.Lock()
	if c.failErr == nil {
		c.failErr = err
	}
	c.mu.Unlock()
	c.w.close()
	c.rr.wakeReader()
}

// readFailed ends the connection after its role holder's read failed, and
// gives the role to the reader goroutine, which exits.
func (c *serverConn) readFailed(err error) {
	err = c.w.failure(err)
	if c.rd != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = c.rd.timeoutError()
	}
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.over = true
		if c.failErr != nil {
			err = c.failErr
		}
		c.mu.Unlock()
		c.endErr = c.teardown(err)
		close(c.ended)
	})
	c.rr.handOver()
}

// teardown ends the connection after the reading goroutine's err; it
// returns the error ServeConn reports.
func (c *serverConn) teardown(err error) error {
	if errors.Is(err, io.EOF) {
		err = &Error{code: CodeUnavailable, msg: "connection closed by the peer without the close handshake", err: err}
	}
	if err != errCleanClose {
		c.cancel(err) // a handler still running learns why (context.Cause)
	}
	c.cancel(nil)
	c.hb.stop()
	c.rr.stop()
	c.mu.Lock()
	calls := make([]*serverCall, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	c.mu.Unlock()
	for _, call := range calls {
		switch {
		case call.expect == partStream && call.stream != nil:
			call.stream.end(truncated(io.ErrUnexpectedEOF))
		case call.expect == partJSON:
			call.body.release(&c.s.bodies)
		}
	}
	switch {
	case err == errCleanClose:
		err = nil
		c.w.close()
	case errors.Is(err, ErrProtocol):
		c.cfg.logger.Warn("native: closing connection after a protocol error", "peer", c.peer, "err", err)
		c.w.reset(err)
	case c.w.cause.Load() != nil:
		c.cfg.logger.Warn("native: gave the connection up", "peer", c.peer, "err", err)
	default:
		c.w.close()
	}
	c.lendMu.Lock()
	c.lend.Stop()
	c.lendArmed = false
	c.lendMu.Unlock()
	c.mu.Lock()
	if c.closeTmr != nil {
		c.closeTmr.Stop()
	}
	if c.idleTmr != nil {
		c.idleTmr.Stop()
	}
	c.mu.Unlock()
	return err
}

// deadlineReader reads the connection with a read deadline d ahead, except
// for a read that waits for the first byte of a frame between requests
// (idle).
type deadlineReader struct {
	r    io.Reader
	vec  vecReader // r's vectored reader, if any
	conn interface{ SetReadDeadline(time.Time) error }
	d    time.Duration
	idle atomic.Bool
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	idle, err := r.arm()
	if err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.got(n, idle)
	return n, err
}

func (r *deadlineReader) readVec(bufs [][]byte) (int, error) {
	idle, err := r.arm()
	if err != nil {
		return 0, err
	}
	n, err := r.vec.readVec(bufs)
	r.got(n, idle)
	return n, err
}

// arm sets the read deadline of the next read: none while idle.
func (r *deadlineReader) arm() (idle bool, err error) {
	var dl time.Time
	idle = r.idle.Load()
	if !idle {
		dl = time.Now().Add(r.d)
	}
	return idle, r.conn.SetReadDeadline(dl)
}

// got notes a read of n bytes made while idle or not.
func (r *deadlineReader) got(n int, idle bool) {
	if n > 0 && idle {
		r.idle.Store(false) // the rest of this frame is due within d
	}
}

func (r *deadlineReader) timeoutError() error {
	return &Error{code: CodeDeadlineExceeded, err: os.ErrDeadlineExceeded,
		msg: fmt.Sprintf("read timeout: the peer sent nothing for %v in the middle of a frame or of a request", r.d)}
}

// cutPayload names the error of a frame whose payload the transport ended
// before its announced length (io.EOF or io.ErrUnexpectedEOF from reading
// it); other errors pass through. The code is Unavailable, as for any
// connection lost: a peer that dies mid-frame is far likelier than one
// that lies about a length.
func cutPayload(h FrameHeader, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &Error{code: CodeUnavailable, err: io.ErrUnexpectedEOF,
			msg: fmt.Sprintf("connection ended in the middle of a frame: %v frame of call %d announced a %d-byte payload", h.Type, h.Call, h.Length)}
	}
	return err
}

// goAway tells the client, with CLOSE, that the connection takes no new
// calls: the calls in progress finish, and the client closes once they
// have. Nothing may precede the server's preface: during the handshake it
// waits for serve.
func (c *serverConn) goAway() {
	c.mu.Lock()
	c.drain = true
	if !c.goingAway {
		c.awayWhy = "server is shutting down"
	}
	send := c.ready && !c.goingAway
	c.goingAway = c.goingAway || send
	c.mu.Unlock()
	if send {
		c.sendClose()
	}
}

// sendClose sends CLOSE with the last call id taken, once, as a control
// frame (the reader sends it too, and never waits for a write). Once no call
// is left, the connection is closed if the client does not acknowledge in
// time (armCloseTimer). A second caller returns once the CLOSE is queued:
// a refusal queued after it goes out after it.
func (c *serverConn) sendClose() { c.closeOnce.Do(c.writeClose) }

func (c *serverConn) writeClose() {
	c.mu.Lock()
	last := c.served
	// Calls the client sends from now on are refused (onHeader): the
	// CLOSE names the last one taken.
	c.goingAway = true
	c.mu.Unlock()
	c.w.writeControl(FrameHeader{Type: TypeClose}, binary.BigEndian.AppendUint32(nil, last))
	c.mu.Lock()
	c.armCloseTimerLocked()
	c.mu.Unlock()
}

// armCloseTimerLocked bounds the wait for CLOSE_ACK once CLOSE is out and
// no call is left.
func (c *serverConn) armCloseTimerLocked() {
	if c.goingAway && len(c.calls) == 0 && c.closeTmr == nil && !c.over {
		c.closeTmr = time.AfterFunc(c.cfg.closeTimeout, c.w.close)
	}
}
