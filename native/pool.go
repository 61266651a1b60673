package native

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Pool keeps up to size connections to one server for concurrent callers.
// A call takes an idle connection, or dials a new one while fewer than size
// are open, or waits for one to be free. A connection returns to the pool
// when its call completes (for a stream response: when the stream is read to
// its end or closed); a broken one is dropped and replaced on demand.
type Pool struct {
	dial func(ctx context.Context) (*Client, error)
	sem  chan struct{} // one token per connection in use or being dialled

	mu      sync.Mutex
	idle    []*Client
	open    int
	closed  bool
	closing int        // Close calls of dropped connections in flight
	closed0 *sync.Cond // on mu: signalled when closing drops to 0

	dials, waits, failures atomic.Int64
}

// NewPool returns a pool of at most size connections made by dial, for
// example:
//
//	native.NewPool(func(ctx context.Context) (*native.Client, error) {
//		return native.Dial(ctx, "tcp", addr)
//	}, 8)
func NewPool(dial func(ctx context.Context) (*Client, error), size int) *Pool {
	p := &Pool{dial: dial, sem: make(chan struct{}, max(size, 1))}
	p.closed0 = sync.NewCond(&p.mu)
	return p
}

// PoolStats are a pool's counters.
type PoolStats struct {
	Size     int   // the most connections the pool keeps
	Open     int   // connections open now
	Idle     int   // open connections without a call
	Dials    int64 // connections dialled so far
	Waits    int64 // calls that had to wait for a connection
	Failures int64 // dials that failed
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Size: cap(p.sem), Open: p.open, Idle: len(p.idle), Dials: p.dials.Load(), Waits: p.waits.Load(), Failures: p.failures.Load()}
}

// Call makes the call on a pooled connection; see Client.Call. A call the
// server did not process because it was closing the connection (it shut
// down, or closed the connection as idle just as the call was sent) is made
// again on another connection, unless its request has a stream, which may
// have been read already.
func (p *Pool) Call(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	for tries := 1; ; tries++ {
		err := p.callOnce(ctx, method, req, resp, opts)
		if tries >= maxPoolTries || !errors.Is(err, errGoingAway) || ctx.Err() != nil {
			return err
		}
		if kind, _, _ := requestParts(req); kind.HasStream() {
			return err
		}
	}
}

// maxPoolTries bounds how often Pool.Call makes a call the server did not
// process: each try but the last met a connection that was going away.
const maxPoolTries = 3

func (p *Pool) callOnce(ctx context.Context, method string, req, resp any, opts []CallOption) error {
	select {
	case p.sem <- struct{}{}:
	default:
		p.waits.Add(1)
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return contextError(ctx)
		}
	}
	c, err := p.get(ctx)
	if err != nil {
		<-p.sem
		return err
	}
	return c.call(ctx, method, req, resp, opts, func(reusable bool) { p.put(c, reusable) })
}

// get returns an idle connection or dials one; the caller holds a token.
func (p *Pool) get(ctx context.Context) (*Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if c.usable() {
			p.mu.Unlock()
			return c, nil
		}
		p.open--
		p.closeLocked(c)
	}
	p.open++
	p.mu.Unlock()
	p.dials.Add(1)
	c, err := p.dial(ctx)
	if err != nil {
		p.failures.Add(1)
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		if _, ok := err.(*Error); !ok {
			err = &Error{code: CodeUnavailable, msg: "dial: " + err.Error(), err: err}
		}
		return nil, err
	}
	return c, nil
}

// put returns c after its call and frees the token.
func (p *Pool) put(c *Client, reusable bool) {
	p.mu.Lock()
	if reusable && !p.closed {
		p.idle = append(p.idle, c)
	} else {
		p.open--
		p.closeLocked(c)
	}
	p.mu.Unlock()
	<-p.sem
}

// closeLocked closes a dropped connection without blocking the caller, which
// may be the connection's own reader goroutine; p.mu is held. Close waits
// for these closes (a counter under p.mu rather than a WaitGroup: a call may
// drop its connection while Close is already waiting).
func (p *Pool) closeLocked(c *Client) {
	p.closing++
	go func() {
		c.Close()
		p.mu.Lock()
		if p.closing--; p.closing == 0 {
			p.closed0.Broadcast()
		}
		p.mu.Unlock()
	}()
}

// Close closes the idle connections, waits for them (and any other
// connection being closed) to close, and makes further calls fail;
// connections in use are closed when their call completes.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		p.closeLocked(c)
	}
	p.open -= len(p.idle)
	p.idle = nil
	for p.closing > 0 {
		p.closed0.Wait()
	}
	return nil
}
