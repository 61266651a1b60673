package native

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Client makes calls on one connection. It is safe for concurrent use: any
// number of calls run at once, up to the most the server accepts
// (WithMaxConcurrentCalls); a call past that waits for one to end.
type Client struct {
	cfg        config
	w          wire
	rr         readRole
	hb         heartbeat
	sem        chan struct{} // one token per call in progress
	readerDone chan struct{}

	// inline is the transport when callers may read their own answers: a
	// net.Conn, whose read deadline interrupts a caller whose context ends
	// while it waits (interrupt). nil: only the reader goroutine reads.
	inline      net.Conn
	pmu         sync.Mutex
	waiting     bool // pmu: a caller waits for bytes in waitReadable
	interrupted bool // pmu: interrupt set a read deadline to end that wait

	nextID   uint32 // guarded by w.wl: calls go out in the order of their ids
	lastMade atomic.Uint32

	mu      sync.Mutex
	calls   map[uint32]*clientCall // calls in progress
	over    bool                   // reading is over: the reader goroutine exits
	err     error                  // the connection is unusable, and why
	closing bool                   // Close sent CLOSE, or is about to
	goAway  bool                   // the server sent CLOSE
	// goAwayLast is the last call id the server's CLOSE says it processes.
	goAwayLast uint32
	acked      bool          // CLOSE_ACK sent
	closeErr   error         // how the close handshake ended
	drained    chan struct{} // closed when calls becomes empty while closing
}

// respPart is where a response's reading is.
type respPart uint8

const (
	expectHeader respPart = iota
	expectJSON
	expectStream
	respDone
)

// clientEvent answers a waiting Call.
type clientEvent struct {
	err    error
	body   jsonBody // the response's JSON, held until it is decoded
	stream *streamReader
}

// clientCall is one call on a client connection.
type clientCall struct {
	conn   *Client
	id     uint32
	method string
	accept BodyKind
	opts   callOpts
	req    half // request half

	// The call's one event: deliver sets ev and has (under mu, once),
	// and sends on answered (capacity 1) if a waiter made it
	// (answeredChan). A caller reading its answer itself looks at has and
	// needs no channel: one allocation less per call.
	answered chan struct{} // under mu
	ev       clientEvent
	has      atomic.Bool

	// Response, owned by the reader goroutine. stream is written under mu,
	// so other goroutines read it under mu (streamOf).
	part   respPart
	body   jsonBody
	stream *streamReader
	// want is the stream's announced length (-1: none).
	want int64
	// pipe holds the caller's messages of a request stream of messages.
	pipe *msgPipe

	mu          sync.Mutex // orders an abort's RST before the call completes
	respEnded   bool
	aborted     bool
	abortReason error // why the call was aborted, once aborted
	abortTimer  *time.Timer
	stopCtx     func() bool

	halves    atomic.Int32
	completed atomic.Bool
	onDone    func(reusable bool)
	// onReqClose, if set, runs as the request half closes (halfClosed).
	onReqClose func()
}

// halfEnded: the request ended (halfDone counts both halves).
func (call *clientCall) halfEnded() { call.conn.halfDone(call) }

func (call *clientCall) halfClosed() {
	if call.onReqClose != nil {
		call.onReqClose()
	}
}

// Call calls endpoint method. req is the request: nil for none, an
// io.Reader for a stream, a StreamRequest for JSON and a stream, anything
// else is encoded as JSON. resp receives the response: a *io.ReadCloser for
// a stream (read it to io.EOF or close it), otherwise a pointer that the
// JSON response is decoded into (nil discards it). Errors are *Error values
// carrying the handler's status code.
func (c *Client) Call(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	return c.call(ctx, method, req, resp, opts, nil)
}

