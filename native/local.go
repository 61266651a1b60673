package native

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Caller is what Client, Pool and LocalClient have in common: code that
// makes calls takes a Caller and works over a connection, a pool or in
// process alike.
type Caller interface {
	Call(ctx context.Context, method string, req, resp any, opts ...CallOption) error
	Close() error
}

var (
	_ Caller = (*Client)(nil)
	_ Caller = (*Pool)(nil)
	_ Caller = (*LocalClient)(nil)
)

// LocalClient calls a Server's handlers in process, with no frames and no
// connection, through the same interface as Client. Call's requests and
// responses still go through JSON, so a handler sees exactly what it would
// see remotely; streams are handed over as they are, without copies.
// CallValue hands over request and response values themselves, for a
// caller that builds them (the gateway, from protobuf).
type LocalClient struct {
	s *Server
}

// NewLocalClient returns a client for s's handlers in this process.
func NewLocalClient(s *Server) *LocalClient { return &LocalClient{s: s} }

// Close does nothing: a LocalClient holds no resources.
func (lc *LocalClient) Close() error { return nil }

// Call calls the handler registered as method, as Client.Call does. The
// handler runs in the caller's goroutine; a response stream is read from
// the handler's reader directly, and closing it cancels the handler's
// context and closes the handler's reader if it is an io.Closer.
func (lc *LocalClient) Call(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	_, err := lc.call(ctx, method, req, resp, false, opts)
	return err
}

// call is Call, and CallValue when value is set: req is then the request
// value, resp is nil, and the response value is returned.
func (lc *LocalClient) call(ctx context.Context, method string, req, resp any, value bool, opts []CallOption) (out any, err error) {
	// The call's state, its options and its callInfo in one allocation
	// (each on its own cost a unary call two more).
	l := new(localCall)
	o := &l.o
	for _, op := range opts {
		op.applyCall(o)
	}
	var (
		kind, accept BodyKind = BodyJSON, BodyJSON
		jsonPart     any      // the request's JSON part
		body         io.Reader
		rc           *io.ReadCloser
		rr           *io.Reader
	)
	if !value {
		kind, jsonPart, body = requestParts(req)
		accept, rc, rr = responseKind(resp)
	}
	h, rejected := lc.s.admit(method, kind, accept)
	if value && (rejected != nil || !h.takesValue(req)) {
		return nil, ErrValueType
	}
	if rejected != nil {
		return nil, rejected
	}
	l.value = value
	tx, rx := messageParts(req, resp)
	if kind.HasMessages() && tx == nil {
		return nil, Errorf(CodeInvalidArgument, "the Messages of the request for %q must be a *native.Sender[T], it is %T", method, req.(interface{ messages() any }).messages())
	}
	if err := ctx.Err(); err != nil {
		return nil, contextError(ctx)
	}
	hctx, cancel := context.WithCancelCause(ctx)
	l.hdr = requestHeader{Method: method, Metadata: o.md.Clone(), Range: o.rangeSpec, IfRange: o.ifRange}
	l.info = callInfo{req: &l.hdr, peer: "local"}
	ci := &l.info
	hctx, end := lc.s.cfg.startServerCall(withCallInfo(hctx, ci))
	var ls *localStream // a stream handed over ends the call itself
	defer endLocalCall(&end, &ls, &err)
	inv := invocation{body: body}
	if value {
		inv.req = req // CallValue's, handed over
	} else if h.reqType != nil {
		data, err := encodeRequestJSON(jsonPart)
		if err != nil {
			cancel(errCallDone)
			return nil, &Error{code: CodeInvalidArgument, msg: fmt.Sprintf("cannot encode the request for %q: %v", method, err), err: err}
		}
		if int64(len(data.b)) > lc.s.cfg.lim.maxBodySize {
			data.free()
			cancel(errCallDone)
			return nil, Errorf(CodeResourceExhausted, "request body of %q exceeds the limit of %d bytes", method, lc.s.cfg.lim.maxBodySize)
		}
		inv.req, err = h.decode(data.b) // a decoded value holds no byte of its JSON
		data.free()
		if err != nil {
			cancel(errCallDone)
			return nil, err
		}
	}
	l.ctx, l.hctx, l.cancel, l.h, l.inv, l.ci, l.resp, l.rc, l.rr, l.end = ctx, hctx, cancel, h, inv, ci, resp, rc, rr, end
	if h.reqRecv != nil || h.respSend != nil {
		end = nil // the call ends when its streams do, or Sender.Close
		return nil, lc.callMessages(l, tx, rx)
	}
	herr := h.run(hctx, &l.inv, lc.s.cfg.logger, "local")
	ls, err = l.answer(herr)
	if err != nil || !value {
		return nil, err
	}
	return l.inv.resp, nil // CallValue's: the handler's value as it is
}

// localCall is one call of a LocalClient, between its handler's run and
// its answer.
type localCall struct {
	ctx, hctx context.Context // the caller's, the handler's
	cancel    context.CancelCauseFunc
	h         *handler
	inv       invocation
	ci        *callInfo // &info
	info      callInfo
	hdr       requestHeader // info's request: the caller's method and options
	value     bool          // a CallValue call
	o         callOpts
	resp      any
	rc        *io.ReadCloser
	rr        *io.Reader
	end       func(error) // the server's CallHook's, or nil
}

