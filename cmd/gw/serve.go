package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/internal/store"
	"github.com/framegate/framegate/native"
)

const serveAbout = `Run the gateway: every endpoint of a native server is served as a gRPC
method /native.<Service>/<Method> (with server reflection and
grpc.health.v1) on -grpc-addr, and as REST at the same path on -http-addr,
beside GET /healthz (200, or 503 with the reason) and GET /metrics
(Prometheus).

The native server is the embedded demo file store (rooted at -data-dir),
which also listens on -native-addr for native clients such as gw call, or,
with -backend, a remote native server:
  tcp://host:port, unix:///path   a native server listening there
  tls://host:port                 the same over TLS (-backend-ca verifies it;
                                  -tls-cert and -tls-key are presented as the
                                  client certificate, if set)
  exec:COMMAND LINE               the native protocol over the stdin and stdout
                                  of COMMAND LINE, run by /bin/sh -c (like
                                  "ssh host gw backend -stdio"); one process
                                  carries every call (calls multiplex), one
                                  more per pooled connection with -pool-size
  URL,URL,...                     replicas of one backend (tcp, tls or unix):
                                  each call goes to the one of two drawn with
                                  fewer calls in progress; one that fails is
                                  left out, and retried with backoff
  dns:///name:port                the replicas are the addresses name resolves
                                  to (a headless Service), resolved again
                                  every -resolve-interval
The gateway describes the remote server and serves its endpoints, keeps a pool
of -pool-size connections to it (each carries many calls at once), and when it goes away fails calls at once
with UNAVAILABLE and reports NOT_SERVING while it reconnects (with backoff up
to -reconnect-max), then describes it again.

-backend may be given several times, once per backend: each serves its own
services, and every call goes to the backend serving its service. A service
two backends serve is an error naming both, unless -backend-precedence lets
the first given serve it. The health of each gRPC service is its backend's;
the server's (and /healthz) is SERVING while any backend is up. GET
/v1/endpoints names the backend of each endpoint; the framegate_backend_*
metrics have a backend label.

Each call is logged in one line (endpoint, protocol, code, duration, bytes).
With -otlp-endpoint each gRPC and REST call is traced (OpenTelemetry, sent
over OTLP/HTTP): a server span, the child of the caller's traceparent, whose
trace context the backend receives in the native call's metadata (a gw
backend with -otlp-endpoint adds its own span to the trace). Off by default.
On SIGINT or SIGTERM the gateway stops accepting calls, lets those in flight
finish for up to -shutdown-timeout, cancels the rest and exits 0; a second
signal cancels them at once. The address 0 picks a free port; the listening
addresses are logged.

With -auth-token-file every call but the health checks needs a bearer token
(GET /metrics too with -auth-metrics). The native listener has no token: it
is protected only by -native-tls with -client-ca (mutual TLS), or by binding
it to a loopback address or a unix socket. -max-calls and the -*-size flags
bound the calls in flight and the size of headers and request bodies.`

const serveExample = `  gw serve -data-dir /tmp/store &
  grpcurl -plaintext localhost:9090 list
  grpcurl -plaintext -d '{"prefix":""}' localhost:9090 native.Store/List
  curl -s localhost:8080/healthz

  gw backend -native-addr 127.0.0.1:7071 &
  gw serve -backend tcp://127.0.0.1:7071 -native-addr ''
  gw serve -backend 'exec:ssh files.example.com gw backend -stdio'
  gw serve -backend tcp://127.0.0.1:7071 -backend unix:///run/notes.sock

  head -c 32 /dev/urandom | base64 > tokens && gw serve -auth-token-file tokens &
  grpcurl -plaintext -H "authorization: Bearer $(head -n 1 tokens)" localhost:9090 list`

type serveFlags struct {
	commonFlags
	grpcAddr, httpAddr, nativeAddr string
	httpCompress                   bool
	backends                       repeatFlag
	backendPrecedence              bool
	poolSize                       int
	nativeTLS                      bool
	backendCA                      string
	probeInterval, reconnectMax    time.Duration
	resolveInterval                time.Duration
	securityFlags
	traceFlags
}

