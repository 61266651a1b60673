package native

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"time"
)

// readLoop is the client's reader goroutine. It reads the server's frames
// while it holds the reading role: from the start, and whenever c.rr.wake
// gives the role back. It parks the role when a caller or a stream's reader
// waits to read for itself, and when no call is in progress (the next
// caller reads its own answer).
func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer c.rr.stop()
	for {
		if c.readOne(nil) {
			return
		}
		if c.inline != nil && (c.rr.waiters.Load() > 0 || c.idleCalls()) {
			c.parkRole()
			<-c.rr.wake
			c.mu.Lock()
			over := c.over
			c.mu.Unlock()
			if over {
				return
			}
		}
	}
}

// idleCalls reports whether no call is in progress.
func (c *Client) idleCalls() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls) == 0
}

// readOne reads one frame and handles it; see frameConn. me is the stream
// whose consumer holds the role, if any.
func (c *Client) readOne(me *streamReader) (over bool) {
	err := c.rr.settle(c.w.fr, me)
	var h FrameHeader
	if err == nil {
		h, err = c.w.fr.readHeader()
		if err == io.ErrUnexpectedEOF {
			err = protocolErrorf("connection ended in the middle of a frame header")
		} else if err == nil {
			c.rr.saw(h)
			err = cutPayload(h, c.onFrame(h, me))
		}
	}
	if err == nil {
		return false
	}
	c.readFailed(err)
	return true
}

// readFailed ends the connection after a read or a frame failed, and gives
// the role to the reader goroutine, which exits.
func (c *Client) readFailed(err error) {
	c.mu.Lock()
	closing := c.closing
	c.over = true
	c.mu.Unlock()
	switch {
	case err == errCleanClose:
	case errors.Is(err, ErrProtocol):
		c.cfg.logger.Warn("native: closing connection after a protocol error", "err", err)
		c.w.reset(err)
	case closing && errors.Is(err, io.EOF):
		err = &Error{code: CodeUnavailable, msg: "close: connection ended before CLOSE_ACK", err: err}
		c.mu.Lock()
		c.closeErr = err
		c.mu.Unlock()
	}
	if err == errCleanClose {
		err = ErrClosed
	}
	c.fail(err)
	c.rr.handOver()
}

// parkRole parks the role; at once the reader's if the connection is
// ending.
func (c *Client) parkRole() { c.rr.park(c.ending()) }

// ending reports whether the connection is closing, going away or lost.
func (c *Client) ending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.goAway || c.err != nil
}

// leaveRole leaves the role for the stream's consumer that holds it
// (readRole.leave); parks it at once for the reader if the connection is
// ending.
func (c *Client) leaveRole() {
	if c.ending() {
		c.rr.park(true)
		return
	}
	c.rr.leave()
}

// readInline reads frames on the caller's goroutine, which holds the
// reading role, until call has an event (ok). The role is then parked again.
// If ctx ends the wait, the role goes to the reader goroutine and the error
// is ctx's; if the connection ends, the event is the failure.
func (c *Client) readInline(ctx context.Context, call *clientCall) (clientEvent, bool, error) {
	for {
		if call.has.Load() {
			c.parkRole()
			return call.ev, true, nil
		}
		if c.rr.pend == nil && c.w.fr.r.Buffered() == 0 {
			stop, err := c.waitReadable(ctx)
			if stop {
				c.rr.handOver()
				return clientEvent{}, false, contextError(ctx)
			}
			if err != nil {
				c.readFailed(err)
				return call.takeEvent(), true, nil
			}
		}
		if c.readOne(nil) {
			// fail answered every call in progress, this one too.
			return call.takeEvent(), true, nil
		}
	}
}

// waitReadable waits until the transport has bytes for the framer. It
// reports stop when ctx ended: interrupt cuts the wait short with a read
// deadline in the past, which is safe only here, where no byte of a frame
// has been taken yet. An interrupt meant for an earlier call (its context
// ended as it completed) makes it wait again.
func (c *Client) waitReadable(ctx context.Context) (stop bool, err error) {
	for {
		c.pmu.Lock()
		c.waiting = true
		c.pmu.Unlock()
		if ctx.Err() == nil {
			_, err = c.w.fr.r.Peek(1)
		}
		c.pmu.Lock()
		c.waiting = false
		interrupted := c.interrupted
		c.interrupted = false
		c.pmu.Unlock()
		if interrupted {
			c.inline.SetReadDeadline(time.Time{})
		}
		if ctx.Err() != nil {
			return true, nil
		}
		if interrupted && errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		return false, err
	}
}

