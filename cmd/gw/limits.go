package main

// The limits of gw serve: calls in flight per listener (-max-calls),
// header and body sizes (-max-header-size, -grpc-max-msg-size,
// -http-max-body-size, -native-max-header-size, -native-max-body-size),
// and the wiring of the limits and the token check (auth.go) into the
// three listeners. A call over a limit is refused at once, never queued:
// RESOURCE_EXHAUSTED on gRPC, 429 with grpc-gateway's status JSON on HTTP.
// On the native listener -max-calls bounds the calls of all connections
// (native.WithMaxServerCalls), -max-conn-streams those of one connection
// (native.WithMaxConcurrentCalls, announced in its preface), and -max-calls
// the connections too (native.WithMaxConns): at that limit the connection
// idle the longest is closed to admit a new one, and a new one is closed at
// once only when every connection has a call in flight.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// byteSize is a flag value in bytes: a number, or one with the suffix KiB,
// MiB or GiB (any case).
type byteSize int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range sizeUnits[:3] {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size in bytes such as 65536, 64KiB or 4MiB")
	}
	*b = byteSize(n * mult)
	return nil
}

// The defaults of the limit flags.
const (
	defaultMaxCalls = 1024
	// defaultMaxConnStreams is nginx's http2_max_concurrent_streams (128)
	// rounded down; grpc-go limits nothing and Go's HTTP/2 server allows 250.
	defaultMaxConnStreams = 100
	// defaultBodyTimeout is nginx's client_body_timeout.
	defaultBodyTimeout = 60 * time.Second
	// maxProbeCalls bounds the health checks and server reflection streams
	// in flight on each gRPC listener: a pool apart from -max-calls, so
	// probes answer when the calls are all taken, and bounded, so that
	// streams nobody pays for cannot grow without end.
	maxProbeCalls         = 128
	defaultMaxHeaderSize  = 1 << 20 // net/http's DefaultMaxHeaderBytes
	defaultGRPCMaxMsgSize = 4 << 20 // grpc-go's default
	defaultHTTPMaxBody    = 4 << 20 // as gRPC's
	maxHeaderSizeLimit    = 1 << 30
)

// check reports a limit flag out of range.
func (f *securityFlags) check() error {
	switch {
	case f.maxCalls < 0:
		return fmt.Errorf("gw: -max-calls %d: want 0 (no limit) or more", f.maxCalls)
	case f.maxConnStreams < 1:
		return fmt.Errorf("gw: -max-conn-streams %d: want 1 or more", f.maxConnStreams)
	case f.bodyTimeout < 0:
		return fmt.Errorf("gw: -body-timeout %v: want 0 (no limit) or more", f.bodyTimeout)
	case f.maxHeaderSize < 1<<10 || f.maxHeaderSize > maxHeaderSizeLimit:
		return fmt.Errorf("gw: -max-header-size %s: want 1KiB to 1GiB", &f.maxHeaderSize)
	case f.grpcMaxMsgSize < 1<<10 || f.grpcMaxMsgSize > 1<<31-1:
		return fmt.Errorf("gw: -grpc-max-msg-size %s: want 1KiB to 2GiB-1", &f.grpcMaxMsgSize)
	case f.httpMaxBodySize < 1 || f.httpMaxBodySize > 1<<30:
		return fmt.Errorf("gw: -http-max-body-size %s: want 1 byte to 1GiB (JSON bodies are read whole)", &f.httpMaxBodySize)
	case f.nativeMaxHeaderSize < 1<<10 || f.nativeMaxHeaderSize > native.DefaultMaxFramePayload:
		return fmt.Errorf("gw: -native-max-header-size %s: want 1KiB to %d bytes (the frame size)", &f.nativeMaxHeaderSize, native.DefaultMaxFramePayload)
	case f.nativeMaxBodySize < 1:
		return fmt.Errorf("gw: -native-max-body-size %s: want at least 1 byte", &f.nativeMaxBodySize)
	case f.nativeMaxBodyMemory < f.nativeMaxBodySize:
		return fmt.Errorf("gw: -native-max-body-memory %s: want at least -native-max-body-size (%s)", &f.nativeMaxBodyMemory, &f.nativeMaxBodySize)
	}
	return nil
}