func runServe(args []string, sio *stdio) int {
	c := newCommand("serve", "gw [serve] [flags]", overview+"\n"+serveAbout, serveExample)
	var f serveFlags
	c.fs.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen `address` (host:port)")
	c.fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen `address`: REST, /healthz and /metrics")
	c.fs.BoolVar(&f.httpCompress, "http-compress", true, "compress the REST front door's JSON answers with gzip or zstd for clients that ask\n"+
		"(Accept-Encoding); byte streams (downloads) are sent as they are. -http-compress=false to turn it off")
	c.fs.StringVar(&f.nativeAddr, "native-addr", "127.0.0.1:7070", "native protocol listen `address` (host:port or unix:///path) of the embedded demo service; empty for none")
	c.fs.Var(&f.backends, "backend", "remote native server `url`: tcp://host:port, tls://host:port, unix:///path or exec:command; once per backend\n"+
		"(each serves its own services); none for the embedded demo service")
	c.fs.BoolVar(&f.backendPrecedence, "backend-precedence", false, "when two -backend serve one service, the first given serves it (default: refuse, naming both)")
	c.commonFlags(&f.commonFlags)
	c.fs.IntVar(&f.poolSize, "pool-size", gateway.DefaultPoolSize, "most connections to a remote backend (each carries many calls at once)")
	c.fs.BoolVar(&f.nativeTLS, "native-tls", false, "use TLS on the native listener too (-tls-cert, -tls-key, -client-ca), and towards a tcp:// backend")
	c.fs.StringVar(&f.backendCA, "backend-ca", "", "CA certificates `file` (PEM) that verify a TLS backend; the system's roots if empty")
	c.fs.DurationVar(&f.probeInterval, "probe-interval", gateway.DefaultProbeInterval, "how often a remote backend is described while it is up (it is also checked whenever a connection to it ends)")
	c.fs.DurationVar(&f.resolveInterval, "resolve-interval", gateway.DefaultResolveInterval, "how often a -backend dns:///name:port is resolved again (its addresses are its replicas)")
	c.fs.DurationVar(&f.reconnectMax, "reconnect-max", gateway.DefaultMaxBackoff, "longest wait between attempts to reconnect to a remote backend (the first waits 100ms, then doubling)")
	c.securityFlags(&f.securityFlags)
	c.traceFlags(&f.traceFlags)
	if err := c.parse(args, sio); err != nil {
		return exitCode(err)
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(sio.err, "gw serve: unexpected arguments %q\nRun 'gw serve -h' for help.\n", c.fs.Args())
		return 2
	}
	logger, err := newLogger(sio.err, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(sio.err, "gw serve: %v\n", err)
		return 2
	}
	setGRPCLogger(logger)
	tr, err := startTracing(&f.traceFlags, "framegate-gateway", true, logger)
	if err != nil {
		fmt.Fprintf(sio.err, "gw serve: %v\n", err)
		return 2
	}
	defer tr.shutdown(logger)
	nativeAddrGiven := false
	c.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "native-addr" {
			nativeAddrGiven = true
		}
	})
	if _, ok := sio.env(envName("native-addr")); ok {
		nativeAddrGiven = true
	}
	s := &server{f: f, log: logger, m: newMetrics(), tr: tr}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	defer s.cancelBase()
	sigs, stop := notifySignals()
	defer stop()
	startCtx, endStart := startupContext(sigs)
	err = s.start(startCtx, sio, nativeAddrGiven)
	sig := endStart()
	if err != nil {
		if sig != nil {
			logger.Info("stopped during startup", "signal", sig.String(), "err", err)
		} else {
			logger.Error("gw serve: cannot start", "err", err)
		}
		s.closeBackend()
		return 1
	}
	code := 0
	if sig == nil { // else it came as the startup ended
		select {
		case sig = <-sigs:
		case err := <-s.errc:
			logger.Error("a listener failed; shutting down", "err", err)
			code = 1
		}
	}
	if sig != nil {
		logger.Info("shutting down", "signal", sig.String(), "timeout", f.shutdownTimeout)
	}
	s.shutdown(sigs)
	return code
}

// server is one gw serve process.
type server struct {
	f     serveFlags
	log   *slog.Logger
	m     *metrics
	guard *guard // the token check and the limits

	g        *gateway.Gateway
	backends []*remoteEntry // the -backend values; none for the embedded backend
	nsrv     *native.Server // the embedded backend
	st       *store.Store

	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	nativeL  net.Listener
	errc     chan error
	draining atomic.Bool

	baseCtx    context.Context // of HTTP requests: cancelled when shutdown gives up waiting
	cancelBase context.CancelFunc

	tr *tracing // nil: off (tracing.go)
}

