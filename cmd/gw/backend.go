package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/framegate/framegate/internal/store"
	"github.com/framegate/framegate/native"
)

const backendAbout = `Run the demo file store (rooted at -data-dir) and its Echo service, as gw
serve embeds them, as a native server without a gateway: on -native-addr,
or with -stdio on its stdin and stdout, for a gateway started with
-backend exec:... (one process per connection; it exits when the
connection ends). Logs go to stderr only.

-tls-cert and -tls-key turn on TLS; -client-ca requires client certificates.
With -otlp-endpoint each call runs in a span (OpenTelemetry, sent over
OTLP/HTTP), the child of the span whose trace context the caller sent.
On SIGINT or SIGTERM it asks its clients to go away, waits for the calls in
flight up to -shutdown-timeout, and exits 0.`

const backendExample = `  gw backend -native-addr 127.0.0.1:7071 -data-dir /srv/files &
  gw serve -backend tcp://127.0.0.1:7071 -native-addr ''
  gw serve -backend 'exec:gw backend -stdio -data-dir /srv/files' -native-addr ''`

func runBackend(args []string, sio *stdio) int {
	c := newCommand("backend", "gw backend [flags]", backendAbout, backendExample)
	var f commonFlags
	var tf traceFlags
	var addr, extra string
	var stdioMode bool
	var readTimeout, idleTimeout time.Duration
	var maxConns, maxCalls int
	c.fs.StringVar(&addr, "native-addr", "127.0.0.1:7070", "native protocol listen `address`: host:port or unix:///path")
	c.fs.BoolVar(&stdioMode, "stdio", false, "serve one connection on stdin and stdout instead of listening")
	c.commonFlags(&f)
	nativeReadTimeoutFlag(c, &readTimeout)
	nativeIdleTimeoutFlag(c, &idleTimeout)
	c.fs.IntVar(&maxConns, "max-conns", defaultMaxCalls, "most connections (`n`) served at once; at the limit the one idle the longest is closed\n"+
		"(through CLOSE) to admit a new one, which is refused only when every connection has a call in\n"+
		"flight; 0 for no limit")
	c.fs.IntVar(&maxCalls, "max-calls", defaultMaxCalls, "most calls in flight (`n`) over all connections (each connection carries up to 256 at once);\n"+
		"a call over it is refused at once with RESOURCE_EXHAUSTED; 0 for no limit")
	c.fs.StringVar(&extra, "extra-endpoint", "", "comma-separated endpoint `names` to register as well, each an echo of {\"text\"} (for tests)")
	c.hide("extra-endpoint")
	c.traceFlags(&tf)
	if err := c.parse(args, sio); err != nil {
		return exitCode(err)
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(sio.err, "gw backend: unexpected arguments %q\nRun 'gw backend -h' for help.\n", c.fs.Args())
		return 2
	}
	logger, err := newLogger(sio.err, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(sio.err, "gw backend: %v\n", err)
		return 2
	}
	tr, err := startTracing(&tf, "framegate-backend", false, logger)
	if err != nil {
		fmt.Fprintf(sio.err, "gw backend: %v\n", err)
		return 2
	}
	defer tr.shutdown(logger)
	fail := func(err error) int {
		logger.Error("gw backend: cannot start", "err", err)
		return 1
	}
	tlsCfg, err := serverTLS(f.tlsCert, f.tlsKey, f.clientCA)
	if err != nil {
		return fail(err)
	}
	st, err := store.Open(f.dataDir)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	for name, v := range map[string]int{"max-conns": maxConns, "max-calls": maxCalls} {
		if v < 0 {
			fmt.Fprintf(sio.err, "gw backend: -%s %d: want 0 (no limit) or more\nRun 'gw backend -h' for help.\n", name, v)
			return 2
		}
	}
	srv := native.NewServer(append(tr.nativeOptions(), native.WithLogger(logger), native.WithReadTimeout(readTimeout), native.WithIdleTimeout(idleTimeout),
		native.WithMaxConns(maxConns), native.WithMaxServerCalls(maxCalls))...)
	if err := st.Register(srv); err != nil {
		return fail(err)
	}
	if err := (store.Echo{}).Register(srv); err != nil {
		return fail(err)
	}
	for name := range strings.SplitSeq(extra, ",") {
		if name = strings.TrimSpace(name); name != "" {
			if err := srv.Register(name, extraEcho); err != nil {
				return fail(err)
			}
		}
	}
	sigs, stop := notifySignals()
	defer stop()

	served := make(chan error, 1)
	if stdioMode {
		in, inOK := sio.in.(*os.File)
		out, outOK := sio.out.(*os.File)
		if !inOK || !outOK {
			return fail(errors.New("-stdio needs stdin and stdout to be files"))
		}
		logger.Info("serving on stdin and stdout", "data_dir", f.dataDir, "pid", os.Getpid())
		go func() { served <- srv.ServeConn(native.JoinConn(in, out)) }()
	} else {
		if addr == "" {
			return fail(errors.New("-native-addr is empty and -stdio is not set: nowhere to serve"))
		}
		l, err := listen(addr, tlsCfg)
		if err != nil {
			return fail(err)
		}
		logger.Info("listening", "listener", "native", "addr", addrString(l), "tls", tlsCfg != nil, "data_dir", f.dataDir)
		go func() { served <- srv.Serve(l) }()
	}
	select {
	case err := <-served:
		if stdioMode {
			// The gateway closed the connection: this process's work is
			// done.
			if err != nil {
				logger.Debug("connection ended", "err", err)
			}
			return 0
		}
		logger.Error("gw backend: serve failed", "err", err)
		return 1
	case sig := <-sigs:
		logger.Info("shutting down", "signal", sig.String(), "timeout", f.shutdownTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	forced := srv.Shutdown(ctx) != nil
	if !stdioMode {
		<-served
	}
	// In -stdio mode ServeConn may still be blocked reading stdin, which
	// closing cannot interrupt; the process exits anyway.
	logger.Info("stopped", "cancelled_calls", forced)
	return 0
}

// extraEcho is the endpoint -extra-endpoint registers.
func extraEcho(req *ExtraRequest, resp *ExtraResponse) error {
	resp.Text = req.Text
	return nil
}

// ExtraRequest and ExtraResponse are the types of the -extra-endpoint echo.
type (
	ExtraRequest struct {
		Text string `json:"text"`
	}
	ExtraResponse struct {
		Text string `json:"text"`
	}
)