// interrupt ends a caller's waitReadable: its context ended.
func (c *Client) interrupt() {
	if c.inline == nil {
		return
	}
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.waiting && !c.interrupted {
		c.interrupted = true
		c.inline.SetReadDeadline(time.Unix(1, 0))
	}
}

func (c *Client) onFrame(h FrameHeader, me *streamReader) error {
	payload := func() ([]byte, error) { return c.rr.payload(c.w.fr, h.Length) }
	if ok, err := c.w.onConnFrame(h, payload, c, "server"); ok {
		return err
	}
	switch h.Type {
	case TypeClose:
		p, err := payload()
		if err != nil {
			return err
		}
		return c.onGoAway(binary.BigEndian.Uint32(p))
	case TypeRST:
		p, err := payload()
		if err != nil {
			return err
		}
		code, msg := parseRST(p)
		call, err := c.current(h, expectHeader, expectJSON, expectStream)
		if err != nil {
			return err
		}
		return c.onReset(call, code, msg)
	case TypeHeader:
		call, err := c.current(h, expectHeader)
		if err != nil {
			return err
		}
		p, err := payload()
		if err != nil {
			return err
		}
		return c.onHeader(call, p)
	case TypeBody:
		call, err := c.current(h, expectJSON)
		if err != nil {
			return err
		}
		return c.onBody(call, h)
	case TypeData:
		call, err := c.current(h, expectStream)
		if err != nil {
			return err
		}
		if s := call.stream; s == me {
			return c.rr.ownData(&c.w, s, h.Length)
		}
		return call.stream.onData(c.w.fr, h.Length)
	case TypeTrailer:
		call, err := c.current(h, expectStream)
		if err != nil {
			return err
		}
		p, err := payload()
		if err != nil {
			return err
		}
		var t trailer
		if err := decodeHeader("trailer", p, &t); err != nil {
			return err
		}
		call.setMD(call.opts.trailer, t.Metadata)
		c.respEnd(call)
		if got := call.stream.receivedBytes(); t.Code == CodeOK && call.want >= 0 && got != call.want && !call.opts.head {
			call.stream.end(shortStreamError(got, call.want))
		} else if t.Code == CodeOK {
			call.stream.end(io.EOF)
		} else {
			call.stream.end(&Error{code: t.Code, msg: t.Message})
		}
		return nil
	}
	return protocolErrorf("unexpected %v frame", h.Type)
}

// current returns the call a frame belongs to, checking it expects it.
func (c *Client) current(h FrameHeader, want ...respPart) (*clientCall, error) {
	c.mu.Lock()
	call := c.calls[h.Call]
	c.mu.Unlock()
	if call == nil {
		return nil, protocolErrorf("%v frame for call %d, which is not in progress", h.Type, h.Call)
	}
	for _, w := range want {
		if call.part == w {
			return call, nil
		}
	}
	return nil, protocolErrorf("unexpected %v frame for call %d", h.Type, h.Call)
}

