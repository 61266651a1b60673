package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/framegate/framegate/native"
)

// command is one subcommand's flags and help. Every flag not given on the
// command line is read from the environment variable envName(flag) (or
// the one set by env), if it is set (even to ""): the command line wins
// over the environment, which wins over the default.
type command struct {
	fs      *flag.FlagSet
	usage   string // "gw serve [flags]"
	about   string // what it does
	example string
	hidden  map[string]bool   // flags left out of the help and the environment
	envVars map[string]string // flags read from another variable than envName's
}

func newCommand(name, usage, about, example string) *command {
	fs := flag.NewFlagSet("gw "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{fs: fs, usage: usage, about: about, example: example, hidden: map[string]bool{}, envVars: map[string]string{}}
}

// envName is the environment variable of a flag: -grpc-addr is GW_GRPC_ADDR.
func envName(flagName string) string {
	return "GW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// env makes a flag read the environment variable name instead of
// envName's: gw serve -addr is GW_SERVE_ADDR, because GW_ADDR is the
// address gw call and gw schema connect to.
func (c *command) env(flagName, name string) { c.envVars[flagName] = name }

// envOf is the environment variable of a flag of c.
func (c *command) envOf(flagName string) string {
	if v, ok := c.envVars[flagName]; ok {
		return v
	}
	return envName(flagName)
}

// hide leaves a flag (for tests) out of the help and the environment.
func (c *command) hide(name string) { c.hidden[name] = true }

// parse parses args, then fills the flags not given from the environment.
// It prints the help to sio.out for -h and returns errHelp; a usage error is
// printed to sio.err.
func (c *command) parse(args []string, sio *stdio) error {
	err := c.fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(sio.out)
		return errHelp
	}
	if err == nil {
		err = c.fromEnv(sio.env)
	}
	if err != nil {
		fmt.Fprintf(sio.err, "%s: %v\nRun '%s -h' for help.\n", c.fs.Name(), err, c.fs.Name())
		return errUsage
	}
	return nil
}

var (
	errHelp  = errors.New("help shown")
	errUsage = errors.New("usage error")
)

// exitCode is the status for an error of parse.
func exitCode(err error) int {
	if err == errHelp {
		return 0
	}
	return 2
}

func (c *command) fromEnv(lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	c.fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] || c.hidden[f.Name] || lookup == nil {
			return
		}
		v, ok := lookup(c.envOf(f.Name))
		if !ok {
			return
		}
		if e := c.fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value %q for %s (-%s): %v", v, c.envOf(f.Name), f.Name, e)
		}
	})
	return err
}

