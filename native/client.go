package native

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Client makes calls on one connection. It is safe for concurrent use: calls
// take turns, one at a time. A call whose response is a stream holds the
// connection until the stream is read to its end or closed.
type Client struct {
	cfg config
	w   wire
	sem chan struct{} // one call at a time

	nextID     uint32 // guarded by sem
	readerDone chan struct{}

	// The reading role: the reader goroutine reads the server's frames, or
	// a caller reads its own answer (readInline), or the role is parked
	// between calls. Fields marked "role" belong to whoever holds it.
	role      chan struct{} // capacity 1: holds the role while it is parked
	wake      chan struct{} // capacity 1: gives the role to the reader goroutine
	idle      *time.Timer   // gives a parked role to the reader goroutine (onIdle)
	idleMu    sync.Mutex
	idleArmed bool   // idleMu: idle is set
	takesSeen uint64 // idleMu: takes when idle last fired
	takes     atomic.Uint64
	park      bool   // role: the frame just read ended its call's response
	scratch   []byte // role: payload buffer
	// inline is the transport when callers may read their own answers: a
	// net.Conn, whose read deadline interrupts a caller whose context ends
	// while it waits (interrupt). nil: only the reader goroutine reads.
	inline      net.Conn
	pmu         sync.Mutex
	waiting     bool // pmu: a caller waits for bytes in waitReadable
	interrupted bool // pmu: interrupt set a read deadline to end that wait

	mu      sync.Mutex
	cur     *clientCall
	err     error // the connection is unusable, and why
	closing bool  // Close sent CLOSE
	goAway  bool  // the server sent CLOSE
	// goAwayLast is the last call id the server's CLOSE says it processed.
	goAwayLast uint32
	closeErr   error // how the close handshake ended
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
	body   []byte
	stream *streamReader
}

// clientCall is one call on a client connection.
type clientCall struct {
	id     uint32
	method string
	accept BodyKind
	opts   callOpts
	req    half // request half; req.open guarded by wire.wmu

	events    chan clientEvent // capacity 1, one event per call
	delivered bool             // reader goroutine only

	// Response, owned by the reader goroutine. stream is written under mu,
	// so other goroutines read it under mu (streamOf).
	part   respPart
	body   []byte
	tooBig bool
	stream *streamReader
	// want is the stream's announced length (-1: none).
	want int64

	mu          sync.Mutex // orders an abort's RST before the call completes
	respEnded   bool
	aborted     bool
	abortReason error // why the call was aborted, once aborted
	abortTimer  *time.Timer
	stopCtx     func() bool

	halves    atomic.Int32
	completed atomic.Bool
	onDone    func(reusable bool)
}