func (c *Client) call(ctx context.Context, method string, req, resp any, opts []CallOption, onDone func(bool)) error {
	// notSent gives the connection back (to a Pool) for a call that
	// failed before it started; once it started, complete does.
	notSent := func(err error) error {
		if onDone != nil {
			onDone(c.usable())
		}
		return err
	}
	kind, value, body := requestParts(req)
	accept, rc, rr := responseKind(resp)
	tx, rx := messageParts(req, resp)
	if kind.HasMessages() && tx == nil {
		return notSent(Errorf(CodeInvalidArgument, "the Messages of the request for %q must be a *native.Sender[T], it is %T", method, req.(interface{ messages() any }).messages()))
	}
	var pipe *msgPipe
	if tx != nil {
		pipe = newMsgPipe()
		body = pipe
	}
	var data jsonScratch
	if kind.HasJSON() {
		var err error
		if data, err = encodeRequestJSON(value); err != nil {
			return notSent(&Error{code: CodeInvalidArgument, msg: fmt.Sprintf("cannot encode the request for %q: %v", method, err), err: err})
		}
	}
	call := &clientCall{conn: c, method: method, accept: accept, onDone: onDone, pipe: pipe}
	if pipe != nil {
		// The request half ends (RST, the response's end, a broken
		// connection): the caller's Send stops.
		call.onReqClose = func() { pipe.closeRead(sendEnded(ctx)) }
	}
	for _, o := range opts {
		o.applyCall(&call.opts)
	}
	if h := c.cfg.hook; h != nil {
		if call.opts.md == nil {
			call.opts.md = Metadata{}
		}
		h.ClientCall(ctx, method, call.opts.md)
	}
	hdr := requestHeader{Method: method, Body: kind, Accept: accept, Metadata: call.opts.md,
		Range: call.opts.rangeSpec, IfRange: call.opts.ifRange, Head: call.opts.head}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return notSent(contextError(ctx))
	}
	if err := c.usableErr(); err != nil {
		<-c.sem
		return notSent(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		if hdr.Timeout = int64(time.Until(dl)); hdr.Timeout <= 0 {
			<-c.sem
			return notSent(contextError(ctx))
		}
	}
	if ctx.Err() != nil {
		<-c.sem
		return notSent(contextError(ctx))
	}
	var notStarted error
	err := c.w.writeMessage(&call.req, &hdr, data.b, kind.HasJSON(), !kind.HasStream(), func() { notStarted = c.start(call) })
	data.free()
	if notStarted != nil {
		<-c.sem
		return notSent(notStarted)
	}
	if err != nil {
		c.fail(err)
		return c.connError()
	}
	if kind.HasStream() {
		go c.upload(call, body)
	}
	call.mu.Lock()
	if !call.respEnded && ctx.Done() != nil { // a ctx that is never done needs no watch
		call.stopCtx = context.AfterFunc(ctx, func() {
			c.interrupt() // a caller reading its answer itself stops waiting
			c.abort(call, contextError(ctx))
		})
	}
	call.mu.Unlock()
	if tx != nil {
		c.bindMessages(ctx, call, resp, rc, rr, tx, rx, pipe)
		return nil
	}
	stream, err := c.answer(ctx, call, resp, rc, rr)
	if err == nil && rx != nil {
		rx.bindReceiver(&msgRecv{src: stream, limit: c.cfg.maxMessageSize, endpoint: method})
	}
	return err
}

// answer waits for call's response and delivers it into resp, as Call
// does; a stream of messages is returned for the caller to bind.
func (c *Client) answer(ctx context.Context, call *clientCall, resp any, rc *io.ReadCloser, rr *io.Reader) (*streamReader, error) {
	method := call.method
	ev, err := c.await(ctx, call)
	if err != nil {
		c.abort(call, err)
		return nil, err
	}
	if ev.err != nil {
		if ctx.Err() != nil {
			// The caller gave up, and the answer may be the server's
			// acknowledgment of the abort (an RST): the call fails with
			// ctx's error, as a local one does.
			return nil, contextError(ctx)
		}
		return nil, ev.err
	}
	if ev.stream != nil {
		switch {
		case rc != nil:
			*rc = ev.stream
		case rr != nil:
			*rr = ev.stream
		}
		return ev.stream, nil
	}
	if resp != nil {
		err = unmarshalResponse(ev.body.buf, resp)
	}
	ev.body.free() // a decoded value holds none of its bytes
	if err != nil {
		return nil, &Error{code: CodeInternal, msg: fmt.Sprintf("cannot decode the response of %q into %T: %v", method, resp, err), err: err}
	}
	return nil, nil
}

// await returns call's first event, or ctx's error. The caller reads the
// event itself if it finds the reading role parked (readInline), now or
// while it waits: a role parked just after the caller looked would
// otherwise stay unread until the idle timer.
func (c *Client) await(ctx context.Context, call *clientCall) (clientEvent, error) {
	var role chan struct{}
	if c.inline != nil {
		role = c.rr.role
	}
	var answered chan struct{}
	for {
		if call.has.Load() {
			return call.ev, nil
		}
		c.rr.waiters.Add(1)
		// A role parked now is taken before the select, which would need
		// the answered channel.
		if role != nil && (c.rr.waiting() || c.rr.take()) {
			c.rr.waiters.Add(-1)
			if ev, ok, err := c.readInline(ctx, call); ok || err != nil {
				return ev, err
			}
			continue
		}
		if answered == nil {
			answered = call.answeredChan()
		}
		select {
		case <-answered:
			c.rr.waiters.Add(-1)
			return call.ev, nil
		case <-role:
			c.rr.waiters.Add(-1)
			c.rr.taken()
			if ev, ok, err := c.readInline(ctx, call); ok || err != nil {
				return ev, err
			}
		case <-ctx.Done():
			c.rr.waiters.Add(-1)
			return clientEvent{}, contextError(ctx)
		}
	}
}

