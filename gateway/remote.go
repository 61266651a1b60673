package gateway

// The remote-backend supervisor: a native server in another process, reached
// by a dial function, served through a pool of connections, watched and
// reconnected.
//
// A RemoteBackend keeps a pool (native.Pool) for the calls, and takes one
// of its connections as the control connection, for describing the backend:
// connections multiplex, so a probe never waits behind long downloads for a
// slot, and a backend behind a pipe (exec:) runs one process. The pool
// dials more only when its connections are busy and its size allows. Loss
// is noticed three ways, and the first two are immediate:
//
//   - any connection's transport ends (a read fails, or it is closed: the
//     backend process died, its socket was reset, it shut down);
//   - a call fails with CodeUnavailable (a dial was refused, a connection
//     broke mid-call);
//   - the periodic probe (a describe on the control connection, every
//     ProbeInterval) fails or times out: a half-open connection, a hung
//     backend.
//
// Each of these wakes the supervisor, which describes the backend on the
// control connection. If that fails it takes that connection out of the
// pool and describes on another, dialled at once if need be (the backend
// may merely have dropped one connection); only if that fails too is the
// backend down: health turns NOT_SERVING and every call
// fails at once with UNAVAILABLE, without dialling, until a reconnect
// attempt succeeds. Attempts follow an exponential backoff with jitter
// (MinBackoff doubling up to MaxBackoff, each delay randomised by ±20%). A
// successful attempt describes the backend and mounts its endpoints (only
// when they changed), then health turns SERVING again. The periodic probe
// also mounts endpoints registered or unregistered on a backend that stayed
// up.
//
// With the defaults, a backend process that dies is seen down within
// milliseconds (its connections end), calls fail at once from then on, and
// a backend that comes back is used again at the next attempt: one at once,
// then after about 100ms, 200ms, 400ms, ... and then every 5s or so.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framegate/framegate/native"
)

// DialFunc opens one transport to a remote native server: a TCP or unix
// connection, a TLS one, the stdin and stdout of a process. ctx bounds the
// dial; the transport must not depend on ctx once returned.
type DialFunc func(ctx context.Context) (io.ReadWriteCloser, error)

// RemoteOptions configure a RemoteBackend. Zero values take the defaults.
type RemoteOptions struct {
	// Name names the backend in logs and errors (an address; never put
	// credentials in it).
	Name string
	// PoolSize is the most connections kept for calls (default 1: each
	// connection carries many calls at once).
	PoolSize int
	// DialTimeout bounds one dial and the native handshake (default 5s).
	DialTimeout time.Duration
	// ProbeInterval is how often the supervisor describes the backend while
	// it is up (default 10s; negative turns the periodic probe off).
	ProbeInterval time.Duration
	// ProbeTimeout bounds one describe (default 5s).
	ProbeTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay between reconnect attempts
	// (default 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// ClientOptions configure every native client (limits, logger).
	ClientOptions []native.Option
	// Logger receives the supervisor's events: backend up, down, endpoints
	// changed. The default discards them.
	Logger *slog.Logger
}

// Defaults of RemoteOptions.
const (
	// DefaultPoolSize is one connection: 16 callers through the gateway
	// to a remote backend over one multiplexed connection made 23.2-23.9k
	// calls/s, against 19.3-19.4k over up to 17 (make bench,
	// unary/gateway-remote/16, two rounds each).
	DefaultPoolSize      = 1
	DefaultDialTimeout   = 5 * time.Second
	DefaultProbeInterval = 10 * time.Second
	DefaultProbeTimeout  = 5 * time.Second
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
)

