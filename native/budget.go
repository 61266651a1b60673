package native

// The server-wide budget for request JSON bodies. A request's JSON body is
// held whole until its handler decodes it, so each connection may hold up
// to WithMaxBodySize; the budget bounds what all connections together hold
// (WithMaxBodyMemory). A body grows only as its bytes arrive, and each growth
// of its buffer is taken from the budget first: a call whose body does not
// fit fails with RESOURCE_EXHAUSTED, and the server never holds more than the
// budget. The bytes go back when the body is released: decoded by the
// handler, refused, aborted, or the connection gone.

import (
	"fmt"
	"sync/atomic"
)

// bodyBudget counts the bytes of request-body buffers a server holds.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes; it reports false, reserving nothing, if that would
// go over the budget.
func (b *bodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes.
func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// readBody appends the next n bytes of a BODY payload to call's body as they
// arrive. Once the budget refuses a growth, the body is dropped and the
// rest of it discarded; the call fails at its END (onBody).
func (c *serverConn) readBody(call *serverCall, n uint32) error {
	fr := c.w.fr
	for n > 0 {
		p, err := fr.arrived(n)
		if err != nil {
			return err
		}
		if !call.overBudget {
			if c.growBody(call, len(p)) {
				call.body = append(call.body, p...)
			} else {
				call.overBudget = true
				c.releaseBody(call)
			}
		}
		fr.r.Discard(len(p))
		n -= uint32(len(p))
	}
	return nil
}

// growBody makes room for k more bytes in call's body, with the growth
// taken from the budget first. The buffer doubles (up to the body limit);
// when that does not fit in the budget, it grows by a quarter, and then to
// just what the bytes need. Growth stays geometric as long as it can: each
// growth leaves the old buffer to the garbage collector, and growing by one
// read at a time near the budget made gw serve's RSS 6 times the budget.
func (c *serverConn) growBody(call *serverCall, k int) bool {
	need := len(call.body) + k
	if need <= cap(call.body) {
		return true
	}
	grown := func(n int) int { return int(min(max(int64(n), int64(need)), c.cfg.lim.maxBodySize)) }
	for _, size := range [3]int{grown(2 * cap(call.body)), grown(cap(call.body) + cap(call.body)/4), need} {
		if size < need || !c.s.bodies.take(int64(size-cap(call.body))) {
			continue
		}
		b := make([]byte, len(call.body), size)
		copy(b, call.body)
		call.held += int64(size - cap(call.body))
		call.body = b
		return true
	}
	return false
}

// releaseBody drops call's body and gives its bytes back to the budget.
func (c *serverConn) releaseBody(call *serverCall) {
	c.s.bodies.give(call.held)
	call.held, call.body = 0, nil
}

// overBudgetError is the error of a call whose body did not fit in the
// budget.
func (c *serverConn) overBudgetError(call *serverCall) error {
	return &Error{code: CodeResourceExhausted, msg: fmt.Sprintf(
		"request body of %q: the server's memory for the request bodies of all connections (%d bytes) is in use; the call was not processed",
		call.hdr.Method, c.s.bodies.max)}
}