// start starts the backend and the listeners; ctx (cancelled by a signal)
// bounds the describing of the backend and the building of its
// descriptors.
func (s *server) start(ctx context.Context, sio *stdio, nativeAddrGiven bool) error {
	f := &s.f
	srvTLS, err := serverTLS(f.tlsCert, f.tlsKey, f.clientCA)
	if err != nil {
		return err
	}
	if f.nativeTLS && srvTLS == nil {
		return errors.New("-native-tls needs -tls-cert and -tls-key")
	}
	if s.guard, err = newGuard(&f.securityFlags, s.log, s.m.reg); err != nil {
		return err
	}
	opts := []gateway.Option{
		gateway.WithLogger(s.log),
		gateway.WithMaxJSONBody(int64(f.httpMaxBodySize)),
		gateway.WithBodyTimeout(f.bodyTimeout),
		gateway.WithCORSOrigins(f.corsOrigins...),
		gateway.WithCompression(f.httpCompress),
		gateway.WithCallObserver(func(ev gateway.CallEvent) {
			s.m.observe(ev)
			logCall(s.log, ev)
		}),
		gateway.WithSchemaChangeObserver(func(*gateway.SchemaChangeError) { s.m.schemaRefused.Inc() }),
	}
	if len(f.backends) == 0 {
		if err := s.startEmbedded(ctx, opts); err != nil {
			return err
		}
	} else {
		if nativeAddrGiven && f.nativeAddr != "" {
			s.log.Warn("-native-addr is ignored with a remote -backend: native clients can call the backend itself")
		}
		if err := s.startRemote(ctx, sio, opts); err != nil {
			return err
		}
	}

	s.errc = make(chan error, 3)
	grpcL, err := listen(f.grpcAddr, nil)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	httpL, err := listen(f.httpAddr, nil)
	if err != nil {
		grpcL.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	if s.nsrv != nil && f.nativeAddr != "" {
		var nativeTLS *tls.Config
		if f.nativeTLS {
			nativeTLS = srvTLS
		}
		if s.nativeL, err = listen(f.nativeAddr, nativeTLS); err != nil {
			grpcL.Close()
			httpL.Close()
			return fmt.Errorf("native listener: %w", err)
		}
	}
	s.warnUnprotected(grpcL, httpL, srvTLS != nil)

	var gopts []grpc.ServerOption
	if srvTLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(srvTLS)))
	}
	gopts = append(gopts, s.guard.grpcOptions()...)
	gopts = append(gopts, s.tr.grpcOptions()...)
	s.grpcSrv = s.g.NewGRPCServer(gopts...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.guard.metrics(s.m.handler()))
	mux.Handle("/", s.tr.restHandler(s.guard.rest(s.g.HTTPHandler()), s.g))
	var handler http.Handler = mux
	if f.authTokenFile == "" {
		// Without a token, the Host header keeps other sites' pages out.
		handler = gateway.HostCheck(mux, append(f.allowedHosts, listenHost(f.httpAddr))...)
	}
	s.httpSrv = &http.Server{
		Handler:           handler,
		MaxHeaderBytes:    int(f.maxHeaderSize),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: f.maxConnStreams},
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelDebug),
		TLSConfig:         srvTLS,
	}

	s.log.Info("listening", "listener", "grpc", "addr", addrString(grpcL), "tls", srvTLS != nil)
	s.log.Info("listening", "listener", "http", "addr", addrString(httpL), "tls", srvTLS != nil)
	if s.nativeL != nil {
		s.log.Info("listening", "listener", "native", "addr", addrString(s.nativeL), "tls", f.nativeTLS)
	}
	s.serve(func() error { return s.grpcSrv.Serve(grpcL) })
	s.serve(func() error {
		if srvTLS != nil {
			return s.httpSrv.ServeTLS(httpL, "", "")
		}
		return s.httpSrv.Serve(httpL)
	})
	if s.nativeL != nil {
		s.serve(func() error { return s.nsrv.Serve(s.nativeL) })
	}
	return nil
}

// serve runs a server's Serve and reports its failure unless shutting down.
func (s *server) serve(fn func() error) {
	go func() {
		err := fn()
		if !s.draining.Load() {
			if err == nil {
				err = errors.New("server stopped")
			}
			s.errc <- err
		}
	}()
}

// addrString is a listener's address as -native-addr and -backend take it.
func addrString(l net.Listener) string {
	if a := l.Addr(); a.Network() == "unix" {
		return "unix://" + a.String()
	}
	return l.Addr().String()
}

// listen listens on addr: host:port, or unix:///path for a unix socket
// (a stale socket file that nobody listens on is replaced).
func listen(addr string, cfg *tls.Config) (net.Listener, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "unix:") {
		t, err := native.ParseTarget(addr)
		if err != nil {
			return nil, err
		}
		network, addr = "unix", t.Addr
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen unix %s: a server is listening there already", addr)
			}
			os.Remove(addr)
		}
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	return l, nil
}

func (s *server) startEmbedded(ctx context.Context, opts []gateway.Option) error {
	st, err := store.Open(s.f.dataDir)
	if err != nil {
		return err
	}
	s.st = st
	s.nsrv = s.guard.newNativeServer(append(s.tr.nativeOptions(), native.WithLogger(s.log))...)
	if err := st.Register(s.nsrv); err != nil {
		return err
	}
	s.g, err = gateway.New(ctx, gateway.Local(s.nsrv), opts...)
	if err != nil {
		return err
	}
	s.log.Info("backend: the embedded demo file store", "data_dir", s.f.dataDir)
	return nil
}

// closeBackend releases the backend after a failed start or a shutdown.
func (s *server) closeBackend() {
	for _, b := range s.backends {
		b.close()
	}
	if s.st != nil {
		s.st.Close()
	}
}

// listenHost is the host part of a listen address when it is a name
// (myhost:8080), or "".
func listenHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return ""
	}
	return host
}
