package native

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framegate/framegate/internal/clip"
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

// payload reads the current frame's payload into the scratch buffer.
func (c *serverConn) payload(h FrameHeader) ([]byte, error) {
	b, err := c.w.fr.readPayload(c.scratch, h.Length)
	if cap(b) <= 64<<10 {
		c.scratch = b
	}
	return b, err
}

func (c *serverConn) onHeader(fh FrameHeader) error {
	if prev := c.cur; prev != nil && (prev.expect != partDone || c.w.isOpen(&prev.resp)) {
		return protocolErrorf("HEADER for call %d while call %d is in progress", fh.Call, prev.id)
	}
	if fh.Call <= c.lastID {
		return protocolErrorf("HEADER for call %d, not above the previous call %d", fh.Call, c.lastID)
	}
	p, err := c.payload(fh)
	if err != nil {
		return err
	}
	call := &serverCall{id: fh.Call, resp: half{id: fh.Call, open: true}}
	if err := decodeHeader("request header", p, &call.hdr); err != nil {
		return err
	}
	if err := call.hdr.validate(); err != nil {
		return protocolErrorf("call %d: %v", fh.Call, err)
	}
	c.lastID, c.cur = fh.Call, call
	call.halves.Store(2)
	call.resp.onEnd = func() { c.halfDone(call) }
	call.ci = &callInfo{endpoint: call.hdr.Method, peer: c.peer, incoming: call.hdr.Metadata, rangeSpec: call.hdr.Range, ifRange: call.hdr.IfRange}
	ctx, cancel := context.WithCancelCause(c.ctx)
	if call.hdr.Timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, time.Duration(call.hdr.Timeout))
		call.cancel = func(cause error) { cancel(cause); stop() }
	} else {
		call.cancel = cancel
	}
	call.ctx = withCallInfo(ctx, call.ci)

	c.mu.Lock()
	away, why := c.goingAway, c.awayWhy
	c.active = call
	if !away {
		c.served = call.id // the CLOSE says the calls above it were not processed
	}
	c.mu.Unlock()

	var reject *Error
	h := c.s.lookup(call.hdr.Method)
	switch {
	case away:
		c.sendClose() // the client learns of the CLOSE before the refusal
		reject = &Error{code: CodeUnavailable, msg: why + "; the call was not processed"}
	case h == nil:
		reject = Errorf(CodeUnimplemented, "unknown endpoint %s", clip.Quote(call.hdr.Method))
	case call.hdr.Body != h.request:
		reject = Errorf(CodeInvalidArgument, "endpoint %q takes a %s request, the call sent %s", call.hdr.Method, h.request, call.hdr.Body)
	case call.hdr.Accept != h.response:
		reject = Errorf(CodeInvalidArgument, "endpoint %q answers %s, the caller expects %s", call.hdr.Method, h.response, call.hdr.Accept)
	}
	switch {
	case call.hdr.Body.HasJSON():
		call.expect = partJSON
	case call.hdr.Body.HasStream():
		call.expect = partStream
	default:
		call.expect = partDone
	}
	if reject != nil {
		c.respondError(call, reject)
	} else {
		call.h = h
		if call.expect != partJSON {
			c.dispatch(call)
		}
	}
	if call.expect == partDone {
		c.halfDone(call)
	}
	return nil
}

// dispatch starts the handler once the request's JSON part is in.
func (c *serverConn) dispatch(call *serverCall) {
	if call.expect == partStream {
		call.stream = newStreamReader(c.w.fr, call.id, nil)
	}
	c.handlers.Add(1)
	c.due = call // readLoop returns it, to loop
}

func (c *serverConn) current(fh FrameHeader, want reqPart) (*serverCall, error) {
	call := c.cur
	if call == nil || call.id != fh.Call || call.expect != want {
		return nil, protocolErrorf("unexpected %v frame for call %d", fh.Type, fh.Call)
	}
	return call, nil
}

func (c *serverConn) onBody(fh FrameHeader) error {
	call, err := c.current(fh, partJSON)
	if err != nil {
		return err
	}
	if !call.tooBig && int64(len(call.body))+int64(fh.Length) > c.cfg.lim.maxBodySize {
		call.tooBig = true
		c.releaseBody(call)
	}
	if call.h == nil || call.tooBig || call.overBudget {
		if err := c.w.fr.discard(fh.Length); err != nil {
			return err
		}
	} else if err := c.readBody(call, fh.Length); err != nil {
		return err
	}
	if fh.Flags&FlagEnd == 0 {
		return nil
	}
	call.expect = partDone
	if call.hdr.Body.HasStream() {
		call.expect = partStream
	}
	if call.h != nil {
		switch {
		case call.tooBig:
			call.h = nil
			c.respondError(call, Errorf(CodeResourceExhausted, "request body of %q exceeds the limit of %d bytes", call.hdr.Method, c.cfg.lim.maxBodySize))
		case call.overBudget:
			call.h = nil
			c.respondError(call, c.overBudgetError(call))
		default:
			c.dispatch(call)
		}
	}
	if call.expect == partDone {
		c.halfDone(call)
	}
	return nil
}

func (c *serverConn) onData(fh FrameHeader) error {
	call, err := c.current(fh, partStream)
	if err != nil {
		return err
	}
	if call.stream == nil {
		return c.w.fr.discard(fh.Length)
	}
	return call.stream.deliverData(fh.Length)
}

func (c *serverConn) onTrailer(fh FrameHeader) error {
	call, err := c.current(fh, partStream)
	if err != nil {
		return err
	}
	p, err := c.payload(fh)
	if err != nil {
		return err
	}
	var t trailer
	if err := decodeHeader("request trailer", p, &t); err != nil {
		return err
	}
	if call.stream != nil {
		if t.Code == CodeOK {
			call.stream.end(io.EOF)
		} else {
			call.stream.end(&Error{code: t.Code, msg: "request stream failed at the sender: " + t.Message})
		}
	}
	call.expect = partDone
	c.halfDone(call)
	return nil
}

