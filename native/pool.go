package native

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
)

// Pool spreads calls over up to size multiplexed connections to one
// server, dialled as needed. A call runs on the open connection with the
// fewest calls in progress; a new connection is dialled only when every
// open one has a call in progress and fewer than size are open, so a pool of
// size 1 is one connection carrying every call. A connection that fails or
// goes away is dropped, and a call the server did not process because it
// was going away is made again on another connection.
type Pool struct {
	dial func(ctx context.Context) (*Client, error)
	size int

	mu      sync.Mutex
	conns   []*pooled
	dialing int        // dials in progress
	dialed  *sync.Cond // on mu: a dial ended
	closed  bool
	closing int        // Close calls of dropped connections in flight
	orphans int        // dropped connections whose calls have not ended
	closed0 *sync.Cond // on mu: signalled when closing drops to 0

	dials, waits, failures, retries atomic.Int64
}

// pooled is one connection of a pool and its calls in progress.
type pooled struct {
	c       *Client
	calls   int  // mu
	dropped bool // mu: no longer in conns; closed when calls end
}

// NewPool returns a pool of at most size connections made by dial, for
// example:
//
//	native.NewPool(func(ctx context.Context) (*native.Client, error) {
//		return native.Dial(ctx, "tcp", addr)
//	}, 1)
func NewPool(dial func(ctx context.Context) (*Client, error), size int) *Pool {
	p := &Pool{dial: dial, size: max(size, 1)}
	p.closed0 = sync.NewCond(&p.mu)
	p.dialed = sync.NewCond(&p.mu)
	return p
}

// PoolStats are a pool's counters.
type PoolStats struct {
	Size     int   // the most connections the pool keeps
	Open     int   // connections open now
	Idle     int   // open connections without a call
	Calls    int   // calls in progress
	Dials    int64 // connections dialled so far
	Waits    int64 // calls that waited for a connection being dialled
	Failures int64 // dials that failed
	// Retries counts calls made again on another connection because the
	// server of the first went away without taking them (CLOSE).
	Retries int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PoolStats{Size: p.size, Open: len(p.conns), Dials: p.dials.Load(), Waits: p.waits.Load(), Failures: p.failures.Load(), Retries: p.retries.Load()}
	for _, pc := range p.conns {
		st.Calls += pc.calls
		if pc.calls == 0 {
			st.Idle++
		}
	}
	return st
}

// Call makes a call on one of the pool's connections. A call the server
// refused unprocessed because it was going away is made again on another
// connection, up to maxPoolTries times, unless its request is a stream
// (which cannot be read twice).
func (p *Pool) Call(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	for tries := 1; ; tries++ {
		err := p.callOnce(ctx, method, req, resp, opts)
		if tries >= maxPoolTries || !errors.Is(err, errGoingAway) || ctx.Err() != nil {
			return err
		}
		if kind, _, _ := requestParts(req); kind.HasStream() {
			return err
		}
		p.retries.Add(1)
	}
}

// maxPoolTries bounds the attempts of one call across going-away
// connections.
const maxPoolTries = 3

func (p *Pool) callOnce(ctx context.Context, method string, req, resp any, opts []CallOption) error {
	pc, err := p.get(ctx)
	if err != nil {
		return err
	}
	return pc.c.call(ctx, method, req, resp, opts, func(bool) { p.put(pc) })
}

// get picks the connection for a call and counts the call on it.
func (p *Pool) get(ctx context.Context) (*pooled, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for waited := false; ; {
		if p.closed {
			return nil, ErrClosed
		}
		var best *pooled
		for i := 0; i < len(p.conns); {
			pc := p.conns[i]
			if !pc.c.usable() {
				p.dropLocked(i)
				continue
			}
			if best == nil || pc.calls < best.calls {
				best = pc
			}
			i++
		}
		if best != nil && (best.calls == 0 || len(p.conns)+p.dialing >= p.size) {
			best.calls++
			return best, nil
		}
		if len(p.conns)+p.dialing < p.size {
			return p.dialLocked(ctx)
		}
		// Every connection is being dialled: wait for one.
		if !waited {
			waited = true
			p.waits.Add(1)
		}
		if err := p.waitDialLocked(ctx); err != nil {
			return nil, err
		}
	}
}

// dialLocked dials a connection for the calling call, with mu unlocked
// meanwhile.
func (p *Pool) dialLocked(ctx context.Context) (*pooled, error) {
	p.dialing++
	p.mu.Unlock()
	p.dials.Add(1)
	c, err := p.dial(ctx)
	p.mu.Lock()
	p.dialing--
	p.dialed.Broadcast()
	if err != nil {
		p.failures.Add(1)
		if _, ok := err.(*Error); !ok {
			err = &Error{code: CodeUnavailable, msg: "dial: " + err.Error(), err: err}
		}
		return nil, err
	}
	pc := &pooled{c: c, calls: 1}
	if p.closed {
		p.closeLocked(c)
		return nil, ErrClosed
	}
	p.conns = append(p.conns, pc)
	return pc, nil
}

// waitDialLocked waits for a dial in progress to end, or for ctx.
func (p *Pool) waitDialLocked(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.dialed.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.dialed.Wait()
	if ctx.Err() != nil {
		return contextError(ctx)
	}
	return nil
}

// Client returns the connection the pool would make a call on now, dialling
// it if need be, without making one: for work of the caller's own beside
// the pool's calls (describing the server, probing its health), so that it
// needs no connection of its own (over a pipe to a process, a second
// process). Remove takes it out if it turns out broken.
func (p *Pool) Client(ctx context.Context) (*Client, error) {
	pc, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	c := pc.c
	p.put(pc)
	return c, nil
}

// Remove takes c out of the pool, if it is there: no call starts on it any
// more, and it is closed once its calls end.
func (p *Pool) Remove(c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.IndexFunc(p.conns, func(pc *pooled) bool { return pc.c == c }); i >= 0 {
		p.dropLocked(i)
	}
}

// put ends a call on pc. A connection that can take no more calls, or one
// the pool dropped or is closing, is closed once its last call ends.
func (p *Pool) put(pc *pooled) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.calls--; pc.calls > 0 {
		return
	}
	switch {
	case pc.dropped:
		p.orphans--
		p.closeLocked(pc.c)
	case p.closed || !pc.c.usable():
		p.dropLocked(slices.Index(p.conns, pc))
	}
}

// dropLocked removes conns[i]; it is closed once its calls end (a Client's
// Close would abort them).
func (p *Pool) dropLocked(i int) {
	pc := p.conns[i]
	p.conns = slices.Delete(p.conns, i, i+1)
	if pc.calls == 0 {
		p.closeLocked(pc.c)
		return
	}
	pc.dropped = true
	p.orphans++
}

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

// Close closes the pool's connections as their calls end, and waits for
// them to close. Calls made after Close fail with ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.dialed.Broadcast()
	for i := len(p.conns) - 1; i >= 0; i-- {
		p.dropLocked(i)
	}
	for p.closing > 0 || p.orphans > 0 {
		p.closed0.Wait()
	}
	return nil
}