func (o *RemoteOptions) setDefaults() {
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Name == "" {
		o.Name = "remote"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// RemoteBackend is a Backend in another process, supervised: see Supervise.
// Until Supervise is called it is a plain pool, like Remote.
type RemoteBackend struct {
	dial DialFunc
	o    RemoteOptions
	pool *native.Pool

	down        atomic.Bool // calls fail fast
	supervised  atomic.Bool
	loopStarted atomic.Bool
	kick        chan struct{} // capacity 1: wake the supervisor
	stopCh      chan struct{}
	stopCtx     context.Context
	cancelStop  context.CancelFunc
	done        chan struct{} // closed when the supervisor returns
	stopOnce    sync.Once

	mu         sync.Mutex
	g          *Gateway
	control    *native.Client
	lastErr    error     // why the backend is down
	since      time.Time // when the current state began
	everUp     bool
	reconnects int64
	schemaJSON []byte // of the schema mounted last
	endpoints  int
}

// NewRemoteBackend returns a backend whose connections dial opens.
func NewRemoteBackend(dial DialFunc, o RemoteOptions) *RemoteBackend {
	o.setDefaults()
	r := &RemoteBackend{dial: dial, o: o, kick: make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{})}
	r.stopCtx, r.cancelStop = context.WithCancel(context.Background())
	r.pool = native.NewPool(r.newClient, o.PoolSize)
	return r
}

// Supervise connects to the backend (ctx bounds this first attempt), returns
// a gateway serving its endpoints, and supervises the backend until Stop or
// Close. If the backend cannot be reached now, the gateway starts with no
// endpoints and NOT_SERVING, and gets them when the backend comes up. It
// fails only if the options are invalid or the backend's types cannot be
// mapped to protobuf; it may be called once.
func (r *RemoteBackend) Supervise(ctx context.Context, opts ...Option) (*Gateway, error) {
	if !r.supervised.CompareAndSwap(false, true) {
		return nil, errors.New("gateway: RemoteBackend.Supervise called twice")
	}
	g, err := newGateway(r, opts)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.g = g
	r.since = time.Now()
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.stopCtx, cancel)
	c, s, err := r.connectOnce(ctx)
	if err == nil {
		err = r.mount(ctx, s)
		stop()
		cancel()
		if err != nil {
			r.pool.Remove(c)
			return nil, err
		}
		r.setUp(c)
	} else {
		stop()
		cancel()
		if err := g.Mount(&native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}); err != nil {
			return nil, err
		}
		r.setDown(err)
	}
	r.loopStarted.Store(true)
	go r.loop()
	return g, nil
}

// RemoteStatus is the supervisor's view of the backend.
type RemoteStatus struct {
	Up         bool      // calls go to the backend
	Err        error     // why the backend is down; nil when up
	Since      time.Time // when the current state began
	Reconnects int64     // times the backend came back after being down
	Endpoints  int       // endpoints mounted
}

// Status returns the supervisor's view of the backend.
func (r *RemoteBackend) Status() RemoteStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RemoteStatus{Up: !r.down.Load(), Err: r.lastErr, Since: r.since, Reconnects: r.reconnects, Endpoints: r.endpoints}
}

// PoolStats returns the call pool's counters.
func (r *RemoteBackend) PoolStats() native.PoolStats { return r.pool.Stats() }

// Call makes a call on a pooled connection. While the backend is down it
// fails at once with CodeUnavailable.
func (r *RemoteBackend) Call(ctx context.Context, method string, req, resp any, opts ...native.CallOption) error {
	if r.down.Load() {
		return r.unavailable()
	}
	err := r.pool.Call(ctx, method, req, resp, opts...)
	if err != nil && native.CodeOf(err) == native.CodeUnavailable {
		r.Kick()
	}
	return err
}

