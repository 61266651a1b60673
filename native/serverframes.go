package native

// The server connection's frame state machine: what each frame a client
// sends does to the call in progress (serverconn.go reads the frames).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/framegate/framegate/internal/clip"
)

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
