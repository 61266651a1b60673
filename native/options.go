package native

import (
	"log/slog"
	"math"
	"time"
)

// Option configures a Server, a Client or a Pool's clients. Every option
// applies to both sides unless its doc says otherwise.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is the tunables of one side of a connection.
type config struct {
	logger           *slog.Logger
	lim              limits
	streamChunk      int
	handshakeTimeout time.Duration
	readTimeout      time.Duration
	abortTimeout     time.Duration
	closeTimeout     time.Duration
	maxBodyMemory    int64           // server only
	idleTimeout      time.Duration   // server only
	maxConns         int             // server only
	maxServerCalls   int             // server only
	connObserver     func(ConnEvent) // server only
	maxCalls         uint32          // concurrent calls per connection this side accepts
	streamWindow     uint32          // flow-control window per stream this side grants
	connWindow       uint32          // flow-control window per connection this side grants
	windowSet        bool            // a window was set: no role's default applies
	pingInterval     time.Duration   // PING after this long without a frame from the peer
	pingTimeout      time.Duration   // the peer is dead after this long without a frame after a PING
	hook             CallHook        // traces calls (callhook.go); nil for none
	lendAfter        time.Duration   // server only: inline.go; tests set it (export_test.go)
	sharedFor        time.Duration   // flow.go; tests set it (export_test.go)
	clientIdleAfter  time.Duration   // client only: role.go; tests set it (export_test.go)
	maxMessageSize   int64           // the largest message of a stream of messages
}

// Defaults for the options.
const (
	// DefaultMaxBodySize is the default largest JSON body accepted.
	DefaultMaxBodySize = 32 << 20
	// DefaultMaxMessageSize is the default largest message of a stream of
	// messages, as gRPC's default receive limit.
	DefaultMaxMessageSize = 4 << 20
	// DefaultStreamChunkSize is the default DATA payload size of a sent
	// stream.
	DefaultStreamChunkSize = 1 << 20
	// DefaultHandshakeTimeout bounds the preface exchange.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultAbortTimeout bounds how long an aborted call may take to be
	// acknowledged before the connection is given up.
	DefaultAbortTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds the close handshake.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultMaxBodyMemory is the default memory a server gives the
	// request JSON bodies of all its connections together: twice the
	// default body limit, so two bodies of the largest size fit at once
	// beside any number of small ones.
	DefaultMaxBodyMemory = 2 * DefaultMaxBodySize
	// DefaultIdleTimeout is how long a server keeps a connection with no
	// call in flight: as long as net/http servers are commonly given (gw's
	// HTTP listener among them), longer than nginx's keepalive_timeout
	// (75 s), since native clients are pools that reuse their connections.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxConns is the default most connections a server serves at
	// once; idle ones make room for new ones (WithMaxConns).
	DefaultMaxConns = 1024
	// DefaultMaxConcurrentCalls is the default most calls a side accepts
	// at once on one connection (WithMaxConcurrentCalls).
	DefaultMaxConcurrentCalls = 256
	// DefaultMaxServerCalls is the default most calls a server runs at once
	// over all its connections (WithMaxServerCalls): each holds a goroutine
	// and its buffers, about 10 KiB when idle.
	DefaultMaxServerCalls = 4096
	// DefaultStreamWindow is a server's default flow-control window of one
	// request stream: the DATA bytes it takes before the handler reads
	// them (WithStreamWindow).
	DefaultStreamWindow = 4 << 20
	// DefaultConnWindow is a server's default flow-control window of one
	// connection, over all its request streams (WithConnWindow).
	DefaultConnWindow = 16 << 20
	// DefaultClientStreamWindow and DefaultClientConnWindow are a client's
	// defaults, for the response streams it reads: larger, because a
	// client trusts its server more than a server its clients, and every
	// WINDOW_UPDATE wakes the sender's reader, at a cost far above its
	// bytes. Streaming 3 GiB over a unix socket (BenchmarkStreamUnix, perf
	// stat, 3 runs each, one build against the other): stream windows of
	// 16, 32 and 64 MiB ran at 5.39-5.40, 5.55-5.71 and 5.75-5.87 GB/s
	// with 2.4-4.2k, 1.8-2.7k and 1.0-1.3k context switches, against
	// 6.37-6.45 GB/s and 0.5k without flow control. A later execution
	// trace of bench native/unix at 64 and 128 MiB showed each wake of the
	// server's reader start an idle P and move the stream to another
	// thread; 128 and 256 MiB, whose updates go out together
	// (wire.writeWindows), took native/unix from 0.88-0.90 of raw/unix to
	// 0.90-0.94 (three runs of 3 rounds, builds alternated). Memory stays
	// what arrives: a stream's buffer grows only while its reader is away,
	// never past the window (mem/slow-reader: 127 MiB), and the connection
	// window, twice the stream's, keeps one such stream from stopping the
	// others. A client that fronts slow consumers (the gateway) sets
	// smaller windows.
	DefaultClientStreamWindow = 128 << 20
	DefaultClientConnWindow   = 256 << 20
	// DefaultPingInterval is how long a side waits without a frame from
	// its peer before it sends a PING (WithHeartbeat).
	DefaultPingInterval = 15 * time.Second
	// DefaultPingTimeout is how long a side waits for any frame after a
	// PING before it declares the peer dead (WithHeartbeat).
	DefaultPingTimeout = 20 * time.Second
)

