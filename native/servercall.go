package native

// Running a call's handler on a server connection and writing its
// response.

import (
	"io"
)

// run calls the handler and writes the response.
func (c *serverConn) run(call *serverCall) {
	defer c.handlers.Done()
	h := call.h
	var inv invocation
	if call.stream != nil {
		inv.body = call.stream
	}
	var err error
	inv.req, err = h.decode(call.body.buf)
	call.body.release(&c.s.bodies)
	if err == nil {
		err = h.run(call.ctx, &inv, c.cfg.logger, c.peer)
	}
	if call.stream != nil {
		call.stream.abort(errHandlerReturned)
	}
	if err != nil {
		closeStream(inv.stream)
		c.respondError(call, err)
		return
	}
	ci := call.ci
	ci.sent = true
	rh := responseHeader{Body: h.response, Metadata: ci.header}
	if h.response == BodyJSON {
		data, merr := h.encodeResponse(&inv)
		if merr != nil {
			c.respondError(call, merr)
			return
		}
		rh.Trailer = ci.trailer
		if c.batchable(call, len(data)) {
			c.w.queueResponse(&call.resp, &rh, data, true, false)
			return
		}
		c.w.writeMessage(&call.resp, &rh, data, true, true, nil)
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
		if c.w.writeMessage(&call.resp, &rh, nil, false, false, nil) == nil {
			c.w.writeTrailer(&call.resp, nil, func() Metadata { return ci.trailer })
		}
		return
	}
	if c.w.writeMessage(&call.resp, &rh, nil, false, false, nil) != nil {
		return
	}
	if _, srcErr, _ := c.w.sendStream(&call.resp, checkLength(src, info), func() Metadata { return ci.trailer }); srcErr != nil {
		c.cfg.logger.Debug("native: response stream failed", "endpoint", call.hdr.Method, "peer", c.peer, "err", srcErr)
	}
}

var errHandlerReturned = &Error{code: CodeCanceled, msg: "read from a request stream after its handler returned"}

// respondError ends the response with an error header.
func (c *serverConn) respondError(call *serverCall, err error) {
	c.w.writeMessage(&call.resp, errorHeader(call, err), nil, false, true, nil)
}

// refuse ends the response of a call the reader turns away before its
// handler runs (writeRefusal): the reader never waits for a write.
func (c *serverConn) refuse(call *serverCall, err error) {
	c.w.writeRefusal(&call.resp, errorHeader(call, err))
}

// errorHeader is the response header ending call with err.
func errorHeader(call *serverCall, err error) *responseHeader {
	call.ci.sent = true
	rh := &responseHeader{Code: CodeOf(err), Message: messageOf(err), Body: BodyNone, Metadata: call.ci.header, Trailer: call.ci.trailer}
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
