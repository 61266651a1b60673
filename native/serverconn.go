package native

import (
	"bufio"
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

// serverConn is the server side of one connection. Two goroutines (the one
// that called ServeConn and one started at the first call) take turns at
// reading frames and running the frame state machine; the one that reads a
// request runs its handler and writes the response (see loop).
type serverConn struct {
	s        *Server
	cfg      *config
	w        wire
	peer     string
	ctx      context.Context // cancelled when the connection ends
	cancel   context.CancelFunc
	handlers sync.WaitGroup

	rd *deadlineReader // nil without WithReadTimeout

	turn      chan struct{} // the reading role, passed between the two goroutines
	endErr    error         // why the connection ended; set before turn is closed
	lend      *time.Timer   // passes the role on from a long handler (runInline)
	lendMu    sync.Mutex
	lendArmed bool     // lendMu: lend is set
	lendSeq   uint64   // lendMu: handlers run inline so far, which numbers them
	lendCur   *lendRun // lendMu: the run holding the reading role, if any
	lendSeen  uint64   // lendMu: lendCur's number when lend last fired

	// Owned by the goroutine reading frames (see loop).
	second  bool        // the second goroutine was started
	due     *serverCall // the call whose handler is to run next
	cur     *serverCall
	lastID  uint32
	scratch []byte

	mu        sync.Mutex
	ready     bool        // the handshake is done: frames may be written
	active    *serverCall // the call between its HEADER and its completion
	served    uint32      // the last call id received (lastID, for CLOSE)
	drain     bool        // go away once idle
	goingAway bool        // CLOSE sent, or about to be (closeOnce)
	awayWhy   string      // why, for the calls refused meanwhile
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
	id     uint32
	h      *handler // nil when the call is rejected
	hdr    requestHeader
	ctx    context.Context
	cancel context.CancelCauseFunc
	ci     *callInfo

	// Request half, owned by the reader goroutine.
	expect     reqPart
	body       []byte
	held       int64 // the body's bytes taken from the server's budget
	tooBig     bool
	overBudget bool
	stream     *streamReader

	resp   half         // response half; resp.open guarded by wire.wmu
	halves atomic.Int32 // halves not yet ended
}

func newServerConn(s *Server, rwc io.ReadWriteCloser) *serverConn {
	c := &serverConn{s: s, cfg: &s.cfg}
	c.w.rwc = rwc
	c.w.fr = newFramer(rwc, s.cfg.lim)
	if dc, ok := rwc.(interface{ SetReadDeadline(time.Time) error }); ok && s.cfg.readTimeout > 0 {
		c.rd = &deadlineReader{r: rwc, conn: dc, d: s.cfg.readTimeout}
		c.rd.idle.Store(true)
		c.w.fr.r = bufio.NewReaderSize(c.rd, readBufferSize)
	}
	if nc, ok := rwc.(net.Conn); ok && nc.RemoteAddr() != nil {
		c.peer = nc.RemoteAddr().String()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.idleSince = time.Now()
	c.turn = make(chan struct{}, 1)
	c.lend = time.AfterFunc(time.Hour, c.lendRole)
	c.lend.Stop()
	return c
}

// errCleanClose ends the reader loop after the close handshake.
var errCleanClose = errors.New("closed cleanly")

func (c *serverConn) serve() error {
	defer c.cancel()
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
	c.loop(true)
	c.handlers.Wait()
	return c.endErr
}

// loop is run by the connection's two goroutines, which take turns at
// reading frames; the reading role passes between them on c.turn. reading
// says whether this goroutine reads first; the other waits for its turn.
// The goroutine that reads a call's request runs its handler itself:
//   - a handler that reads a request stream needs the stream's frames read
//     while it runs, so the role passes to the other goroutine first;
//   - any other handler runs inline, and the role is lent to the other
//     goroutine only if it runs longer than lendAfter (runInline). A small
//     call then passes between no goroutines on the server at all: each
//     hand-off wakes a goroutine, and with an idle P a thread (futex), which
//     measured here cost as much as the rest of the call.
//
// The goroutine whose read fails ends the connection and closes c.turn.
func (c *serverConn) loop(reading bool) {
	var inline lendRun
	for {
		if !reading {
			if _, ok := <-c.turn; !ok {
				return
			}
		}
		call, err := c.readLoop()
		if err != nil {
			c.endErr = c.teardown(err)
			close(c.turn)
			return
		}
		if !c.second {
			c.second = true
			c.handlers.Add(1)
			go func() {
				defer c.handlers.Done()
				c.loop(false)
			}()
		}
		if call.stream != nil {
			c.turn <- struct{}{}
			c.run(call)
			reading = false
			continue
		}
		reading = c.runInline(call, &inline)
	}
}

// lendAfter bounds how long a handler run inline keeps the connection
// unread: between lendAfter and twice that, the other goroutine takes over
// reading (an RST aborting the call, or a PING, waits that long at most).
const lendAfter = time.Millisecond

// lendRun is a handler run inline by one of the two goroutines (each has
// its own, which its next run reuses).
type lendRun struct {
	seq  uint64 // lendMu: the run's number
	lent bool   // lendMu: the reading role passed on during the run
}

// runInline runs call's handler on the goroutine that holds the reading
// role, and reports whether this goroutine holds it still: c.lend passes it
// to the other goroutine if the handler runs too long. A lent handler may
// still run while the next call's handler starts and is lent in turn (its
// call was aborted, or its goroutine waits for a CPU), so each run keeps
// its own lent flag. c.lend is not reset per call: that put a timer ahead
// of a netpoller asleep with a later one, and woke it (a thread) at every
// call. It stays armed while inline handlers keep coming, and lends when
// the run it saw last time still runs (lendRole).
func (c *serverConn) runInline(call *serverCall, r *lendRun) bool {
	c.lendMu.Lock()
	c.lendSeq++
	r.seq, r.lent = c.lendSeq, false
	c.lendCur = r
	if !c.lendArmed {
		c.lendArmed = true
		c.lend.Reset(lendAfter)
	}
	c.lendMu.Unlock()
	c.run(call)
	c.lendMu.Lock()
	lent := r.lent
	if c.lendCur == r {
		c.lendCur = nil
	}
	c.lendMu.Unlock()
	return !lent
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
		c.lend.Reset(lendAfter)
	default:
		c.lendCur.lent, c.lendCur = true, nil
		c.lendArmed = false
		c.turn <- struct{}{}
	}
}

// teardown ends the connection after the reading goroutine's err; it
// returns the error ServeConn reports.
func (c *serverConn) teardown(err error) error {
	c.cancel()
	if cur := c.cur; cur != nil && cur.expect == partStream && cur.stream != nil {
		cur.stream.end(truncated(io.ErrUnexpectedEOF))
		cur.expect = partDone
	} else if cur != nil && cur.expect == partJSON {
		c.releaseBody(cur)
	}
	switch {
	case err == errCleanClose:
		err = nil
		c.w.close()
	case errors.Is(err, ErrProtocol):
		c.cfg.logger.Warn("native: closing connection after a protocol error", "peer", c.peer, "err", err)
		c.w.reset(err)
	default:
		c.w.close()
		if errors.Is(err, io.EOF) {
			err = &Error{code: CodeUnavailable, msg: "connection closed by the peer without the close handshake", err: err}
		}
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

// readLoop reads frames until a call's handler is due to run (it returns
// the call) or the connection ends (it returns why).
func (c *serverConn) readLoop() (*serverCall, error) {
	for {
		if c.rd != nil {
			// Waiting for a frame is unbounded only between requests:
			// nothing buffered of the next frame, and no request that
			// still expects frames.
			c.rd.idle.Store(c.w.fr.r.Buffered() == 0 && (c.cur == nil || c.cur.expect == partDone))
		}
		h, err := c.w.fr.readHeader()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, c.rd.timeoutError()
		}
		if err == io.ErrUnexpectedEOF {
			// Not a vanished peer (that is io.EOF, between frames): the
			// peer ended its side in the middle of a frame.
			return nil, protocolErrorf("connection ended in the middle of a frame header")
		}
		if err != nil {
			return nil, err
		}
		switch h.Type {
		case TypeHeader:
			err = c.onHeader(h)
		case TypeBody:
			err = c.onBody(h)
		case TypeData:
			err = c.onData(h)
		case TypeTrailer:
			err = c.onTrailer(h)
		case TypeRST:
			err = c.onRST(h)
		case TypeClose:
			err = c.onClose(h)
		case TypeCloseAck:
			err = c.onCloseAck()
		case TypePing:
			err = c.onPing(h)
		}
		if c.rd != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			err = c.rd.timeoutError()
		}
		if err = cutPayload(h, err); err != nil {
			return nil, err
		}
		if call := c.due; call != nil {
			c.due = nil
			return call, nil
		}
	}
}

// deadlineReader reads the connection with a read deadline d ahead, except
// for a read that waits for the first byte of a frame between requests
// (idle).
type deadlineReader struct {
	r    io.Reader
	conn interface{ SetReadDeadline(time.Time) error }
	d    time.Duration
	idle atomic.Bool
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	var dl time.Time
	idle := r.idle.Load()
	if !idle {
		dl = time.Now().Add(r.d)
	}
	if err := r.conn.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if n > 0 && idle {
		r.idle.Store(false) // the rest of this frame is due within d
	}
	return n, err
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

// goAway asks the client to close the connection once the current call,
// if any, is done, and once the handshake is: nothing may precede the
// server's preface.
func (c *serverConn) goAway() {
	c.mu.Lock()
	c.drain = true
	if !c.goingAway {
		c.awayWhy = "server is shutting down"
	}
	send := c.ready && c.active == nil && !c.goingAway
	c.goingAway = c.goingAway || send
	c.mu.Unlock()
	if send {
		c.sendClose()
	}
}

// sendClose sends CLOSE with the last call id served, once; the connection
// is closed if the client does not acknowledge in time. A second caller
// returns once the CLOSE is written.
func (c *serverConn) sendClose() { c.closeOnce.Do(c.writeClose) }

func (c *serverConn) writeClose() {
	c.mu.Lock()
	last := c.lastIDLocked()
	c.closeTmr = time.AfterFunc(c.cfg.closeTimeout, c.w.close)
	c.mu.Unlock()
	c.w.writeFrame(nil, FrameHeader{Type: TypeClose}, binary.BigEndian.AppendUint32(nil, last), false)
}

func (c *serverConn) lastIDLocked() uint32 {
	// Not c.active: it is nil by the time the connection is idle and
	// CLOSE goes out.
	return c.served
}