// Schema describes the backend through the pool.
func (r *RemoteBackend) Schema(ctx context.Context) (*native.Schema, error) {
	var s native.Schema
	if err := r.Call(ctx, native.DescribeEndpoint, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Kick asks the supervisor to check the backend now.
func (r *RemoteBackend) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Stop ends the supervision: health and endpoints are no longer changed,
// calls keep going to the pool (a server shutting down stops it first so
// that a reconnect cannot turn health back to SERVING). It waits for the
// supervisor to return.
func (r *RemoteBackend) Stop() {
	r.stopOnce.Do(func() {
		r.cancelStop()
		close(r.stopCh)
	})
	if r.loopStarted.Load() {
		<-r.done
	}
}

// Close stops the supervision and closes the connections: idle ones now,
// those with a call in progress when it completes. Call it after Supervise
// has returned.
func (r *RemoteBackend) Close() error {
	r.Stop()
	r.mu.Lock()
	r.control = nil
	r.mu.Unlock()
	return r.pool.Close()
}

// loop is the supervisor.
func (r *RemoteBackend) loop() {
	defer close(r.done)
	var tick <-chan time.Time
	if r.o.ProbeInterval > 0 {
		t := time.NewTicker(r.o.ProbeInterval)
		defer t.Stop()
		tick = t.C
	}
	attempt := 0
	for {
		if r.down.Load() {
			t := time.NewTimer(backoffDelay(r.o.MinBackoff, r.o.MaxBackoff, attempt, rand.Float64()))
			attempt++
			select {
			case <-r.stopCh:
				t.Stop()
				return
			case <-t.C:
			}
			if r.reconnect() {
				attempt = 0
			}
			continue
		}
		select {
		case <-r.stopCh:
			return
		case <-r.kick:
		case <-tick:
		}
		if err := r.probe(); err != nil {
			r.o.Logger.Debug("gateway: backend probe failed; reconnecting", "backend", r.o.Name, "err", err)
			// Not on the connection that failed: the pool dials another.
			r.mu.Lock()
			c := r.control
			r.mu.Unlock()
			if c != nil {
				r.pool.Remove(c)
			}
			r.reconnect()
		}
	}
}

// reconnect makes one attempt to connect, describe and mount, and records
// the outcome; it reports whether the backend is up.
func (r *RemoteBackend) reconnect() bool {
	c, s, err := r.connectOnce(r.stopCtx)
	if err != nil {
		if r.stopCtx.Err() == nil {
			r.setDown(err)
		}
		return false
	}
	if err := r.mount(r.stopCtx, s); err != nil {
		if r.stopCtx.Err() != nil {
			r.pool.Remove(c)
			return false
		}
		// The backend answers but its endpoints cannot be served: keep
		// serving the ones mounted before (the backend refuses the calls
		// to endpoints it no longer has).
		r.o.Logger.Error("gateway: cannot serve the backend's endpoints; keeping the previous ones", "backend", r.o.Name, "err", err)
	}
	r.setUp(c)
	return true
}

// connectOnce takes the pool's connection (dialling it if need be) as the
// control connection, and describes the backend on it.
func (r *RemoteBackend) connectOnce(ctx context.Context) (*native.Client, *native.Schema, error) {
	c, err := r.pool.Client(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := r.describe(ctx, c)
	if err != nil {
		r.pool.Remove(c)
		return nil, nil, err
	}
	return c, s, nil
}

func (r *RemoteBackend) describe(ctx context.Context, c *native.Client) (*native.Schema, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.ProbeTimeout)
	defer cancel()
	var s native.Schema
	if err := c.Call(ctx, native.DescribeEndpoint, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// probe describes the backend on the control connection and mounts its
// endpoints if they changed.
func (r *RemoteBackend) probe() error {
	r.mu.Lock()
	c := r.control
	r.mu.Unlock()
	if c == nil {
		return native.ErrClosed
	}
	s, err := r.describe(r.stopCtx, c)
	if err != nil {
		return err
	}
	if err := r.mount(r.stopCtx, s); err != nil && r.stopCtx.Err() == nil {
		r.o.Logger.Error("gateway: cannot serve the backend's endpoints; keeping the previous ones", "backend", r.o.Name, "err", err)
	}
	return nil
}

// mount serves s unless it is what is served already; ctx (cancelled by
// Stop) bounds the building of its descriptors.
func (r *RemoteBackend) mount(ctx context.Context, s *native.Schema) error {
	b, err := json.Marshal(s) // map keys sorted: equal schemas, equal bytes
	if err != nil {
		return err
	}
	r.mu.Lock()
	same := r.schemaJSON != nil && bytes.Equal(b, r.schemaJSON)
	first := r.schemaJSON == nil
	g := r.g
	r.mu.Unlock()
	if same {
		return nil
	}
	if err := g.MountContext(ctx, s); err != nil {
		if ctx.Err() == nil {
			r.mu.Lock()
			r.schemaJSON = b // say it once, not at every probe
			r.mu.Unlock()
		}
		return err
	}
	r.mu.Lock()
	r.schemaJSON = b
	r.endpoints = len(s.Endpoints)
	r.mu.Unlock()
	if !first {
		r.o.Logger.Info("gateway: backend endpoints changed", "backend", r.o.Name, "endpoints", len(s.Endpoints))
	}
	return nil
}

// setUp makes c the control connection and the backend up.
func (r *RemoteBackend) setUp(c *native.Client) {
	r.mu.Lock()
	old := r.control
	r.control = c
	wasDown := r.down.Load() || !r.everUp
	back := r.down.Load() && r.everUp
	var downtime time.Duration
	if wasDown {
		downtime = time.Since(r.since)
		r.since = time.Now()
	}
	if back {
		r.reconnects++
	}
	r.everUp = true
	r.lastErr = nil
	r.down.Store(false)
	g, endpoints := r.g, r.endpoints
	r.mu.Unlock()
	if old != nil && old != c {
		r.pool.Remove(old)
	}
	if wasDown {
		g.SetServing(true)
		attrs := []any{"backend", r.o.Name, "endpoints", endpoints}
		if back {
			attrs = append(attrs, "downtime", downtime)
		}
		r.o.Logger.Info("gateway: backend connected", attrs...)
	}
}

// setDown records that the backend cannot be reached, and why.
func (r *RemoteBackend) setDown(err error) {
	r.mu.Lock()
	wasUp := !r.down.Load()
	r.lastErr = err
	if wasUp {
		r.since = time.Now()
	}
	old := r.control
	r.control = nil
	r.down.Store(true)
	g := r.g
	r.mu.Unlock()
	if old != nil {
		r.pool.Remove(old)
	}
	if wasUp {
		g.SetServing(false)
		r.o.Logger.Warn("gateway: backend unavailable; calls fail until it is back", "backend", r.o.Name, "err", err)
	} else {
		r.o.Logger.Debug("gateway: backend still unavailable", "backend", r.o.Name, "err", err)
	}
}

// unavailable is the error of a call while the backend is down.
func (r *RemoteBackend) unavailable() error {
	r.mu.Lock()
	err := r.lastErr
	r.mu.Unlock()
	why := "down"
	if err != nil {
		why = errorMessage(err)
	}
	return native.Errorf(native.CodeUnavailable, "backend %s unavailable: %s", r.o.Name, why)
}

// errorMessage is err's message without the "native: Code:" prefix.
func errorMessage(err error) string {
	var ne *native.Error
	if errors.As(err, &ne) {
		return ne.Message()
	}
	return err.Error()
}

// newClient dials one connection and runs the handshake, both within
// DialTimeout; it is the pool's dial function too.
func (r *RemoteBackend) newClient(ctx context.Context) (*native.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.DialTimeout)
	defer cancel()
	rwc, err := r.dial(ctx)
	if err != nil {
		if ne := (*native.Error)(nil); errors.As(err, &ne) {
			return nil, err
		}
		return nil, native.NewError(native.CodeUnavailable, err)
	}
	w := &watchedConn{ReadWriteCloser: rwc, onEnd: r.Kick}
	// The handshake has no context: closing the transport ends it.
	stop := context.AfterFunc(ctx, func() { w.Close() })
	// A server's windows, not a client's: the gateway reads a backend's
	// stream as fast as its own client takes it, and what a slow client
	// leaves unread stays in the gateway (ClientOptions may say otherwise).
	opts := append([]native.Option{native.WithStreamWindow(native.DefaultStreamWindow), native.WithConnWindow(native.DefaultConnWindow)},
		r.o.ClientOptions...)
	opts = append(opts, native.WithHandshakeTimeout(r.o.DialTimeout))
	c, err := native.NewClient(w, opts...)
	if !stop() {
		if c != nil {
			c.Close()
		}
		return nil, native.Errorf(native.CodeUnavailable, "handshake with %s: %v", r.o.Name, context.Cause(ctx))
	}
	if err != nil {
		if ne := (*native.Error)(nil); errors.As(err, &ne) && ne.Code() != native.CodeUnavailable {
			return nil, err
		}
		return nil, native.Errorf(native.CodeUnavailable, "handshake with %s: %s", r.o.Name, errorMessage(err))
	}
	return c, nil
}

// watchedConn tells the supervisor when a transport ends: its first failed
// read or its close.
type watchedConn struct {
	io.ReadWriteCloser
	onEnd func()
	once  sync.Once
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.ReadWriteCloser.Read(p)
	if err != nil {
		w.once.Do(w.onEnd)
	}
	return n, err
}

func (w *watchedConn) Close() error {
	w.once.Do(w.onEnd)
	return w.ReadWriteCloser.Close()
}

// backoffDelay is the wait before reconnect attempt n (from 0): min
// doubled n times, at most max, times a factor in [0.8, 1.2) drawn from rnd
// in [0, 1), and never more than max.
func backoffDelay(minD, maxD time.Duration, n int, rnd float64) time.Duration {
	d := maxD
	if n < 32 && minD<<n > 0 && minD<<n < maxD {
		d = minD << n
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rnd))
	return min(d, maxD)
}
