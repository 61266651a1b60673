package native

// Idle connections. A server connection with no call in flight for the
// idle timeout (WithIdleTimeout) is asked to go away through the close
// handshake, as when the server shuts down: CLOSE with the last call id
// served, and the client, which makes no new call on it, answers CLOSE_ACK.
// A call the client sent as the CLOSE crossed it is refused with
// UNAVAILABLE and not processed; its id is above the CLOSE's, so the client
// knows it may make it again on a new connection (Pool does).
//
// The timer is not reset at every call: that puts a timer ahead of a
// netpoller asleep with a later one and wakes it (see runInline). A call's
// end only notes the time (idleSince); the timer, when it fires, looks at
// the connection and sets itself again for the time left.

import "time"

// Messages of the calls refused on a connection going away.
const (
	awayIdle    = "the server closed this connection: it was idle"
	awayEvicted = "the server closed this idle connection to admit a new one (too many connections)"
)

// startIdleTimer starts the idle timer once the handshake is done.
func (c *serverConn) startIdleTimer() {
	d := c.cfg.idleTimeout
	if d <= 0 {
		return
	}
	c.mu.Lock()
	if !c.goingAway {
		c.idleTmr = time.AfterFunc(d, c.checkIdle)
	}
	c.mu.Unlock()
}

// checkIdle is the idle timer's function.
func (c *serverConn) checkIdle() {
	d := c.cfg.idleTimeout
	c.mu.Lock()
	if c.goingAway || c.ctx.Err() != nil {
		c.mu.Unlock()
		return
	}
	left := d
	if len(c.calls) == 0 {
		left = d - time.Since(c.idleSince)
	}
	if left > 0 {
		c.idleTmr.Reset(left)
		c.mu.Unlock()
		return
	}
	c.goAwayLocked(awayIdle)
	c.mu.Unlock()
	c.s.observe(ConnEvent{Kind: ConnIdleClosed, Peer: c.peer})
	c.sendClose()
}

// goAwayLocked marks the connection going away for why; c.mu is held and
// the caller sends CLOSE (or closes the transport) after unlocking.
func (c *serverConn) goAwayLocked(why string) {
	c.drain, c.goingAway, c.awayWhy = true, true, why
}
