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
	"sync"
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
(Prometheus). The same paths on -http-addr speak Connect and gRPC-Web too
(connect-web, grpc-web, buf curl): a call with the header
Connect-Protocol-Version or a Content-Type application/connect+* or
application/grpc-web* is one; the rest is REST. -http-addr takes HTTP/2
without TLS (h2c, prior knowledge), which Connect's bidi streams need.

With -addr, one listener serves all of it instead of -grpc-addr and
-http-addr, as a Kubernetes Service port or an ingress expects: gRPC over
HTTP/2 (h2c in plaintext, ALPN h2 with TLS), REST over HTTP/1.1 or HTTP/2,
told apart per request by the Content-Type application/grpc. A gRPC call
costs more there (net/http's HTTP/2 server instead of grpc-go's: 2-3x the
time of a small unary call here); -max-calls keeps a pool for gRPC calls
and one for HTTP requests on it.

The native server is the embedded demo file store (rooted at -data-dir)
with its Echo service, which also listens on -native-addr for native clients such as gw call, or,
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
                                  each call goes to the one with the fewest
                                  calls in progress; one that fails is left
                                  out, and retried with backoff
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

-config FILE reads the flags from a YAML file: its keys are the flags'
names (backend, cors-origin and allowed-host take a list); the command line
and the environment win over it; gw config check FILE checks one. On SIGHUP,
and when the file or a file it names (certificates, keys, CAs, tokens)
changes, gw serve loads its configuration again and applies it without
dropping a call: the TLS certificate, key and client CAs, the tokens,
-auth-metrics, -max-calls (gRPC and HTTP), -log-level, -shutdown-timeout and
the backends (-backend and their settings: a backend left as it was keeps
its connections, one removed is closed once its calls end). A change of
anything else (an address, TLS or tokens turned on or off) takes a restart:
such a configuration is refused, as is one that fails to load, with a log
line, and the one loaded before keeps serving.

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
  gw serve -addr :8080 -tls-cert cert.pem -tls-key key.pem   # one port

  head -c 32 /dev/urandom | base64 > tokens && gw serve -auth-token-file tokens &
  grpcurl -plaintext -H "authorization: Bearer $(head -n 1 tokens)" localhost:9090 list`

type serveFlags struct {
	commonFlags
	configFile                     string
	reloadInterval                 time.Duration
	grpcAddr, httpAddr, nativeAddr string
	addr                           string // both faces on one listener (oneport.go)
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

// newServeCommand defines gw serve's flags into f.
func newServeCommand(f *serveFlags) *command {
	c := newCommand("serve", "gw [serve] [flags]", overview+"\n"+serveAbout, serveExample)
	c.fs.StringVar(&f.configFile, "config", "", "configuration `file` (YAML): keys are these flags' names, values as on the command line\n"+
		"(a list for backend, cors-origin, allowed-host); the command line and the environment win over it.\n"+
		"Read again on SIGHUP and when it, or a file it names, changes (see above)")
	c.fs.DurationVar(&f.reloadInterval, "reload-interval", 5*time.Second, "how often the -config file and the files it names (certificates, tokens) are\n"+
		"checked for a change, which reloads them (0: only on SIGHUP)")
	c.fs.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen `address` (host:port)")
	c.fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen `address`: REST, /healthz and /metrics")
	c.fs.StringVar(&f.addr, "addr", "", "one listen `address` for gRPC (HTTP/2: h2c, or TLS with ALPN h2) and HTTP alike, instead of\n"+
		"-grpc-addr and -http-addr (not with them); gRPC calls cost more on it than on -grpc-addr")
	c.env("addr", "GW_SERVE_ADDR")
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
	return c
}

func runServe(args []string, sio *stdio) int {
	fp, c, err := parseServe(args, sio)
	if err != nil {
		if err == errHelp || err == errUsage {
			return exitCode(err)
		}
		fmt.Fprintf(sio.err, "gw serve: %v\n", err)
		return 2
	}
	f := *fp
	if err := checkAddrFlags(c, &f); err != nil {
		fmt.Fprintf(sio.err, "gw serve: %v\nRun 'gw serve -h' for help.\n", err)
		return 2
	}
	logger, level, err := newLevelLogger(sio.err, f.logLevel, f.logFormat)
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
	c.fs.Visit(func(fl *flag.Flag) { // the command line, the environment and the file
		if fl.Name == "native-addr" {
			nativeAddrGiven = true
		}
	})
	s := &server{f: f, log: logger, level: level, m: newMetrics(), tr: tr, args: args, sio: sio, live: fp, liveCmd: c}
	s.shutdownTimeout.Store(int64(f.shutdownTimeout))
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	defer s.cancelBase()
	sigs, stop := notifySignals()
	defer stop()
	hup, stopHUP := notifyHUP()
	defer stopHUP()
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
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watch(hup, stopWatch)
	}()
	if sig == nil { // else it came as the startup ended
		select {
		case sig = <-sigs:
		case err := <-s.errc:
			logger.Error("a listener failed; shutting down", "err", err)
			code = 1
		}
	}
	if sig != nil {
		logger.Info("shutting down", "signal", sig.String(), "timeout", time.Duration(s.shutdownTimeout.Load()))
	}
	close(stopWatch)
	<-watched // a reload in progress ends before the shutdown
	s.shutdown(sigs)
	return code
}

// server is one gw serve process.
type server struct {
	f     serveFlags // the configuration started with (live: the one loaded last)
	log   *slog.Logger
	level *slog.LevelVar // of log
	m     *metrics
	guard *guard       // the token check and the limits
	tls   *tlsReloader // nil: no TLS

	args []string // the command line, read again by a reload
	sio  *stdio

	g        *gateway.Gateway
	router   *gateway.Router                // of the remote backends
	backends atomic.Pointer[[]*remoteEntry] // the -backend values; none for the embedded backend
	nsrv     *native.Server                 // the embedded backend
	st       *store.Store
	// The configuration loaded last (reload.go), guarded by reloadMu.
	reloadMu        sync.Mutex
	live            *serveFlags
	liveCmd         *command
	shutdownTimeout atomic.Int64 // -shutdown-timeout loaded last

	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	nativeL  net.Listener
	onePort  bool // grpcSrv is served by httpSrv (-addr)
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
	if srvTLS != nil {
		s.tls = newTLSReloader(srvTLS)
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
	grpcL, httpL, err := s.listenFaces()
	if err != nil {
		return err
	}
	if s.nsrv != nil && f.nativeAddr != "" {
		var nativeTLS *tls.Config
		if f.nativeTLS {
			nativeTLS = s.tls.listener()
		}
		if s.nativeL, err = listen(f.nativeAddr, nativeTLS); err != nil {
			closeFaces(grpcL, httpL)
			return fmt.Errorf("native listener: %w", err)
		}
	}
	s.warnUnprotected(srvTLS != nil, grpcL, httpL)

	var gopts []grpc.ServerOption
	var httpTLS *tls.Config
	if s.tls != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(s.tls.listener())))
		httpTLS = s.tls.listener("h2", "http/1.1")
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
		handler = gateway.HostCheck(mux, append(f.allowedHosts, listenHost(f.restAddr()))...)
	}
	s.httpSrv = &http.Server{
		Handler:           handler,
		MaxHeaderBytes:    int(f.maxHeaderSize),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: f.maxConnStreams},
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelDebug),
		TLSConfig:         httpTLS,
	}

	s.serveFaces(grpcL, httpL, srvTLS)
	if s.nativeL != nil {
		s.log.Info("listening", "listener", "native", "addr", addrString(s.nativeL), "tls", f.nativeTLS)
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
	if err := (store.Echo{}).Register(s.nsrv); err != nil {
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
	if s.router != nil {
		s.router.Close() // the entries of a reload that removed some too
	}
	for _, b := range s.entries() {
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