// NewClient runs the client side of the handshake on rwc and returns a
// client for it. The client owns rwc and closes it in Close.
func NewClient(rwc io.ReadWriteCloser, opts ...Option) (*Client, error) {
	c := &Client{cfg: newConfig(opts), sem: make(chan struct{}, 1), readerDone: make(chan struct{}),
		role: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
	c.cfg.finish()
	c.w.rwc = rwc
	c.w.fr = newFramer(rwc, c.cfg.lim)
	if err := c.w.handshake(&c.cfg, true); err != nil {
		rwc.Close()
		return nil, err
	}
	c.inline, _ = rwc.(net.Conn)
	c.idle = time.AfterFunc(time.Hour, c.onIdle)
	c.idle.Stop()
	go c.readLoop()
	return c, nil
}

// Dial connects to a native server at addr on network ("tcp", "unix", ...)
// and runs the handshake. ctx bounds both.
func Dial(ctx context.Context, network, addr string, opts ...Option) (*Client, error) {
	return DialTLS(ctx, network, addr, nil, opts...)
}

// DialTLS is Dial over TLS; a nil config means plain Dial.
func DialTLS(ctx context.Context, network, addr string, cfg *tls.Config, opts ...Option) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &Error{code: CodeUnavailable, msg: err.Error(), err: err}
	}
	if cfg != nil {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &Error{code: CodeUnavailable, msg: "TLS handshake: " + err.Error(), err: err}
		}
		conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts[:len(opts):len(opts)], optionFunc(func(c *config) {
			if d := time.Until(dl); c.handshakeTimeout <= 0 || d < c.handshakeTimeout {
				c.handshakeTimeout = max(d, time.Millisecond)
			}
		}))
	}
	return NewClient(conn, opts...)
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
	var data []byte
	if kind.HasJSON() {
		var err error
		if data, err = encodeRequestJSON(value); err != nil {
			return notSent(&Error{code: CodeInvalidArgument, msg: fmt.Sprintf("cannot encode the request for %q: %v", method, err), err: err})
		}
	}
	call := &clientCall{method: method, accept: accept, events: make(chan clientEvent, 1), onDone: onDone}
	for _, o := range opts {
		o.applyCall(&call.opts)
	}
	hdr := requestHeader{Method: method, Body: kind, Accept: accept, Metadata: call.opts.md,
		Range: call.opts.rangeSpec, IfRange: call.opts.ifRange, Head: call.opts.head}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return notSent(contextError(ctx))
	}
	if err := c.start(call); err != nil {
		<-c.sem
		return notSent(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		if hdr.Timeout = int64(time.Until(dl)); hdr.Timeout <= 0 {
			c.complete(call, true)
			return contextError(ctx)
		}
	}
	if ctx.Err() != nil {
		c.complete(call, true)
		return contextError(ctx)
	}
	if err := c.w.writeMessage(&call.req, &hdr, data, kind.HasJSON(), !kind.HasStream()); err != nil {
		c.fail(err)
		return c.connError()
	}
	if kind.HasStream() {
		go c.upload(call, body)
	}
	call.mu.Lock()
	if !call.respEnded {
		call.stopCtx = context.AfterFunc(ctx, func() {
			c.interrupt() // first: abort's write may wait (a pipe)
			c.abort(call, contextError(ctx))
		})
	}
	call.mu.Unlock()
	ev, err := c.await(ctx, call)
	if err != nil {
		c.abort(call, err)
		return err
	}
	if ev.err != nil {
		return ev.err
	}
	if ev.stream != nil {
		switch {
		case rc != nil:
			*rc = ev.stream
		case rr != nil:
			*rr = ev.stream
		}
		return nil
	}
	if resp != nil {
		if err := json.Unmarshal(ev.body, resp); err != nil {
			return &Error{code: CodeInternal, msg: fmt.Sprintf("cannot decode the response of %q into %T: %v", method, resp, err), err: err}
		}
	}
	return nil
}

// await returns call's first event, or ctx's error. The caller reads the
// event itself if it finds the reading role parked (readInline), now or
// while it waits: a role parked just after the caller looked would
// otherwise stay unread until the idle timer.
func (c *Client) await(ctx context.Context, call *clientCall) (clientEvent, error) {
	var role chan struct{}
	if c.inline != nil {
		role = c.role
	}
	select {
	case <-role:
	default:
		select {
		case ev := <-call.events:
			return ev, nil
		case <-role:
		case <-ctx.Done():
			return clientEvent{}, contextError(ctx)
		}
	}
	c.takes.Add(1)
	return c.readInline(ctx, call)
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

// start makes call the current call, unless the connection cannot take it.
func (c *Client) start(call *clientCall) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.unusableLocked(); err != nil {
		return err
	}
	c.nextID++
	call.id = c.nextID
	call.req = half{id: call.id, open: true, onEnd: func() { c.halfDone(call) }}
	call.halves.Store(2)
	c.cur = call
	return nil
}

func (c *Client) unusableLocked() error {
	switch {
	case c.err != nil:
		return c.err
	case c.closing:
		return ErrClosed
	case c.goAway:
		return &Error{code: CodeUnavailable, msg: "connection is going away: the server is shutting down", err: errGoingAway}
	}
	return nil
}

// errGoingAway is the cause of the error of a call that was not processed
// because the server is closing the connection: the call was refused before
// it was sent, or the server's CLOSE said it did not process it. Such a call
// may be made again on another connection (Pool.Call does).
var errGoingAway = errors.New("going away")

