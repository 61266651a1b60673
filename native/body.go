package native

// JSON bodies in BODY frames, as client and server receive them. A JSON
// body is held whole until it is decoded, so it is read as its bytes
// arrive: its buffer grows with the bytes received, never by the length a
// frame claims, up to the size limit (WithMaxBodySize); past it, the rest
// is discarded and the call fails at the body's END.
//
// A server also bounds what the request bodies of all its connections hold
// together (WithMaxBodyMemory, bodyBudget): each growth of a body's buffer
// is taken from the budget first, a call whose body does not fit fails
// with RESOURCE_EXHAUSTED, and the server never holds more than the budget.
// The bytes go back when the body is released: decoded by the handler,
// refused, aborted, or the connection gone. A client has no budget: its
// callers bound how many responses it waits for.

import (
	"fmt"
	"sync/atomic"

	"github.com/framegate/framegate/internal/bufpool"
)

// jsonBody is one JSON body being received, owned by the reading role's
// holder.
type jsonBody struct {
	buf        []byte
	pooled     *[]byte // the scratch buf lies in, if pooled
	held       int64   // buf's capacity taken from the budget
	tooBig     bool    // over the size limit: the rest is discarded
	overBudget bool    // the budget refused a growth: the rest is discarded
}

// read reads the next BODY payload, n bytes, into b. limit is the size
// limit and budget the server's (nil for a client).
func (b *jsonBody) read(fr *framer, n uint32, limit int64, budget *bodyBudget) error {
	if !b.tooBig && int64(len(b.buf))+int64(n) > limit {
		b.tooBig = true
		b.release(budget)
	}
	for n > 0 && !b.tooBig && !b.overBudget {
		if len(b.buf) == cap(b.buf) && !b.grow(fr, n, budget) {
			b.overBudget = true
			b.release(budget)
			break
		}
		m, err := fr.r.Read(b.buf[len(b.buf):min(cap(b.buf), len(b.buf)+int(n))])
		b.buf = b.buf[:len(b.buf)+m]
		n -= uint32(m)
		if err != nil && n > 0 {
			return err
		}
	}
	return fr.discard(n)
}

// grow makes room in b.buf for more of the n payload bytes still to come,
// taken from the budget first. The buffer doubles, by at least a read
// buffer and at most what the frame still holds: at most twice the bytes
// received, whatever the length claimed. When the budget cannot give that,
// it grows by a quarter, then by the bytes that have arrived. Growth stays
// geometric as long as it can: each growth leaves the old buffer to the
// garbage collector, and growing by one read at a time near the budget
// made gw serve's RSS 6 times the budget.
func (b *jsonBody) grow(fr *framer, n uint32, budget *bodyBudget) bool {
	c := cap(b.buf)
	if c == 0 && n <= bodyScratchSize && budget.take(bodyScratchSize) {
		b.pooled = bufpool.Get(bodyScratchSize)
		b.buf, b.held = (*b.pooled)[:0], bodyScratchSize
		return true
	}
	for i := range 3 {
		var more int
		switch i {
		case 0:
			more = max(c, readBufferSize)
		case 1:
			more = c / 4
		case 2:
			if fr.r.Buffered() == 0 {
				fr.r.Peek(1) // an error is the next Read's
			}
			more = max(fr.r.Buffered(), 1)
		}
		if more = min(more, int(n)); more == 0 || !budget.take(int64(more)) {
			continue
		}
		nb := make([]byte, len(b.buf), c+more)
		copy(nb, b.buf)
		b.free()
		b.buf, b.held = nb, b.held+int64(more)
		return true
	}
	return false
}

// bodyScratchSize is the size of the pooled buffer a body that starts
// with a frame of at most this many bytes is read into: the small bodies
// of most calls are neither allocated nor collected. It is taken from the
// budget whole.
const bodyScratchSize = 2 << 10

// release drops b's bytes and gives them back to the budget.
func (b *jsonBody) release(budget *bodyBudget) {
	budget.give(b.held)
	b.free()
	b.held, b.buf = 0, nil
}

// free gives back the pooled scratch b.buf lies in, if it does; b.buf
// must not be used after.
func (b *jsonBody) free() {
	if b.pooled != nil {
		bufpool.Put(b.pooled)
		b.pooled = nil
	}
}

// failure is why a complete body cannot be used, or nil: what names it
// ("request", "response"), limit is the size limit.
func (b *jsonBody) failure(what, method string, limit int64, budget *bodyBudget) error {
	switch {
	case b.tooBig:
		return Errorf(CodeResourceExhausted, "%s body of %q exceeds the limit of %d bytes", what, method, limit)
	case b.overBudget:
		return &Error{code: CodeResourceExhausted, msg: fmt.Sprintf(
			"%s body of %q: the server's memory for the request bodies of all connections (%d bytes) is in use; the call was not processed",
			what, method, budget.max)}
	}
	return nil
}

// bodyBudget counts the bytes of request-body buffers a server holds. A
// nil budget takes everything.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes; it reports false, reserving nothing, if that would
// go over the budget.
func (b *bodyBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes.
func (b *bodyBudget) give(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}