func newConfig(opts []Option) config {
	c := config{
		logger: slog.New(slog.DiscardHandler),
		lim: limits{
			maxFramePayload: DefaultMaxFramePayload,
			maxHeaderSize:   DefaultMaxHeaderSize,
			maxBodySize:     DefaultMaxBodySize,
		},
		streamChunk:      DefaultStreamChunkSize,
		maxMessageSize:   DefaultMaxMessageSize,
		handshakeTimeout: DefaultHandshakeTimeout,
		abortTimeout:     DefaultAbortTimeout,
		closeTimeout:     DefaultCloseTimeout,
		maxBodyMemory:    DefaultMaxBodyMemory,
		idleTimeout:      DefaultIdleTimeout,
		maxConns:         DefaultMaxConns,
		maxServerCalls:   DefaultMaxServerCalls,
		maxCalls:         DefaultMaxConcurrentCalls,
		streamWindow:     DefaultStreamWindow,
		connWindow:       DefaultConnWindow,
		pingInterval:     DefaultPingInterval,
		pingTimeout:      DefaultPingTimeout,
		lendAfter:        lendAfter,
		sharedFor:        sharedFor,
		clientIdleAfter:  clientIdleAfter,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// WithLogger sets the logger for connection-level events (protocol errors,
// broken connections, handler panics). The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithMaxFramePayload sets the largest frame payload this side accepts
// (default 4 MiB); it is announced to the peer in the preface, so the peer
// never sends larger frames. It is clamped to [MinMaxFramePayload,
// MaxMaxFramePayload].
func WithMaxFramePayload(n int) Option {
	return optionFunc(func(c *config) {
		c.lim.maxFramePayload = uint32(min(max(n, MinMaxFramePayload), MaxMaxFramePayload))
	})
}

// WithMaxHeaderSize sets the largest HEADER or TRAILER payload this side
// accepts (default 64 KiB). A larger one is a protocol error. It is clamped
// to the frame payload limit.
func WithMaxHeaderSize(n int) Option {
	return optionFunc(func(c *config) { c.lim.maxHeaderSize = uint32(max(n, 1024)) })
}

// WithMaxBodySize sets the largest JSON body this side accepts (default 32
// MiB). A larger request fails with CodeResourceExhausted; the connection
// stays usable.
func WithMaxBodySize(n int64) Option {
	return optionFunc(func(c *config) { c.lim.maxBodySize = max(n, 1) })
}

// WithMaxMessageSize sets the largest message of a stream of messages this
// side sends or receives (default 4 MiB), counted as the bytes of its JSON.
// Send refuses a larger message with CodeResourceExhausted; a larger one
// received ends its stream with CodeResourceExhausted naming the limit,
// read no further than its length.
func WithMaxMessageSize(n int64) Option {
	return optionFunc(func(c *config) { c.maxMessageSize = min(max(n, 1), math.MaxUint32) })
}

// WithMaxBodyMemory bounds, on a server, the memory that the request JSON
// bodies of all its connections hold together (default 64 MiB). A body is
// held until its handler has decoded it, and its buffer grows as its bytes
// arrive; a call whose body does not fit fails with CodeResourceExhausted,
// without running its handler, and the connection stays usable. Request
// streams are not counted: they are read by the handler as they arrive.
// Keep it at least WithMaxBodySize, or the largest bodies never fit.
func WithMaxBodyMemory(n int64) Option {
	return optionFunc(func(c *config) { c.maxBodyMemory = max(n, 1) })
}

// WithIdleTimeout sets how long a server keeps a connection that has no call
// in flight (default 2 minutes); then it asks the client to go away through
// the close handshake. A Client does not redial; a Pool does, and makes
// again a call the server refused unprocessed as the connection closed.
// Zero disables it.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.idleTimeout = d })
}

// WithMaxConns sets the most connections a server serves at once (default
// 1024), whether from Serve or ServeConn; 0 means no limit. At the limit a
// new connection is admitted by closing the connection idle the longest
// (no call in flight) through the close handshake; only when every
// connection has a call in flight is the new one closed at once (ServeConn
// returns an error with CodeResourceExhausted).
func WithMaxConns(n int) Option {
	return optionFunc(func(c *config) { c.maxConns = max(n, 0) })
}

// WithMaxServerCalls sets the most calls a server runs at once over all its
// connections (default DefaultMaxServerCalls); 0 means no limit. A call past
// it is refused at once with CodeResourceExhausted, never queued, and
// reported to the connection observer (CallRefused). With
// WithMaxConcurrentCalls, which bounds one connection, it keeps one client
// from taking what all others need.
func WithMaxServerCalls(n int) Option {
	return optionFunc(func(c *config) { c.maxServerCalls = max(n, 0) })
}

// WithConnObserver sets a function a server calls for each connection it
// refuses, evicts or closes for idleness, and for each call it refuses at
// its WithMaxServerCalls limit (ConnEvent), for metrics and logs.
// It is called on the server's goroutines and must not block.
func WithConnObserver(f func(ConnEvent)) Option {
	return optionFunc(func(c *config) { c.connObserver = f })
}

// WithStreamChunkSize sets the payload size of the DATA frames this side
// sends (default 1 MiB). It is capped by the peer's frame payload limit,
// and at 512 KiB while the connection carries other calls beside the
// stream (for 100 ms after one started beside another), so that their
// frames wait for less of it.
func WithStreamChunkSize(n int) Option {
	return optionFunc(func(c *config) { c.streamChunk = min(max(n, 512), MaxMaxFramePayload) })
}

// WithHandshakeTimeout bounds the preface exchange of a new connection
// (default 10s). Zero disables the bound.
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.handshakeTimeout = d })
}