// connError returns why the connection failed.
func (c *Client) connError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
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
	did, err := c.w.writeRST(&call.req, CodeOf(reason), messageOf(reason))
	if err == nil && !did {
		err = c.w.writeFrame(nil, FrameHeader{Type: TypeRST, Call: call.id}, rstPayload(CodeOf(reason), messageOf(reason)), false)
	}
	if err != nil {
		go c.fail(err)
	}
}

// halfDone is called once per half; the second completes the call.
func (c *Client) halfDone(call *clientCall) {
	if call.halves.Add(-1) == 0 {
		c.complete(call, true)
	}
}

// complete ends call and frees the connection for the next one.
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
	c.mu.Lock()
	if c.cur == call {
		c.cur = nil
	}
	ack := c.goAway && c.err == nil
	if ack {
		c.err = &Error{code: CodeUnavailable, msg: "connection closed: the server went away", err: errGoingAway}
	}
	reusable = reusable && c.unusableLocked() == nil
	c.mu.Unlock()
	if ack {
		c.w.writeFrame(nil, FrameHeader{Type: TypeCloseAck}, nil, false)
		c.w.close()
	}
	if call.onDone != nil {
		call.onDone(reusable)
	}
	<-c.sem
}

// fail marks the connection broken and ends the current call with err.
func (c *Client) fail(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		err = &Error{code: CodeUnavailable, msg: "connection lost", err: err}
	}
	var e *Error
	if !errors.As(err, &e) {
		err = &Error{code: CodeUnavailable, msg: "connection lost: " + err.Error(), err: err}
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	call := c.cur
	c.mu.Unlock()
	c.w.close()
	c.wakeReader()
	if call == nil {
		return
	}
	c.deliver(call, clientEvent{err: err})
	// fail may run on any goroutine, and the reader goroutine may be
	// waiting for the stream's consumer: stop never blocks.
	if s := call.streamOf(); s != nil {
		s.stop(truncated(err))
	}
	c.complete(call, false)
}

// deliver answers the waiting Call once.
func (c *Client) deliver(call *clientCall, ev clientEvent) {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.delivered {
		return
	}
	call.delivered = true
	call.events <- ev
}

// Close ends the connection stack-wise: it aborts a call in progress, sends
// CLOSE, waits for the server's CLOSE_ACK, then closes the transport. It
// returns an error if the handshake did not complete (the transport is
// closed anyway).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.readerDone
		return nil
	}
	c.closing = true
	cur := c.cur
	broken := c.err != nil
	c.mu.Unlock()
	if broken {
		c.w.close()
		c.wakeReader()
		<-c.readerDone
		return nil
	}
	if cur != nil {
		c.abort(cur, ErrClosed)
	}
	t := time.NewTimer(c.cfg.closeTimeout)
	defer t.Stop()
	select {
	case c.sem <- struct{}{}:
	case <-t.C:
		c.fail(&Error{code: CodeDeadlineExceeded, msg: "close: the call in progress did not end in time"})
		<-c.readerDone
		return c.connError()
	}
	defer func() { <-c.sem }()
	// CLOSE_ACK must be read; a call that ends parks the role after it
	// frees sem and then sees closing (parkRole).
	c.wakeReader()
	c.mu.Lock()
	last := c.nextID
	broken = c.err != nil
	c.mu.Unlock()
	if broken {
		c.w.close()
		<-c.readerDone
		return nil
	}
	if err := c.w.writeFrame(nil, FrameHeader{Type: TypeClose}, binary.BigEndian.AppendUint32(nil, last), false); err != nil {
		c.w.close()
		<-c.readerDone
		return err
	}
	select {
	case <-c.readerDone:
	case <-t.C:
		c.w.close()
		<-c.readerDone
		return &Error{code: CodeDeadlineExceeded, msg: "close: no CLOSE_ACK from the server in time"}
	}
	c.w.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// usable reports whether the connection can take calls.
func (c *Client) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unusableLocked() == nil
}
