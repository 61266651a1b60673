package native

// A Client's connection: dialling and the handshake, whether it takes
// calls, its failure, and its stack-wise close. The calls themselves are in
// client.go.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

// NewClient runs the client side of the handshake on rwc and returns a
// client for it. The client owns rwc and closes it in Close.
func NewClient(rwc io.ReadWriteCloser, opts ...Option) (*Client, error) {
	c := &Client{cfg: newConfig(opts), readerDone: make(chan struct{}), calls: map[uint32]*clientCall{}}
	c.cfg.clientWindows()
	c.cfg.finish()
	c.w.init(rwc, c.cfg.lim)
	c.rr.init(c.cfg.clientIdleAfter)
	if err := c.w.handshake(&c.cfg, true); err != nil {
		rwc.Close()
		return nil, err
	}
	c.sem = make(chan struct{}, min(c.w.peer.maxCalls, maxClientCalls))
	c.w.onStall = c.rr.wakeReader
	c.inline, _ = rwc.(net.Conn)
	c.hb.start(&c.cfg, &c.w, c.fail)
	go c.readLoop()
	return c, nil
}

// maxClientCalls bounds the calls a client runs at once on one connection,
// whatever the server accepts.
const maxClientCalls = 1 << 16

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

func (c *Client) usableErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unusableLocked()
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

// fail marks the connection broken and ends every call in progress with
// err. Any goroutine may call it.
func (c *Client) fail(err error) {
	err = c.w.failure(err)
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
	calls := make([]*clientCall, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	c.mu.Unlock()
	c.w.close()
	c.hb.stop()
	c.rr.wakeReader()
	for _, call := range calls {
		c.deliver(call, clientEvent{err: err})
		// stop and end never block: the reader goroutine may be
		// anywhere.
		if s := call.streamOf(); s != nil {
			s.end(truncated(err))
		}
		c.complete(call, false)
	}
}

// Close ends the connection stack-wise: it aborts the calls in progress,
// waits for them to end, sends CLOSE, waits for the server's CLOSE_ACK,
// then closes the transport. It returns an error if the handshake did not
// complete (the transport is closed anyway).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.readerDone
		return nil
	}
	c.closing = true
	calls := make([]*clientCall, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	var drained chan struct{}
	if len(c.calls) > 0 {
		c.drained = make(chan struct{})
		drained = c.drained
	}
	broken := c.err != nil
	c.mu.Unlock()
	if broken {
		c.w.close()
		c.rr.wakeReader()
		<-c.readerDone
		return nil
	}
	for _, call := range calls {
		c.abort(call, ErrClosed)
	}
	t := time.NewTimer(c.cfg.closeTimeout)
	defer t.Stop()
	if drained != nil {
		// The server's answers to the aborts must be read.
		c.rr.wakeReader()
		select {
		case <-drained:
		case <-t.C:
			c.fail(&Error{code: CodeDeadlineExceeded, msg: "close: the calls in progress did not end in time"})
			<-c.readerDone
			return c.connError()
		}
	}
	// CLOSE_ACK must be read.
	c.rr.wakeReader()
	var last [4]byte
	var broke bool
	c.w.wl.lock(true)
	binary.BigEndian.PutUint32(last[:], c.nextID)
	c.w.unlock()
	c.mu.Lock()
	broke = c.err != nil
	c.mu.Unlock()
	if broke {
		c.w.close()
		<-c.readerDone
		return nil
	}
	if err := c.w.writeFrame(nil, FrameHeader{Type: TypeClose}, last[:], false); err != nil {
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