// WithReadTimeout bounds, on a server, how long a peer may stay silent in
// the middle of a frame or of a request it has not finished sending (its
// JSON body or its byte stream): past d the connection is closed and the
// call's handler sees its request stream fail. A connection waiting for its
// next call, or for a handler to answer, is not affected. It needs a
// transport with read deadlines (a net.Conn: TCP, unix, TLS); on others it
// does nothing. Default 0: no limit.
func WithReadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.readTimeout = d })
}

// WithAbortTimeout bounds how long a client waits for the server to end a
// call it aborted (cancelled context, stream closed early) before it gives
// up the connection (default 10s).
func WithAbortTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.abortTimeout = d })
}

// WithCloseTimeout bounds the close handshake of Client.Close and of a
// server's going-away (default 5s).
func WithCloseTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.closeTimeout = d })
}

// WithMaxConcurrentCalls sets the most calls this side accepts at once on
// one connection (default DefaultMaxConcurrentCalls), announced in the
// preface. A client never starts more than its server accepts: a call past
// the limit waits for one to end.
func WithMaxConcurrentCalls(n int) Option {
	return optionFunc(func(c *config) { c.maxCalls = uint32(min(max(n, 1), 1<<20)) })
}

// WithStreamWindow sets the flow-control window this side grants each
// stream it receives (default DefaultStreamWindow on a server,
// DefaultClientStreamWindow on a client): the most DATA bytes of
// one stream it holds before the stream's reader takes them. A slow reader
// stops its own sender, not the connection.
func WithStreamWindow(n int) Option {
	return optionFunc(func(c *config) {
		c.streamWindow, c.windowSet = uint32(min(max(n, MinMaxFramePayload), MaxWindow)), true
	})
}

// WithConnWindow sets the flow-control window this side grants a whole
// connection (default DefaultConnWindow on a server, DefaultClientConnWindow
// on a client): the most DATA bytes of all its
// streams it holds before their readers take them. It is never below the
// stream window.
func WithConnWindow(n int) Option {
	return optionFunc(func(c *config) {
		c.connWindow, c.windowSet = uint32(min(max(n, MinMaxFramePayload), MaxWindow)), true
	})
}

// WithHeartbeat sets the heartbeat (default DefaultPingInterval and
// DefaultPingTimeout): a side that has received nothing for interval sends
// a PING, and one that then receives nothing for timeout declares the peer
// dead, failing its calls with UNAVAILABLE (a handler's context.Cause says
// so). Silence is sampled once per interval, so the PING goes out after one
// to two intervals of it. A slow peer that answers PINGs
// lives. interval 0 turns heartbeats off.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return optionFunc(func(c *config) { c.pingInterval, c.pingTimeout = max(interval, 0), max(timeout, time.Millisecond) })
}

// clientWindows applies a client's default windows, unless some were set.
func (c *config) clientWindows() {
	if !c.windowSet {
		c.streamWindow, c.connWindow = DefaultClientStreamWindow, DefaultClientConnWindow
	}
}

func (c *config) finish() {
	c.connWindow = max(c.connWindow, c.streamWindow)
	c.lim.maxHeaderSize = min(c.lim.maxHeaderSize, c.lim.maxFramePayload)
}
