package native

// The server's limits on connections (WithMaxConns) and on calls over all
// of them (WithMaxServerCalls; one connection's calls are bounded by
// WithMaxConcurrentCalls, announced in the preface). A call past the
// server's limit is refused at once; its place counts from its HEADER until
// its response ends. For connections: a server counts the connections it
// serves, those still in their handshake included, but not those already
// going away. At the limit, a new connection is admitted by closing the one
// idle the longest (no call in flight) through the close handshake, as
// nginx reuses its idle keepalive connections when it runs out: an idle
// client redials when it needs to, and nobody can keep a well-behaved client
// out by holding connections open. Only when every connection has a call in
// flight is the new one refused: its transport is closed at once, before
// the handshake. A connection still in its handshake speaks no protocol
// yet: it is closed instead.
//
// Connections going away are not counted, since they end within the close
// timeout; to bound them too, once as many are going away as the limit, an
// evicted connection is closed at once instead of through the handshake.

import (
	"fmt"
	"io"
	"net"
)

// ConnEventKind says what happened to a connection (ConnEvent).
type ConnEventKind uint8

const (
	// ConnRefused: a new connection was closed at once, because every one
	// of the WithMaxConns connections had a call in flight.
	ConnRefused ConnEventKind = iota + 1
	// ConnEvicted: an idle connection was closed to admit a new one at the
	// WithMaxConns limit.
	ConnEvicted
	// ConnIdleClosed: a connection idle for WithIdleTimeout was closed.
	ConnIdleClosed
	// CallRefused: a call was refused at once, because the server ran
	// WithMaxServerCalls calls.
	CallRefused
)

func (k ConnEventKind) String() string {
	switch k {
	case ConnRefused:
		return "refused"
	case ConnEvicted:
		return "evicted"
	case ConnIdleClosed:
		return "idle_closed"
	case CallRefused:
		return "call_refused"
	}
	return fmt.Sprintf("ConnEventKind(%d)", uint8(k))
}

// ConnEvent is a connection-level event of a server's limits, reported to
// the function given to WithConnObserver.
type ConnEvent struct {
	Kind ConnEventKind
	Peer string // the peer's address; empty if the transport has none
}

// observe reports ev to the observer, if any.
func (s *Server) observe(ev ConnEvent) {
	if f := s.cfg.connObserver; f != nil {
		f(ev)
	}
}

// ServerStats are a server's counters at one moment.
type ServerStats struct {
	Conns      int   // connections served, those in their handshake and those going away included
	Calls      int   // calls in flight
	BodyMemory int64 // bytes of request bodies held (WithMaxBodyMemory)
}

// Stats returns the server's counters. It looks at every connection: call
// it for metrics, not per call.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServerStats{Conns: len(s.conns), BodyMemory: s.bodies.used.Load()}
	for c := range s.conns {
		c.mu.Lock()
		st.Calls += len(c.calls)
		c.mu.Unlock()
	}
	return st
}

// admitLocked makes room for one more connection under the limit; s.mu is
// held. It returns the connection it chose to evict, already marked going
// away (the caller closes it after unlocking s.mu), and whether to close it
// at once; or an error if every connection has a call in flight.
func (s *Server) admitLocked() (victim *serverConn, abrupt bool, err error) {
	limit := s.cfg.maxConns
	if limit <= 0 || len(s.conns) < limit {
		return nil, false, nil
	}
	for range len(s.conns) + 1 {
		live, away := 0, 0
		var oldest *serverConn
		for c := range s.conns {
			c.mu.Lock()
			if c.goingAway {
				away++
			} else {
				live++
				if len(c.calls) == 0 && (oldest == nil || c.idleSince.Before(oldest.idleSince)) {
					oldest = c
				}
			}
			c.mu.Unlock()
		}
		if live < limit {
			return nil, false, nil
		}
		if oldest == nil {
			return nil, false, &Error{code: CodeResourceExhausted,
				msg: fmt.Sprintf("too many connections: all %d have a call in flight (WithMaxConns)", limit)}
		}
		oldest.mu.Lock()
		ok := len(oldest.calls) == 0 && !oldest.goingAway
		if ok {
			oldest.goAwayLocked(awayEvicted)
			abrupt = !oldest.ready || away >= limit
		}
		oldest.mu.Unlock()
		if ok {
			return oldest, abrupt, nil
		}
		// A call began on it meanwhile: look again.
	}
	return nil, false, &Error{code: CodeResourceExhausted, msg: "too many connections (WithMaxConns)"}
}

// evict closes a connection admitLocked chose.
func (c *serverConn) evict(abrupt bool) {
	c.s.observe(ConnEvent{Kind: ConnEvicted, Peer: c.peer})
	if abrupt {
		c.w.close()
		return
	}
	c.sendClose()
}

// refuse closes a connection over the limit.
func (s *Server) refuse(rwc io.ReadWriteCloser, err error) error {
	peer := ""
	if nc, ok := rwc.(net.Conn); ok && nc.RemoteAddr() != nil {
		peer = nc.RemoteAddr().String()
	}
	// Reported before the peer can see the refusal.
	s.observe(ConnEvent{Kind: ConnRefused, Peer: peer})
	rwc.Close()
	return err
}

// takeCall counts call against WithMaxServerCalls, and reports whether it
// fits.
func (s *Server) takeCall(call *serverCall) bool {
	if s.cfg.maxServerCalls == 0 {
		return true
	}
	if s.calls.Add(1) > int64(s.cfg.maxServerCalls) {
		s.calls.Add(-1)
		return false
	}
	call.counted.Store(true)
	return true
}

// releaseCall gives back call's place, once.
func (s *Server) releaseCall(call *serverCall) {
	if call.counted.CompareAndSwap(true, false) {
		s.calls.Add(-1)
	}
}