func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", c.usage, strings.TrimSpace(c.about))
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", strings.TrimRight(c.example, "\n"))
	}
	fmt.Fprintf(w, "\nFlags (each also read from the environment variable shown, if the flag is not given):\n")
	c.fs.VisitAll(func(f *flag.Flag) {
		if c.hidden[f.Name] {
			return
		}
		kind, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if kind != "" {
			line += " " + kind
		}
		meta := c.envOf(f.Name)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			meta += ", default " + f.DefValue
		}
		fmt.Fprintf(w, "%s   (%s)\n    \t%s\n", line, meta, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

// listenerFlags are the flags shared by serve and backend.
type commonFlags struct {
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	tlsCert         string
	tlsKey          string
	clientCA        string
	dataDir         string
}

func (c *command) commonFlags(f *commonFlags) {
	c.fs.StringVar(&f.dataDir, "data-dir", "./gw-data", "root `dir`ectory of the demo file store, created if missing")
	c.fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	c.fs.StringVar(&f.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	c.fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT or SIGTERM, how long calls in flight may take to finish before they are cancelled")
	c.fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM) of the server")
	c.fs.StringVar(&f.tlsKey, "tls-key", "", "TLS private key `file` (PEM) of -tls-cert")
	c.fs.StringVar(&f.clientCA, "client-ca", "", "CA certificates `file` (PEM): require client certificates signed by them (mutual TLS)")
}

// securityFlags are gw serve's token check and limits (auth.go,
// limits.go).
type securityFlags struct {
	authTokenFile       string
	authMetrics         bool
	maxCalls            int
	maxConnStreams      int
	bodyTimeout         time.Duration
	maxHeaderSize       byteSize
	grpcMaxMsgSize      byteSize
	httpMaxBodySize     byteSize
	nativeMaxHeaderSize byteSize
	nativeMaxBodySize   byteSize
	nativeMaxBodyMemory byteSize
	nativeReadTimeout   time.Duration
	nativeIdleTimeout   time.Duration
	corsOrigins         listFlag
	allowedHosts        listFlag
}

// listFlag is a flag that takes a comma-separated list, and may be given
// more than once.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// repeatFlag collects the values of a flag given several times, each as
// given (an exec: command line may hold commas); empty values are
// dropped.
type repeatFlag []string

func (l *repeatFlag) String() string { return strings.Join(*l, " ") }

func (l *repeatFlag) Set(s string) error {
	if s != "" {
		*l = append(*l, s)
	}
	return nil
}

func (c *command) securityFlags(f *securityFlags) {
	c.fs.StringVar(&f.authTokenFile, "auth-token-file", "", "require a bearer token: the `file` holds the valid tokens, one per line (blank lines, lines\n"+
		"that begin with # and surrounding whitespace ignored), each at least 16 bytes; a file the\n"+
		"group or others may write is refused. gRPC calls need the metadata \"authorization: Bearer TOKEN\" (else\n"+
		"UNAUTHENTICATED), HTTP requests the header \"Authorization: Bearer TOKEN\" (else 401). Open without\n"+
		"a token: grpc.health.v1.Health, GET /healthz, and GET /metrics unless -auth-metrics. The native\n"+
		"listener takes no token: protect it with -native-tls and -client-ca, a loopback address or a unix\n"+
		"socket, or turn it off with -native-addr ''. Send tokens over TLS only (-tls-cert, -tls-key)")
	c.fs.BoolVar(&f.authMetrics, "auth-metrics", false, "with -auth-token-file, require the token on GET /metrics too (by default Prometheus\n"+
		"scrapes it without one: restrict who can reach the HTTP listener instead)")
	c.fs.IntVar(&f.maxCalls, "max-calls", defaultMaxCalls, "most calls in flight (`n`) on each listener: gRPC, HTTP, native; 0 for no limit. Health\n"+
		"checks and gRPC server reflection have a pool of their own (128). A call over it is\n"+
		"refused at once: RESOURCE_EXHAUSTED, HTTP 429. The native listener also serves at most n\n"+
		"connections: at the limit the one idle the longest is closed to admit a new one; a new one is\n"+
		"refused only when every one has a call in flight")
	c.fs.IntVar(&f.maxConnStreams, "max-conn-streams", defaultMaxConnStreams, "most concurrent streams (`n`) one HTTP/2 connection may open, on the gRPC listener\n"+
		"and on the HTTP listener's HTTP/2, and calls one native connection may run (a client waits\n"+
		"for a free stream above it); keep it below -max-calls, so that one connection cannot take\n"+
		"every call of a listener")
	c.fs.DurationVar(&f.bodyTimeout, "body-timeout", defaultBodyTimeout, "how long a client may send no byte of a request body it has begun, on the HTTP\n"+
		"listener (408) and the gRPC listener (a stream that sends no request message: DEADLINE_EXCEEDED),\n"+
		"before the call is ended and its place freed; a slow upload that keeps moving lives (0: no limit)")
	f.maxHeaderSize = defaultMaxHeaderSize
	c.fs.Var(&f.maxHeaderSize, "max-header-size", "largest request header `size` on the HTTP listener (the request line and headers: 431\n"+
		"above it) and on the gRPC listener (the metadata); bytes, or with KiB, MiB, GiB")
	f.grpcMaxMsgSize = defaultGRPCMaxMsgSize
	c.fs.Var(&f.grpcMaxMsgSize, "grpc-max-msg-size", "largest gRPC request message `size` (RESOURCE_EXHAUSTED above it); a request stream is\n"+
		"many messages, each at most this size")
	f.httpMaxBodySize = defaultHTTPMaxBody
	c.fs.Var(&f.httpMaxBodySize, "http-max-body-size", "largest JSON request body `size` on the REST front door (413 above it), at most 1GiB;\n"+
		"request streams (uploads) are not limited")
	f.nativeMaxHeaderSize = native.DefaultMaxHeaderSize
	c.fs.Var(&f.nativeMaxHeaderSize, "native-max-header-size", "largest native HEADER or TRAILER frame `size` the embedded store accepts (a larger one\n"+
		"ends the connection), 1KiB to 4MiB")
	f.nativeMaxBodySize = native.DefaultMaxBodySize
	c.fs.Var(&f.nativeMaxBodySize, "native-max-body-size", "largest JSON request body `size` the embedded store accepts (RESOURCE_EXHAUSTED above\n"+
		"it), from native clients and from the gateway alike; request streams are not limited")
	f.nativeMaxBodyMemory = native.DefaultMaxBodyMemory
	c.fs.Var(&f.nativeMaxBodyMemory, "native-max-body-memory", "most memory (`size`) the JSON request bodies of all native connections hold together; a\n"+
		"call whose body does not fit is refused with RESOURCE_EXHAUSTED")
	nativeReadTimeoutFlag(c, &f.nativeReadTimeout)
	nativeIdleTimeoutFlag(c, &f.nativeIdleTimeout)
	c.fs.Var(&f.corsOrigins, "cors-origin", "web `origins` (https://app.example.com, comma-separated, or * for any) whose pages may call\n"+
		"the HTTP listener from a browser: CORS preflights are answered and responses expose Grpc-Status,\n"+
		"Grpc-Message and metadata. Requests from other sites that could change state get 403")
	c.fs.Var(&f.allowedHosts, "allowed-host", "host `names` (comma-separated) the HTTP listener answers to besides IP addresses, localhost\n"+
		"and the host of -http-addr; without -auth-token-file, a request for another name gets 403, so\n"+
		"that a web page cannot reach the gateway by pointing its own name at it (DNS rebinding)")
}

// nativeReadTimeoutFlag is -native-read-timeout, of gw serve and gw backend.
func nativeReadTimeoutFlag(c *command, d *time.Duration) {
	c.fs.DurationVar(d, "native-read-timeout", time.Minute, "how long a native client may stay silent in the middle of a frame or of a request it\n"+
		"is sending before its connection is closed (0: no limit); idle connections are not affected")
}

// nativeIdleTimeoutFlag is -native-idle-timeout, of gw serve and gw backend.
func nativeIdleTimeoutFlag(c *command, d *time.Duration) {
	c.fs.DurationVar(d, "native-idle-timeout", native.DefaultIdleTimeout, "how long a native connection may stay without a call in flight before the server\n"+
		"closes it through the close handshake (0: no limit); clients that pool connections redial")
}