// contextError is ctx's error as an *Error with its code. A ctx whose
// deadline has passed may not be done yet (its timer has not fired): that
// is DeadlineExceeded too.
func contextError(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		err = context.DeadlineExceeded
	}
	return &Error{code: CodeOf(err), msg: err.Error(), err: err}
}

// start numbers call and adds it to the calls in progress, unless the
// connection cannot take it. It runs under the write lock, so calls go out
// in the order of their ids.
func (c *Client) start(call *clientCall) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.unusableLocked(); err != nil {
		return err
	}
	c.nextID++
	call.id = c.nextID
	c.lastMade.Store(call.id)
	call.req.id, call.req.owner, call.req.credit = call.id, call, int64(c.w.peer.streamWindow)
	call.req.open.Store(true)
	call.halves.Store(2)
	c.calls[call.id] = call
	if len(c.calls) > 1 {
		c.w.markShared()
	}
	return nil
}

// upload sends the request stream.
func (c *Client) upload(call *clientCall, body io.Reader) {
	_, _, err := c.w.sendStream(&call.req, body, func() Metadata { return nil })
	if err != nil && err != errHalfClosed {
		c.fail(err)
	}
}

// streamOf returns call's response stream, nil until its header arrived.
func (call *clientCall) streamOf() *streamReader {
	call.mu.Lock()
	defer call.mu.Unlock()
	return call.stream
}

// abort gives up call: the server is told with RST, and the connection is
// given up if the server does not end the call in time. A response stream
// is stopped too (its Read returns reason), so that the reader goroutine
// discards the rest of it instead of waiting for a consumer that is gone;
// onHeader stops a stream that arrives after the abort.
func (c *Client) abort(call *clientCall, reason error) {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.aborted || call.respEnded {
		if call.respEnded {
			// The response is complete; only the request stream may
			// still be running: end it.
			c.w.writeRST(&call.req, CodeOf(reason), messageOf(reason))
		}
		return
	}
	call.aborted, call.abortReason = true, reason
	if call.stream != nil {
		call.stream.stop(reason)
	}
	call.abortTimer = time.AfterFunc(c.cfg.abortTimeout, func() {
		c.fail(&Error{code: CodeUnavailable, msg: fmt.Sprintf("server did not end aborted call %d within %v", call.id, c.cfg.abortTimeout)})
	})
	if !c.w.writeRST(&call.req, CodeOf(reason), messageOf(reason)) {
		c.w.writeControl(FrameHeader{Type: TypeRST, Call: call.id}, rstPayload(CodeOf(reason), messageOf(reason)))
	}
}

// halfDone is called once per half; the second completes the call.
func (c *Client) halfDone(call *clientCall) {
	if call.halves.Add(-1) == 0 {
		c.complete(call, true)
	}
}

// complete ends call and frees its place on the connection. Once the
// server went away, the last call to end acknowledges its CLOSE.
func (c *Client) complete(call *clientCall, reusable bool) {
	if !call.completed.CompareAndSwap(false, true) {
		return
	}
	call.mu.Lock()
	if call.abortTimer != nil {
		call.abortTimer.Stop()
	}
	if call.stopCtx != nil {
		call.stopCtx()
	}
	call.respEnded = true
	call.mu.Unlock()
	if call.pipe != nil {
		call.pipe.closeRead(io.EOF) // a call the connection's failure ended
	}
	c.mu.Lock()
	delete(c.calls, call.id)
	ack := c.goAway && !c.acked && len(c.calls) == 0 && c.err == nil && !c.closing
	if ack {
		c.acked = true
		c.err = &Error{code: CodeUnavailable, msg: "connection closed: the server went away", err: errGoingAway}
	}
	if len(c.calls) == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
	reusable = reusable && c.unusableLocked() == nil
	c.mu.Unlock()
	if ack {
		c.w.ackClose()
		c.w.close()
	}
	if call.onDone != nil {
		call.onDone(reusable)
	}
	<-c.sem
}

// deliver answers the waiting Call once.
func (c *Client) deliver(call *clientCall, ev clientEvent) {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.has.Load() {
		return
	}
	call.ev = ev
	call.has.Store(true)
	if call.answered != nil {
		call.answered <- struct{}{}
	}
}

// answeredChan returns the channel deliver sends call's event on, made on
// first use and holding the event already if it came before.
func (call *clientCall) answeredChan() chan struct{} {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.answered == nil {
		call.answered = make(chan struct{}, 1)
		if call.has.Load() {
			call.answered <- struct{}{}
		}
	}
	return call.answered
}

// takeEvent waits for call's event.
func (call *clientCall) takeEvent() clientEvent {
	<-call.answeredChan()
	return call.ev
}