// nativeOptions are the options of the embedded store's native server: its
// limits hold on the native listener and for the gateway's calls to it.
func (f *securityFlags) nativeOptions() []native.Option {
	return []native.Option{native.WithMaxHeaderSize(int(f.nativeMaxHeaderSize)), native.WithMaxBodySize(int64(f.nativeMaxBodySize)),
		native.WithMaxBodyMemory(int64(f.nativeMaxBodyMemory)), native.WithReadTimeout(f.nativeReadTimeout),
		native.WithIdleTimeout(f.nativeIdleTimeout)}
}

// callLimiter counts the calls in flight on one listener and refuses those
// over max (0: no limit).
type callLimiter struct {
	max atomic.Int64 // a reload may change it
	n   atomic.Int64
}

func (l *callLimiter) acquire() bool {
	if max := l.max.Load(); l.n.Add(1) > max && max > 0 {
		l.n.Add(-1)
		return false
	}
	return true
}

func (l *callLimiter) release() { l.n.Add(-1) }

func (l *callLimiter) inFlight() float64 { return float64(l.n.Load()) }

// probeMethods are the gRPC methods counted in the probe pool
// (maxProbeCalls) instead of -max-calls: health (probes must answer when
// the gateway is busy) and server reflection (grpcurl keeps a reflection
// stream open beside each call it makes, and reflection never reaches the
// backend). Reflection still needs the token.
var probeMethods = func() map[string]bool {
	m := map[string]bool{}
	for k := range healthMethods {
		m[k] = true
	}
	for _, sd := range []grpc.ServiceDesc{reflectionv1.ServerReflection_ServiceDesc, reflectionv1alpha.ServerReflection_ServiceDesc} {
		for _, st := range sd.Streams {
			m["/"+sd.ServiceName+"/"+st.StreamName] = true
		}
	}
	return m
}()

// errTooManyCalls is a gRPC or HTTP call refused by -max-calls.
func errTooManyCalls(max int64) error {
	return status.Errorf(codes.ResourceExhausted, "gw: too many calls in flight (-max-calls %d)", max)
}

// guard holds the token check and the limits of one gw serve.
type guard struct {
	f            *securityFlags
	auth         *tokenAuth // nil: no token needed
	grpcL, httpL callLimiter
	probeL       callLimiter                   // health and reflection on the gRPC listener
	nsrv         atomic.Pointer[native.Server] // the native listener's server (newNativeServer)
	authMetrics  atomic.Bool                   // -auth-metrics
	refusedTotal *prometheus.CounterVec
	log          *slog.Logger
}

// newGuard checks the flags, reads the token file and registers the
// guard's metrics.
func newGuard(f *securityFlags, log *slog.Logger, reg prometheus.Registerer) (*guard, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	g := &guard{f: f, log: log}
	if f.authTokenFile != "" {
		a, err := loadTokens(f.authTokenFile, log)
		if err != nil {
			return nil, err
		}
		g.auth = a
		log.Info("gw: bearer tokens required", "tokens", a.count(), "metrics_need_token", f.authMetrics)
	}
	g.setLimits(f)
	g.probeL.max.Store(maxProbeCalls)
	g.refusedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "framegate_gateway_refused_total",
		Help: "Calls refused before reaching the gateway, by listener and reason: missing_token, invalid_token, limit (-max-calls; native: calls and connections) or probe_limit (health and reflection).",
	}, []string{"listener", "reason"})
	inFlight := func(name string, n func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "framegate_gateway_in_flight",
			Help:        "Calls in flight on each listener, counted against -max-calls; grpc_probes: health checks and server reflection, counted apart.",
			ConstLabels: prometheus.Labels{"listener": name},
		}, n)
	}
	nativeCalls := func() float64 {
		if srv := g.nsrv.Load(); srv != nil {
			return float64(srv.Stats().Calls)
		}
		return 0
	}
	if err := registerAll(reg, g.refusedTotal, inFlight("grpc", g.grpcL.inFlight), inFlight("http", g.httpL.inFlight), inFlight("grpc_probes", g.probeL.inFlight), inFlight("native", nativeCalls)); err != nil {
		return nil, err
	}
	return g, nil
}

