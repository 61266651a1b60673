package native

// A server call's context, made only when its handler needs one.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callContext is a server call's context, held in its serverCall. It
// answers the callInfoKey itself (withCallInfo's value) and makes the
// context package's cancelCtx, derived from the connection's context, the
// first time anything else is asked of it: Done, Err, another key. Until
// then a cancel is only recorded. Most small calls never look, and a
// context.WithCancelCause per call was two allocations, an entry in the
// connection context's children and its removal: about 3% of a small
// call's CPU.
//
// Everything else is the made context's, so contexts derived from this one
// are linked to it as to any cancelCtx, and context.Cause works (it asks
// for the context package's own key, which Value passes on).
type callContext struct {
	parent context.Context // the connection's
	ci     *callInfo

	made      atomic.Bool // ctx and stop are set, and never change again
	mu        sync.Mutex  // orders making against cancel
	ctx       context.Context
	stop      context.CancelCauseFunc
	cancelled bool  // before ctx was made
	cause     error // the first cancel's, before ctx was made
}

func (c *callContext) init(parent context.Context, ci *callInfo) {
	c.parent, c.ci = parent, ci
}

// context returns the made context, making it first if needed.
func (c *callContext) context() context.Context {
	if c.made.Load() {
		return c.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.made.Load() {
		if c.cancelled {
			// Ended already: cancelled with its own cause, not whatever
			// ends the connection later.
			c.ctx, c.stop = context.WithCancelCause(context.WithoutCancel(c.parent))
			c.stop(c.cause)
		} else {
			c.ctx, c.stop = context.WithCancelCause(c.parent)
		}
		c.made.Store(true)
	}
	return c.ctx
}

// cancel cancels the context with cause; the first cancel's cause stays.
func (c *callContext) cancel(cause error) {
	c.mu.Lock()
	if c.made.Load() {
		c.mu.Unlock()
		c.stop(cause)
		return
	}
	if !c.cancelled {
		c.cancelled, c.cause = true, cause
	}
	c.mu.Unlock()
}

func (c *callContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *callContext) Done() <-chan struct{}       { return c.context().Done() }
func (c *callContext) Err() error                  { return c.context().Err() }

func (c *callContext) Value(key any) any {
	if key == (callInfoKey{}) {
		return c.ci
	}
	return c.context().Value(key)
}

func (c *callContext) String() string { return "native.callContext" }
