package native

// The server connection's frame state machine: what each frame a client
// sends does to the call in progress (serverconn.go reads the frames).

import (
	"context"
	"errors"
	"io"
	"time"
)

// payload reads the current frame's payload into the role's scratch buffer.
func (c *serverConn) payload(h FrameHeader) ([]byte, error) {
	return c.rr.payload(c.w.fr, h.Length)
}

func (c *serverConn) onHeader(fh FrameHeader) error {
	if fh.Call <= c.lastID {
		return protocolErrorf("HEADER for call %d, not above the previous call %d", fh.Call, c.lastID)
	}
	p, err := c.payload(fh)
	if err != nil {
		return err
	}
	call := &serverCall{id: fh.Call, conn: c, resp: half{id: fh.Call, credit: int64(c.w.peer.streamWindow)}}
	call.resp.owner = call
	call.resp.open.Store(true)
	if err := decodeHeaderNamed("request header", p, &call.hdr, c.s.names); err != nil {
		return err
	}
	if err := call.hdr.validate(); err != nil {
		return protocolErrorf("call %d: %v", fh.Call, err)
	}
	c.lastID = fh.Call
	call.halves.Store(2)
	call.info = callInfo{req: &call.hdr, peer: c.peer}
	call.cctx.init(c.ctx, &call.info)
	call.ctx = &call.cctx
	if call.hdr.Timeout > 0 {
		call.ctx, call.stopTimeout = context.WithTimeout(call.ctx, time.Duration(call.hdr.Timeout))
	}

	c.mu.Lock()
	away, why := c.goingAway, c.awayWhy
	crowded := len(c.calls) >= int(c.w.mine.maxCalls)
	c.mu.Unlock()
	busy := crowded && c.liveCalls() >= int(c.w.mine.maxCalls)
	c.mu.Lock()
	c.calls[call.id] = call
	if len(c.calls) > 1 {
		c.w.markShared()
	}
	if !away {
		c.served = call.id // the CLOSE says the calls above it were not processed
	}
	c.mu.Unlock()

	var reject *Error
	var h *handler
	switch {
	case away:
		c.sendClose() // the client learns of the CLOSE before the refusal
		reject = &Error{code: CodeUnavailable, msg: why + "; the call was not processed"}
	case busy:
		reject = Errorf(CodeResourceExhausted, "too many calls on this connection at once (the limit is %d, announced in the preface)", c.w.mine.maxCalls)
	default:
		if h, reject = c.s.admit(call.hdr.Method, call.hdr.Body, call.hdr.Accept); reject == nil && !c.s.takeCall(call) {
			reject = Errorf(CodeResourceExhausted, "too many calls on this server at once (the limit is %d)", c.cfg.maxServerCalls)
			c.s.observe(ConnEvent{Kind: CallRefused, Peer: c.peer})
		}
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
		c.refuse(call, reject)
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

// dispatch starts the handler once the request's JSON part is in. A quick
// handler (inline.go) that answers JSON to a request without a stream runs
// inline on the reader goroutine (readLoop); any other runs on a goroutine
// of its own, as does every handler whose request a stream's reader read
// (it holds the role for its own stream, and goes back to it).
func (c *serverConn) dispatch(call *serverCall) {
	if call.expect == partStream {
		call.stream = newStreamReader(c, &c.w, &c.rr, call.id, true, nil)
	}
	c.handlers.Add(1)
	if c.holder == nil && call.stream == nil && call.h.response == BodyJSON && c.due == nil && call.h.quick() {
		c.due = call // readLoop returns it, to runInline
		return
	}
	go c.run(call)
}

// liveCalls counts the calls the client still sees in progress: a call
// whose response was written may stay in c.calls a moment longer (the
// writer removes it after the write), and the client may already have read
// the response and sent its next frame. The role's holder calls it.
func (c *serverConn) liveCalls() int {
	c.mu.Lock()
	calls := make([]*serverCall, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	c.mu.Unlock()
	n := 0
	for _, call := range calls {
		if call.expect != partDone || call.resp.isOpen() {
			n++
		}
	}
	return n
}

func (c *serverConn) current(fh FrameHeader, want reqPart) (*serverCall, error) {
	c.mu.Lock()
	call := c.calls[fh.Call]
	c.mu.Unlock()
	if call == nil || call.expect != want {
		return nil, protocolErrorf("unexpected %v frame for call %d", fh.Type, fh.Call)
	}
	return call, nil
}

func (c *serverConn) onBody(fh FrameHeader) error {
	call, err := c.current(fh, partJSON)
	if err != nil {
		return err
	}
	if call.h == nil {
		if err := c.w.fr.discard(fh.Length); err != nil {
			return err
		}
	} else if err := call.body.read(c.w.fr, fh.Length, c.cfg.lim.maxBodySize, &c.s.bodies); err != nil {
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
		if err := call.body.failure("request", call.hdr.Method, c.cfg.lim.maxBodySize, &c.s.bodies); err != nil {
			call.h = nil
			c.refuse(call, err)
		} else {
			c.dispatch(call)
		}
	}
	if call.expect == partDone {
		c.halfDone(call)
	}
	return nil
}

func (c *serverConn) onData(fh FrameHeader, me *streamReader) error {
	call, err := c.current(fh, partStream)
	if err != nil {
		return err
	}
	s := call.stream
	if s == nil {
		// A rejected call: its stream is discarded, and its bytes given
		// back to the connection's window.
		if err := c.w.received(fh.Length); err != nil {
			return err
		}
		c.w.consumed(int64(fh.Length))
		return c.w.fr.discard(fh.Length)
	}
	if s != me {
		return s.onData(c.w.fr, fh.Length)
	}
	return c.rr.ownData(&c.w, s, fh.Length)
}

// sendHalf is the response half of call, if in progress (wireOwner).
func (c *serverConn) sendHalf(id uint32) (*half, uint32) {
	c.mu.Lock()
	call := c.calls[id]
	c.mu.Unlock()
	if call == nil {
		return nil, c.lastID
	}
	return &call.resp, 0
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
	c.mu.Lock()
	call := c.calls[fh.Call]
	c.mu.Unlock()
	if call == nil {
		return staleFrame(fh, c.lastID) // or the call ended as the client gave it up
	}
	cause := &Error{code: code, msg: "call aborted by the client: " + msg}
	call.cancel(cause)
	if call.expect != partDone {
		if call.expect == partStream && call.stream != nil {
			call.stream.end(cause)
		}
		if call.expect == partJSON {
			call.body.release(&c.s.bodies)
		}
		call.expect = partDone
		c.halfDone(call)
	}
	c.w.writeRST(&call.resp, CodeCanceled, "call aborted by the client")
	return nil
}

func (c *serverConn) onClose(fh FrameHeader) error {
	if _, err := c.payload(fh); err != nil {
		return err
	}
	if n := c.liveCalls(); n > 0 {
		return protocolErrorf("CLOSE while %d calls are in progress", n)
	}
	c.w.ackClose()
	return errCleanClose
}

// sentClose reports whether the server went away (wireOwner).
func (c *serverConn) sentClose() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goingAway
}

// halfDone is called once per half; the second call completes the call.
func (c *serverConn) halfDone(call *serverCall) {
	if call.halves.Add(-1) != 0 {
		return
	}
	call.cancel(errCallDone)
	c.mu.Lock()
	delete(c.calls, call.id)
	if len(c.calls) == 0 {
		c.idleSince = time.Now()
		c.armCloseTimerLocked()
	}
	c.mu.Unlock()
}

var errCallDone = errors.New("native: call complete")
