package native

// Running a call's handler on a server connection and writing its
// response.

import (
	"encoding/json"
	"errors"
	"io"
)

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
