package native

// Running a call's handler on a server connection and writing its
// response.

import (
	"context"
	"io"
	"time"
)

// run calls the handler and writes the response.
func (c *serverConn) run(call *serverCall) {
	defer c.handlers.Done()
	ctx, end := c.cfg.startServerCall(call.ctx)
	err := c.respond(ctx, call)
	if end != nil {
		end(err)
	}
}

// respond runs call's handler with ctx and writes its response; it returns
// the call's outcome: nil, the error the caller sees, or the one that
// stopped the writing of the response.
func (c *serverConn) respond(ctx context.Context, call *serverCall) error {
	h := call.h
	inv := &call.inv
	if call.stream != nil {
		inv.body = call.stream
		if h.reqRecv != nil {
			inv.in = &msgRecv{src: call.stream, limit: c.cfg.maxMessageSize, strict: h.name, endpoint: h.name}
		}
	}
	// A handler that may run inline is timed (inline.go).
	timed := call.stream == nil && h.response == BodyJSON
	var start time.Time
	if timed {
		start = time.Now()
	}
	var err error
	inv.req, err = h.decode(call.body.buf)
	call.body.release(&c.s.bodies)
	if err == nil && h.respSend != nil {
		return c.respondMessages(ctx, call, inv)
	}
	if err == nil {
		err = h.run(ctx, inv, c.cfg.logger, c.peer)
	}
	if timed {
		h.observe(time.Since(start))
	}
	if call.stream != nil {
		call.stream.abort(errHandlerReturned)
	}
	if err != nil {
		closeStream(inv.stream)
		return c.respondError(call, err)
	}
	ci := &call.info
	ci.sent = true
	rh := responseHeader{Body: h.response, Metadata: ci.header}
	if h.response == BodyJSON {
		data, merr := h.encodeResponse(inv)
		if merr != nil {
			return c.respondError(call, merr)
		}
		defer data.free() // both ways copy it
		rh.Trailer = ci.trailer
		if c.batchable(call, len(data.b)) {
			c.w.queueResponse(&call.resp, &rh, data.b, true, false)
			return nil
		}
		return c.w.writeMessage(&call.resp, &rh, data.b, true, true, nil)
	}
	defer closeStream(inv.stream)
	info, src, err := prepareStream(inv.stream, call.hdr.Range, call.hdr.IfRange)
	if err != nil {
		ci.header = withRangeSize(ci.header, err)
		return c.respondError(call, err)
	}
	if info != nil {
		rh.Stream = info.wire()
	}
	if call.hdr.Head {
		if err := c.w.writeMessage(&call.resp, &rh, nil, false, false, nil); err != nil {
			return err
		}
		return c.w.writeTrailer(&call.resp, nil, func() Metadata { return ci.trailer })
	}
	if err := c.w.writeMessage(&call.resp, &rh, nil, false, false, nil); err != nil {
		return err
	}
	_, srcErr, err := c.w.sendStream(&call.resp, checkLength(src, info), func() Metadata { return ci.trailer })
	if srcErr != nil {
		c.cfg.logger.Debug("native: response stream failed", "endpoint", call.hdr.Method, "peer", c.peer, "err", srcErr)
		return srcErr
	}
	return err
}

// respondMessages runs the handler of a stream of messages. The response
// header goes out lazily (messageheader.go): at the handler's first Send,
// at its SendHeader, or at its return; until then SetHeader works. The
// handler's Sender fills a pipe that another goroutine, started with the
// header, sends as DATA; the handler's return ends the stream with a
// TRAILER carrying its error (code 0 for nil). A handler that fails before
// the header went out answers an error header, as one whose response is
// JSON does.
//
// A call that ends before its header goes out (the caller's RST, which
// cancelled ctx and ended the request stream with its reason, or a broken
// connection) still runs its handler, as a call whose response is JSON
// does: its Recv returns the messages that arrived and then the reason, its
// Send the reason. Whether a handler runs does not depend on which of the
// header and the RST came first.
func (c *serverConn) respondMessages(ctx context.Context, call *serverCall, inv *invocation) error {
	h, ci := call.h, &call.info
	p := newMsgPipe()
	out := newMsgSend(p, c.cfg.maxMessageSize, h.name, CodeInternal)
	inv.out = out
	stop := context.AfterFunc(ctx, func() { p.closeRead(sendStopped(ctx)) })
	sent := make(chan error, 1)
	hdr := &msgHeader{send: func() error {
		ci.sent = true
		rh := responseHeader{Body: BodyMessages, Metadata: ci.header}
		if err := c.w.writeMessage(&call.resp, &rh, nil, false, false, nil); err != nil {
			p.closeRead(sendFailed(ctx, err))
			sent <- err
			return sendFailed(ctx, err)
		}
		go func() {
			_, _, err := c.w.sendStream(&call.resp, p, func() Metadata { return ci.trailer })
			if err != nil {
				p.closeRead(sendFailed(ctx, err))
			}
			sent <- err
		}()
		return nil
	}}
	out.header, ci.msgHeader = hdr, hdr
	herr := h.run(ctx, inv, c.cfg.logger, c.peer)
	stop()
	if call.stream != nil {
		call.stream.abort(errHandlerReturned)
	}
	if hdr.finish() {
		if herr != nil {
			return c.respondError(call, herr)
		}
		hdr.send() // an empty stream; its error comes through sent
	}
	p.closeWrite(herr)
	if err := <-sent; err != nil {
		return err
	}
	return herr
}

var errHandlerReturned = &Error{code: CodeCanceled, msg: "read from a request stream after its handler returned"}

// respondError ends the response with an error header; it returns the
// error the caller sees.
func (c *serverConn) respondError(call *serverCall, err error) error {
	c.w.writeMessage(&call.resp, errorHeader(call, err), nil, false, true, nil)
	return err
}

// refuse ends the response of a call the reader turns away before its
// handler runs (writeRefusal): the reader never waits for a write.
func (c *serverConn) refuse(call *serverCall, err error) {
	c.w.writeRefusal(&call.resp, errorHeader(call, err))
}

// errorHeader is the response header ending call with err.
func errorHeader(call *serverCall, err error) *responseHeader {
	call.info.sent = true
	rh := &responseHeader{Code: CodeOf(err), Message: messageOf(err), Body: BodyNone, Metadata: call.info.header, Trailer: call.info.trailer}
	if rh.Code == CodeOK {
		rh.Code = CodeUnknown
	}
	return rh
}

func closeStream(r io.Reader) {
	if cl, ok := r.(io.Closer); ok {
		cl.Close()
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