func (c *Client) onHeader(call *clientCall, p []byte) error {
	var rh responseHeader
	if err := decodeHeader("response header", p, &rh); err != nil {
		return err
	}
	if err := rh.validate(); err != nil {
		return protocolErrorf("call %d: %v", call.id, err)
	}
	call.setMD(call.opts.header, rh.Metadata)
	if rh.Code != CodeOK {
		err := &Error{code: rh.Code, msg: rh.Message}
		c.mu.Lock()
		if rh.Code == CodeUnavailable && c.goAway && call.id > c.goAwayLast {
			// The server's CLOSE said it processed no call above
			// goAwayLast: this one may be made again elsewhere.
			err.err = errGoingAway
		}
		c.mu.Unlock()
		call.setMD(call.opts.trailer, rh.Trailer)
		c.respEnd(call)
		c.deliver(call, clientEvent{err: err})
		return nil
	}
	if rh.Body != call.accept {
		return protocolErrorf("call %d: response body %s, the call accepts %s", call.id, rh.Body, call.accept)
	}
	if rh.Body == BodyJSON {
		call.setMD(call.opts.trailer, rh.Trailer)
		call.part = expectJSON
		return nil
	}
	call.part = expectStream
	call.want = -1
	info := StreamInfo{Length: -1, Size: -1}
	if rh.Stream != nil {
		info = rh.Stream.info()
		call.want = info.Length
	}
	if call.opts.info != nil {
		call.mu.Lock()
		if call.abortReason == nil { // as setMD
			*call.opts.info = info
		}
		call.mu.Unlock()
	}
	stream := newStreamReader(c, &c.w, &c.rr, call.id, c.inline != nil, func(reason error) { c.abort(call, reason) })
	call.mu.Lock()
	call.stream = stream
	aborted := call.abortReason
	call.mu.Unlock()
	if aborted != nil {
		// The caller gave up before the stream arrived (abort runs under
		// call.mu too, so one of the two sees the other): nobody will
		// read it, discard it until the server's RST.
		stream.stop(aborted)
	}
	c.deliver(call, clientEvent{stream: stream})
	return nil
}

func (c *Client) onBody(call *clientCall, h FrameHeader) error {
	if err := call.body.read(c.w.fr, h.Length, c.cfg.lim.maxBodySize, nil); err != nil {
		return err
	}
	if h.Flags&FlagEnd == 0 {
		return nil
	}
	ev := clientEvent{body: call.body}
	if err := call.body.failure("response", call.method, c.cfg.lim.maxBodySize, nil); err != nil {
		call.body.free()
		ev = clientEvent{err: err}
	}
	call.body = jsonBody{}
	c.respEnd(call)
	c.deliver(call, ev)
	return nil
}

// onReset handles the server's RST for the call in progress.
func (c *Client) onReset(call *clientCall, code Code, msg string) error {
	err := &Error{code: code, msg: msg}
	stream := call.part == expectStream
	c.respEnd(call)
	if stream {
		call.stream.end(err)
	} else {
		c.deliver(call, clientEvent{err: err})
	}
	return nil
}

// respEnd ends the response half. A request stream still being sent is
// ended too: the server will not read it. The call is then complete and its
// connection free, so the frame's handler wakes the caller only after
// respEnd: a caller that makes its next call at once (or a Pool that hands
// the connection on) finds the connection free.
func (c *Client) respEnd(call *clientCall) {
	call.part = respDone
	call.mu.Lock()
	call.respEnded = true
	call.mu.Unlock()
	c.w.writeRST(&call.req, CodeCanceled, "the response ended before the request stream")
	c.halfDone(call)
}

// onGoAway handles the server's CLOSE, which says that the server processes
// no call above last: no new calls; the calls in progress finish (those
// above last are refused by the server, and may be made again elsewhere);
// the last of them to end acknowledges (complete).
func (c *Client) onGoAway(last uint32) error {
	c.mu.Lock()
	c.goAway, c.goAwayLast = true, last
	idle := len(c.calls) == 0
	closing := c.closing
	if idle && c.err == nil && !closing {
		c.acked = true
		c.err = &Error{code: CodeUnavailable, msg: "connection closed: the server went away", err: errGoingAway}
	}
	c.mu.Unlock()
	if closing {
		return nil // our CLOSE crossed the server's; its CLOSE_ACK follows
	}
	if idle {
		c.w.ackClose()
		c.w.close()
	}
	return nil
}

// setMD stores response metadata in the caller's destination (WithHeader,
// WithTrailer) unless the call was aborted: then Call has returned, or is
// about to, and the caller may be reading the destination. abort sets
// abortReason under call.mu, so either this write happens before Call
// returns or it does not happen.
func (call *clientCall) setMD(dst *Metadata, md Metadata) {
	if dst == nil {
		return
	}
	call.mu.Lock()
	if call.abortReason == nil {
		*dst = md
	}
	call.mu.Unlock()
}

// sentClose reports whether the client sent CLOSE (wireOwner).
func (c *Client) sentClose() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// sendHalf is the request half of call, if in progress (wireOwner).
func (c *Client) sendHalf(id uint32) (*half, uint32) {
	c.mu.Lock()
	call := c.calls[id]
	c.mu.Unlock()
	if call == nil {
		return nil, c.lastMade.Load()
	}
	return &call.req, 0
}