func (c *serverConn) onRST(fh FrameHeader) error {
	p, err := c.payload(fh)
	if err != nil {
		return err
	}
	code, msg := parseRST(p)
	if fh.Call == 0 {
		return &Error{code: CodeUnavailable, msg: fmt.Sprintf("connection reset by the peer: %v: %s", code, msg)}
	}
	call := c.cur
	if call == nil || call.id != fh.Call {
		return protocolErrorf("RST for call %d, which is not the current call", fh.Call)
	}
	cause := &Error{code: code, msg: "call aborted by the client: " + msg}
	call.cancel(cause)
	if call.expect != partDone {
		if call.expect == partStream && call.stream != nil {
			call.stream.end(cause)
		}
		if call.expect == partJSON {
			c.releaseBody(call)
		}
		call.expect = partDone
		c.halfDone(call)
	}
	_, err = c.w.writeRST(&call.resp, CodeCanceled, "call aborted by the client")
	if err != nil {
		return err
	}
	return nil
}

func (c *serverConn) onClose(fh FrameHeader) error {
	if _, err := c.payload(fh); err != nil {
		return err
	}
	if prev := c.cur; prev != nil && (prev.expect != partDone || c.w.isOpen(&prev.resp)) {
		return protocolErrorf("CLOSE while call %d is in progress", prev.id)
	}
	c.w.writeFrame(nil, FrameHeader{Type: TypeCloseAck}, nil, false)
	return errCleanClose
}

func (c *serverConn) onCloseAck() error {
	c.mu.Lock()
	away := c.goingAway
	c.mu.Unlock()
	if !away {
		return protocolErrorf("CLOSE_ACK without a CLOSE")
	}
	return errCleanClose
}

func (c *serverConn) onPing(fh FrameHeader) error {
	p, err := c.payload(fh)
	if err != nil || fh.Flags&FlagAck != 0 {
		return err
	}
	return c.w.writeFrame(nil, FrameHeader{Type: TypePing, Flags: FlagAck}, p, false)
}

// halfDone is called once per half; the second call completes the call.
func (c *serverConn) halfDone(call *serverCall) {
	if call.halves.Add(-1) != 0 {
		return
	}
	call.cancel(errCallDone)
	c.mu.Lock()
	send := false
	if c.active == call {
		c.active = nil
		c.idleSince = time.Now()
		send = c.drain && !c.goingAway
		c.goingAway = c.goingAway || send
	}
	c.mu.Unlock()
	if send {
		c.sendClose()
	}
}

var errCallDone = errors.New("native: call complete")

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

// run calls the handler and writes the response.
func (c *serverConn) run(call *serverCall) {
	defer c.handlers.Done()
	h := call.h
	var inv invocation
	var err error
	if h.reqType != nil {
		inv.req = h.newRequest()
		err = decodeRequest(call.hdr.Method, call.body, inv.req)
		call.body = nil
	}
	c.releaseBody(call)
	if call.stream != nil {
		inv.body = call.stream
	}
	if err == nil {
		err = h.call(call.ctx, &inv)
	}
	if call.stream != nil {
		call.stream.abort(errHandlerReturned)
	}
	if err != nil {
		if errors.Is(err, errPanic) {
			c.cfg.logger.Error("native: handler panicked", "endpoint", call.hdr.Method, "peer", c.peer, "err", err)
		}
		closeStream(inv.stream)
		c.respondError(call, err)
		return
	}
	ci := call.ci
	ci.sent = true
	rh := responseHeader{Body: h.response, Metadata: ci.header}
	if h.response == BodyJSON {
		data, merr := json.Marshal(inv.resp)
		if merr != nil {
			c.respondError(call, Errorf(CodeInternal, "cannot encode the response of %q: %v", call.hdr.Method, merr))
			return
		}
		rh.Trailer = ci.trailer
		c.w.writeMessage(&call.resp, &rh, data, true, true)
		return
	}
	defer closeStream(inv.stream)
	info, src, err := prepareStream(inv.stream, call.hdr.Range, call.hdr.IfRange)
	if err != nil {
		ci.header = withRangeSize(ci.header, err)
		c.respondError(call, err)
		return
	}
	if info != nil {
		rh.Stream = info.wire()
	}
	if call.hdr.Head {
		if c.w.writeMessage(&call.resp, &rh, nil, false, false) == nil {
			c.w.writeTrailer(&call.resp, nil, func() Metadata { return ci.trailer })
		}
		return
	}
	if c.w.writeMessage(&call.resp, &rh, nil, false, false) != nil {
		return
	}
	if _, srcErr, _ := c.w.sendStream(&call.resp, checkLength(src, info), func() Metadata { return ci.trailer }); srcErr != nil {
		c.cfg.logger.Debug("native: response stream failed", "endpoint", call.hdr.Method, "peer", c.peer, "err", srcErr)
	}
}

var errHandlerReturned = &Error{code: CodeCanceled, msg: "read from a request stream after its handler returned"}

// respondError ends the response with an error header.
func (c *serverConn) respondError(call *serverCall, err error) {
	call.ci.sent = true
	rh := responseHeader{Code: CodeOf(err), Message: messageOf(err), Body: BodyNone, Metadata: call.ci.header, Trailer: call.ci.trailer}
	if rh.Code == CodeOK {
		rh.Code = CodeUnknown
	}
	c.w.writeMessage(&call.resp, &rh, nil, false, true)
}

func closeStream(r io.Reader) {
	if cl, ok := r.(io.Closer); ok {
		cl.Close()
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