// setLimits applies the limits a reload may change: -max-calls of the
// gRPC and HTTP listeners (the embedded store's native server keeps the
// one it started with), and -auth-metrics.
func (g *guard) setLimits(f *securityFlags) {
	for _, l := range []*callLimiter{&g.grpcL, &g.httpL} {
		l.max.Store(int64(f.maxCalls))
	}
	g.authMetrics.Store(f.authMetrics)
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// refused counts a refusal and logs it at debug level: the listener, the
// method or path and the reason, never a header or a body.
func (g *guard) refused(listener string) func(what, reason string) {
	return func(what, reason string) {
		g.refusedTotal.WithLabelValues(listener, reason).Inc()
		g.log.Debug("gw: call refused", "listener", listener, "call", what, "reason", reason)
	}
}

// grpcOptions are the gRPC server's options: the size limits, then the
// token check and the call limit as interceptors (in that order, so a call
// without a token never takes a place).
func (g *guard) grpcOptions() []grpc.ServerOption {
	refused := g.refused("grpc")
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if g.auth != nil {
		unary = append(unary, g.auth.authUnary(refused))
		stream = append(stream, g.auth.authStream(refused))
	}
	// admit takes a place for a call to method in its pool, or says why
	// not; release gives it back.
	admit := func(method string) (release func(), err error) {
		lim, reason := &g.grpcL, "limit"
		if probeMethods[method] {
			lim, reason = &g.probeL, "probe_limit"
		}
		if !lim.acquire() {
			refused(method, reason)
			if reason == "probe_limit" {
				return nil, status.Errorf(codes.ResourceExhausted, "gw: too many health checks and reflection streams in flight (%d)", lim.max.Load())
			}
			return nil, errTooManyCalls(lim.max.Load())
		}
		return lim.release, nil
	}
	unary = append(unary, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		release, err := admit(info.FullMethod)
		if err != nil {
			return nil, err
		}
		defer release()
		return handler(ctx, req)
	})
	stream = append(stream, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		release, err := admit(info.FullMethod)
		if err != nil {
			return err
		}
		defer release()
		return handler(srv, ss)
	})
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(g.f.grpcMaxMsgSize)),
		grpc.MaxHeaderListSize(uint32(g.f.maxHeaderSize)),
		grpc.MaxConcurrentStreams(uint32(g.f.maxConnStreams)),
		// A connection with no stream goes as the HTTP listener's idle
		// keep-alive connections do (http.Server.IdleTimeout). One whose
		// streams are quiet (a watch waiting for changes) is pinged each
		// minute, and a peer that does not answer within 20 s is gone:
		// its calls end, rather than hold their places for hours.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 2 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
}

// rest wraps the REST front door: the token check and the call limit. The
// JSON body limit is the gateway's (gateway.WithMaxJSONBody).
func (g *guard) rest(next http.Handler) http.Handler {
	refused := g.refused("http")
	h := limitCalls(&g.httpL, next, refused)
	if g.auth != nil {
		h = g.auth.requireToken(h, refused)
	}
	return h
}

// metrics wraps GET /metrics: with -auth-metrics it needs the token too.
func (g *guard) metrics(next http.Handler) http.Handler {
	if g.auth == nil {
		return next
	}
	withToken := g.auth.requireToken(next, g.refused("http"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.authMetrics.Load() {
			withToken.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitCalls refuses an HTTP request over l's limit with 429 (a Connect or
// gRPC-Web call: RESOURCE_EXHAUSTED in its protocol's format).
func limitCalls(l *callLimiter, next http.Handler, refused func(what, reason string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire() {
			refused(r.URL.Path, "limit")
			gateway.WriteStatus(w, r, errTooManyCalls(l.max.Load()))
			return
		}
		defer l.release()
		next.ServeHTTP(w, r)
	})
}

// newNativeServer returns the embedded store's native server with the
// native flags' limits, -max-calls as its call and connection limits,
// -max-conn-streams as its limit per connection, and its refusals counted.
func (g *guard) newNativeServer(opts ...native.Option) *native.Server {
	refused := g.refused("native")
	observe := func(ev native.ConnEvent) {
		if ev.Kind == native.ConnRefused || ev.Kind == native.CallRefused {
			refused(ev.Peer, "limit")
			return
		}
		g.log.Debug("gw: native connection closed", "peer", ev.Peer, "reason", ev.Kind.String())
	}
	opts = append(append(g.f.nativeOptions(), native.WithMaxConns(g.f.maxCalls), native.WithMaxServerCalls(g.f.maxCalls),
		native.WithMaxConcurrentCalls(g.f.maxConnStreams), native.WithConnObserver(observe)), opts...)
	srv := native.NewServer(opts...)
	g.nsrv.Store(srv)
	return srv
}

// peerOf names a connection's peer in logs (a unix socket's may be nil).
func peerOf(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
