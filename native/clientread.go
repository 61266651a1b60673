package native

import (
	"errors"
	"fmt"
	"io"
)

// readLoop is the client's reader goroutine: it reads every frame the
// server sends and hands each to the call in progress.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	var scratch []byte
	for {
		h, err := c.w.fr.readHeader()
		if err == io.ErrUnexpectedEOF {
			err = protocolErrorf("connection ended in the middle of a frame header")
		} else if err == nil {
			err = cutPayload(h, c.onFrame(h, &scratch))
		}
		if err == errCleanClose {
			return
		}
		if err != nil {
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if errors.Is(err, ErrProtocol) {
				c.cfg.logger.Warn("native: closing connection after a protocol error", "err", err)
				c.w.reset(err)
			} else if closing && errors.Is(err, io.EOF) {
				err = &Error{code: CodeUnavailable, msg: "close: connection ended before CLOSE_ACK", err: err}
				c.mu.Lock()
				c.closeErr = err
				c.mu.Unlock()
			}
			c.fail(err)
			return
		}
	}
}

func (c *Client) onFrame(h FrameHeader, scratch *[]byte) error {
	payload := func() ([]byte, error) {
		b, err := c.w.fr.readPayload(*scratch, h.Length)
		if cap(b) <= 64<<10 {
			*scratch = b
		}
		return b, err
	}
	switch h.Type {
	case TypeClose:
		if _, err := payload(); err != nil {
			return err
		}
		return c.onGoAway()
	case TypeCloseAck:
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing {
			return protocolErrorf("CLOSE_ACK without a CLOSE")
		}
		return errCleanClose
	case TypePing:
		p, err := payload()
		if err != nil || h.Flags&FlagAck != 0 {
			return err
		}
		return c.w.writeFrame(nil, FrameHeader{Type: TypePing, Flags: FlagAck}, p, false)
	case TypeRST:
		p, err := payload()
		if err != nil {
			return err
		}
		code, msg := parseRST(p)
		if h.Call == 0 {
			return &Error{code: CodeUnavailable, msg: fmt.Sprintf("connection reset by the server: %v: %s", code, msg)}
		}
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
		return call.stream.deliverData(h.Length)
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
		if t.Code == CodeOK {
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
	call := c.cur
	c.mu.Unlock()
	if call == nil || call.id != h.Call {
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
		call.setMD(call.opts.trailer, rh.Trailer)
		c.respEnd(call)
		c.deliverLast(call, clientEvent{err: &Error{code: rh.Code, msg: rh.Message}})
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
	stream := newStreamReader(c.w.fr, call.id, func(reason error) { c.abort(call, reason) })
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
	if call.tooBig || int64(len(call.body))+int64(h.Length) > c.cfg.lim.maxBodySize {
		call.tooBig, call.body = true, nil
		if err := c.w.fr.discard(h.Length); err != nil {
			return err
		}
	} else {
		n := len(call.body)
		call.body = append(call.body, make([]byte, h.Length)...)
		if _, err := io.ReadFull(c.w.fr.r, call.body[n:]); err != nil {
			return err
		}
	}
	if h.Flags&FlagEnd == 0 {
		return nil
	}
	ev := clientEvent{body: call.body}
	if call.tooBig {
		ev = clientEvent{err: Errorf(CodeResourceExhausted, "response body of %q exceeds the limit of %d bytes", call.method, c.cfg.lim.maxBodySize)}
	}
	call.body = nil
	c.respEnd(call)
	c.deliverLast(call, ev)
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
		c.deliverLast(call, clientEvent{err: err})
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

// onGoAway handles the server's CLOSE: no new calls; the connection closes
// once the call in progress, if any, is done.
func (c *Client) onGoAway() error {
	c.mu.Lock()
	c.goAway = true
	idle := c.cur == nil
	closing := c.closing
	if idle && c.err == nil {
		c.err = &Error{code: CodeUnavailable, msg: "connection closed: the server went away", err: errGoingAway}
	}
	c.mu.Unlock()
	if closing {
		return nil // our CLOSE crossed the server's; its CLOSE_ACK follows
	}
	if idle {
		c.w.writeFrame(nil, FrameHeader{Type: TypeCloseAck}, nil, false)
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
