package gateway

// A remote backend: a native server in another process, reached by a dial
// function, served through a pool of connections (native.Pool), and
// supervised by the gateway that serves it (supervisor.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	// unary/gateway-remote/16, two rounds each). Handlers that block do
	// not need more: 24 callers to 3 replicas whose calls take 1 ms made
	// 8.0k calls/s over one connection each and 7.7k over 4
	// (BenchmarkReplicaBalance, equal/24-callers/p2c, 3 runs each).
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

// RemoteBackend is a Backend in another process, supervised by the
// gateway that serves it (New; supervisor.go). Until then it is a plain
// pool, like Remote.
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
	owner      backendOwner // the gateway serving it, or its place in a Router
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

// Close stops the supervision and closes the connections: idle ones now,
// those with a call in progress when it completes. Gateway.Close calls it.
func (r *RemoteBackend) Close() error {
	r.stop()
	r.mu.Lock()
	r.control = nil
	r.mu.Unlock()
	return r.pool.Close()
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
	return native.NewError(native.CodeUnavailable, &notSentError{fmt.Sprintf("backend %s unavailable: %s", r.o.Name, why)})
}

// notSentError is the error of a call failed before anything of it was
// sent: another replica may take it (ReplicaSet).
type notSentError struct{ msg string }

func (e *notSentError) Error() string { return e.msg }

// notSent reports whether err failed a call before it was sent.
func notSent(err error) bool {
	var ns *notSentError
	return errors.As(err, &ns)
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