// answer delivers the outcome of the handler's run, err, to the caller, as
// Client.Call does: the error, the JSON response decoded into resp, or a
// stream, returned when one was handed over.
func (l *localCall) answer(err error) (*localStream, error) {
	ctx, cancel, h, ci, o, resp := l.ctx, l.cancel, l.h, l.ci, &l.o, l.resp
	ci.sent = true
	if ctx.Err() != nil {
		// The caller gave up while the handler ran: whatever it answered,
		// the call fails as a remote one does, with ctx's error.
		err = contextError(ctx)
	}
	if o.header != nil {
		*o.header = ci.header
	}
	if err != nil {
		cancel(errCallDone)
		closeStream(l.inv.stream)
		if o.trailer != nil {
			*o.trailer = ci.trailer
		}
		e := toError(err)
		return nil, &Error{code: e.code, msg: e.msg, err: err}
	}
	if h.response == BodyJSON {
		defer cancel(errCallDone)
		if o.trailer != nil {
			*o.trailer = ci.trailer
		}
		if l.value {
			return nil, nil // CallValue takes inv.resp as it is
		}
		data, err := h.encodeResponse(&l.inv)
		if err != nil {
			return nil, err
		}
		defer data.free() // decoded values hold none of its bytes
		if raw, ok := resp.(*json.RawMessage); ok {
			*raw = bytes.Clone(data.b) // what json.Unmarshal would copy
			return nil, nil
		}
		if resp != nil {
			if err := unmarshalResponse(data.b, resp); err != nil {
				return nil, &Error{code: CodeInternal, msg: fmt.Sprintf("cannot decode the response of %q into %T: %v", h.name, resp, err), err: err}
			}
		}
		return nil, nil
	}
	info, src, err := prepareStream(l.inv.stream, o.rangeSpec, o.ifRange)
	if err != nil {
		cancel(errCallDone)
		closeStream(l.inv.stream)
		if o.header != nil {
			*o.header = withRangeSize(ci.header, err)
		}
		e := toError(err)
		return nil, &Error{code: e.code, msg: e.msg, err: err}
	}
	if o.info != nil {
		*o.info = StreamInfo{Length: -1, Size: -1}
		if info != nil {
			*o.info = *info
		}
	}
	src = checkLength(src, info)
	if o.head {
		src = eofReader{}
	}
	st := &localStream{src: src, orig: l.inv.stream, cancel: cancel, ci: ci, trailer: o.trailer, end: l.end}
	st.watch(ctx)
	switch {
	case l.rc != nil:
		*l.rc = st
	case l.rr != nil:
		*l.rr = st
	}
	return st, nil
}

// endLocalCall ends a call for the server's CallHook (end, nil without
// one), unless a stream handed over (*ls) ends it. A function of its own,
// not a closure: one would move ls and err to the heap on every call.
func endLocalCall(end *func(error), ls **localStream, err *error) {
	if *end != nil && *ls == nil {
		(*end)(*err)
	}
}

// localStream hands a handler's response stream to a local caller with the
// same guarantees as a remote stream: errors carry codes, io.EOF means the
// whole stream, and closing it ends the handler's side.
type localStream struct {
	src     io.Reader
	orig    io.Reader // the handler's stream, closed at the end
	cancel  context.CancelCauseFunc
	stop    func() bool // mu; set by watch
	ci      *callInfo
	trailer *Metadata
	end     func(error) // the server's CallHook's, or nil

	mu   sync.Mutex
	err  error // sticky
	done bool  // source closed
}

func (s *localStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := s.src.Read(p)
	if err != nil {
		if err != io.EOF {
			e := toError(err)
			err = &Error{code: e.code, msg: e.msg, err: err}
		} else if s.trailer != nil {
			*s.trailer = s.ci.trailer
		}
		s.finish(err)
	}
	return n, err
}

// WriteTo copies the rest of the stream to w with io.Copy straight from the
// handler's reader, so a file meets a socket with sendfile.
func (s *localStream) WriteTo(w io.Writer) (int64, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err == io.EOF {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, s.src)
	if err != nil {
		e := toError(err)
		err = &Error{code: e.code, msg: e.msg, err: err}
		s.finish(err)
		return n, err
	}
	if s.trailer != nil {
		*s.trailer = s.ci.trailer
	}
	s.finish(io.EOF)
	return n, nil
}

func (s *localStream) Close() error {
	s.abort(errStreamClosed)
	return nil
}

func (s *localStream) abort(reason error) {
	s.finish(reason)
}

// watch aborts the stream when ctx is done. ctx may end at once, before
// watch returns: stop is set under the lock finish reads it with.
func (s *localStream) watch(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.abort(contextError(ctx)) })
	s.mu.Lock()
	s.stop = stop
	done := s.done
	s.mu.Unlock()
	if done {
		stop()
	}
}

func (s *localStream) finish(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	done, stop := s.done, s.stop
	s.done = true
	s.mu.Unlock()
	if done {
		return
	}
	if stop != nil {
		stop()
	}
	closeStream(s.orig)
	cause := errCallDone
	if err != io.EOF {
		cause = err // the handler's ctx says why, as a remote one's does
	}
	s.cancel(cause)
	if s.end != nil {
		if err == io.EOF {
			err = nil
		}
		s.end(err)
	}
}
