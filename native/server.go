package native

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves registered handlers on any number of connections. Handlers
// may be registered and unregistered while it serves.
type Server struct {
	cfg      config
	regMu    sync.Mutex                          // serialises Register/Unregister
	handlers atomic.Pointer[map[string]*handler] // copy on write
	schema   atomic.Pointer[schemaCache]
	describe *handler
	names    func([]byte) (string, bool) // knownName, bound once
	bodies   bodyBudget                  // request bodies held by all connections
	calls    atomic.Int64                // calls counted against WithMaxServerCalls

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	shutdown  bool
	connsDone chan struct{} // closed when conns becomes empty during shutdown
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = &Error{code: CodeUnavailable, msg: "server closed"}

// NewServer returns a server with no endpoints but the built-in ones.
func NewServer(opts ...Option) *Server {
	s := &Server{
		cfg:       newConfig(opts),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*serverConn]struct{}{},
	}
	s.cfg.finish()
	s.bodies.max = s.cfg.maxBodyMemory
	m := map[string]*handler{}
	s.handlers.Store(&m)
	s.describe = s.describeHandler()
	s.names = s.knownName
	return s
}

// schemaCache is the Schema of one handlers map.
type schemaCache struct {
	handlers *map[string]*handler
	schema   *Schema
}

// Register makes fn callable as endpoint name. fn must have one of the
// forms described in the package documentation; Register says what is
// wrong with one that does not, and refuses a name already registered.
// opts declare what a call does (Safe, Idempotent); without them an
// endpoint is taken to change state.
func (s *Server) Register(name string, fn any, opts ...EndpointOption) error {
	h, err := newHandler(name, fn)
	if err != nil {
		return err
	}
	for _, o := range opts {
		o(&h.decl)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	old := *s.handlers.Load()
	if _, dup := old[name]; dup {
		return fmt.Errorf("native: Register(%q): endpoint already registered", name)
	}
	m := make(map[string]*handler, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = h
	s.handlers.Store(&m)
	return nil
}

// Unregister removes an endpoint; calls already running finish. It reports
// whether the endpoint existed.
func (s *Server) Unregister(name string) bool {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	old := *s.handlers.Load()
	if _, ok := old[name]; !ok {
		return false
	}
	m := make(map[string]*handler, len(old))
	for k, v := range old {
		if k != name {
			m[k] = v
		}
	}
	s.handlers.Store(&m)
	return true
}

// knownName returns the name of the endpoint b names, if there is one,
// without copying b (decodeHeaderNamed).
func (s *Server) knownName(b []byte) (string, bool) {
	if h := s.lookup(string(b)); h != nil {
		return h.name, true
	}
	return "", false
}

func (s *Server) lookup(name string) *handler {
	if name == DescribeEndpoint {
		return s.describe
	}
	return (*s.handlers.Load())[name]
}

// Schema describes the registered endpoints and their types; it is what
// the DescribeEndpoint control endpoint answers. The result is shared: do
// not modify it.
func (s *Server) Schema() (*Schema, error) {
	hp := s.handlers.Load()
	if c := s.schema.Load(); c != nil && c.handlers == hp {
		return c.schema, nil
	}
	hs := *hp
	names := make([]string, 0, len(hs))
	for n := range hs {
		names = append(names, n)
	}
	sort.Strings(names)
	in := make([]schemaInput, len(names))
	for i, n := range names {
		h := hs[n]
		in[i] = schemaInput{Name: n, Request: h.request, Response: h.response, ReqType: h.reqType, RespType: h.respType, ReqMsg: h.reqMsg, RespMsg: h.respMsg, Decl: h.decl}
	}
	sc, err := buildSchema(in)
	if err != nil {
		return nil, err
	}
	sc.Protocol = ProtocolVersion
	s.schema.Store(&schemaCache{handlers: hp, schema: sc})
	return sc, nil
}

// describeHandler is the built-in DescribeEndpoint.
func (s *Server) describeHandler() *handler {
	h, err := parseHandler(DescribeEndpoint, func(resp *Schema) error {
		sc, err := s.Schema()
		if err != nil {
			return NewError(CodeInternal, err)
		}
		*resp = *sc
		return nil
	})
	if err != nil {
		panic(err)
	}
	return h
}

// Serve accepts connections on l and serves each in its own goroutine until
// Shutdown or Close, then returns ErrServerClosed. Other accept errors are
// returned after closing l.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			down := s.shutdown
			s.mu.Unlock()
			if down {
				return ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.logger.Warn("native: accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("native: accept: %w", err)
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeConn(c); err != nil {
				s.cfg.logger.Debug("native: connection ended", "peer", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// ServeConn serves one connection until the client closes it (nil), the
// server shuts down (nil after a clean going-away), or it breaks (the
// error). It returns after every handler it started has returned. Over the
// connection limit (WithMaxConns) it closes rwc at once and returns an
// error with CodeResourceExhausted.
func (s *Server) ServeConn(rwc io.ReadWriteCloser) error {
	c := newServerConn(s, rwc)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		rwc.Close()
		return ErrServerClosed
	}
	victim, abrupt, err := s.admitLocked()
	if err != nil {
		s.mu.Unlock()
		return s.refuse(rwc, err)
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	if victim != nil {
		victim.evict(abrupt)
	}
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if s.shutdown && len(s.conns) == 0 && s.connsDone != nil {
			close(s.connsDone)
			s.connsDone = nil
		}
		s.mu.Unlock()
	}()
	return c.serve()
}

// Shutdown stops accepting connections, asks every connection to go away
// once its current call is done (a CLOSE frame: clients finish that call and
// acknowledge), and waits for them until ctx is done; then it closes what
// is left, cancelling the calls still running. It returns ctx's error if it
// had to force.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		l.Close()
	}
	var done chan struct{}
	if len(s.conns) > 0 {
		if s.connsDone == nil {
			s.connsDone = make(chan struct{})
		}
		done = s.connsDone
	}
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway()
	}
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes every listener and connection at once; running calls see
// their context cancelled. Connections end without the close handshake.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.w.close()
		// Cancel the calls now: a handler that has not read the DATA frame
		// handed to it holds up the connection's reader, which would
		// otherwise never see the transport closed.
		c.cancel(ErrServerClosed)
	}
	return nil
}
