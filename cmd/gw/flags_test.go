package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func runInProcess(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	sio := &stdio{in: strings.NewReader(""), out: &out, err: &errb, env: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
	code = run(args, sio)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"-h"}, []string{"Usage: gw [serve] [flags]", "Commands:", "Example:", "-grpc-addr address", "GW_GRPC_ADDR, default 127.0.0.1:9090", "GW_SHUTDOWN_TIMEOUT, default 30s", "exec:"}, nil},
		{[]string{"serve", "-h"}, []string{"Usage: gw [serve] [flags]", "GW_BACKEND", "GW_POOL_SIZE, default 1", "-http-compress   (GW_HTTP_COMPRESS, default true)", "grpcurl -plaintext"}, nil},
		{[]string{"backend", "-h"}, []string{"Usage: gw backend [flags]", "-stdio", "GW_NATIVE_ADDR", "Example:"}, []string{"extra-endpoint", "EXTRA"}},
		{[]string{"call", "-h"}, []string{"Usage: gw call [flags] ENDPOINT [JSON]", "-list", "GW_ADDR", "Example:", "Exit status"}, nil},
		{[]string{"help", "call"}, []string{"Usage: gw call"}, nil},
		{[]string{"help"}, []string{"Commands:"}, nil},
	} {
		code, out, errOut := runInProcess(tc.args, nil)
		if code != 0 || errOut != "" {
			t.Errorf("gw %q: status %d, stderr %q", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("gw %q: the help lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("gw %q: the help shows %q", tc.args, w)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"bogus"}, nil, `unknown command "bogus"`},
		{[]string{"serve", "-nope"}, nil, "flag provided but not defined: -nope"},
		{[]string{"serve", "extra"}, nil, "unexpected arguments"},
		{[]string{"serve"}, map[string]string{"GW_POOL_SIZE": "many"}, `invalid value "many" for GW_POOL_SIZE (-pool-size)`},
		{[]string{"serve", "-log-format", "xml"}, nil, "-log-format"},
		{[]string{"serve", "-log-level", "loud"}, nil, "-log-level"},
		{[]string{"call"}, nil, "no endpoint given"},
		{[]string{"call", "-list", "Store.List"}, nil, "-list takes no arguments"},
		{[]string{"call", "-addr", "ftp://x:1", "Store.List"}, nil, "unknown scheme"},
		{[]string{"backend", "x"}, nil, "unexpected arguments"},
		{[]string{"serve", "-addr", ":0", "-grpc-addr", ":0"}, nil, "-addr serves gRPC and HTTP on one listener: it cannot go with -grpc-addr (or GW_GRPC_ADDR)"},
		{[]string{"serve", "-addr", ":0"}, map[string]string{"GW_HTTP_ADDR": ":0"}, "it cannot go with -http-addr (or GW_HTTP_ADDR)"},
		{[]string{"serve", "-grpc-addr", ":0"}, map[string]string{"GW_SERVE_ADDR": ":0"}, "it cannot go with -grpc-addr"},
	} {
		code, _, errOut := runInProcess(tc.args, tc.env)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("gw %q (env %v): status %d, stderr %q; want 2 and %q", tc.args, tc.env, code, errOut, tc.want)
		}
	}
}

// A flag on the command line wins over its GW_* variable, which wins over
// the default; a variable set to "" counts.
func TestFlagsFromEnvironment(t *testing.T) {
	c := newCommand("serve", "", "", "")
	var grpcAddr, httpAddr, nativeAddr string
	var pool int
	var timeout time.Duration
	var nativeTLS bool
	var hidden string
	c.fs.StringVar(&grpcAddr, "grpc-addr", "g", "")
	c.fs.StringVar(&httpAddr, "http-addr", "h", "")
	c.fs.StringVar(&nativeAddr, "native-addr", "n", "")
	c.fs.IntVar(&pool, "pool-size", 8, "")
	c.fs.DurationVar(&timeout, "shutdown-timeout", time.Second, "")
	c.fs.BoolVar(&nativeTLS, "native-tls", false, "")
	c.fs.StringVar(&hidden, "extra-endpoint", "", "")
	c.hide("extra-endpoint")
	var addr string
	c.fs.StringVar(&addr, "addr", "", "")
	c.env("addr", "GW_SERVE_ADDR") // GW_ADDR is gw call's
	env := map[string]string{
		"GW_ADDR": "tcp://127.0.0.1:7070", "GW_SERVE_ADDR": "from-its-env",
		"GW_GRPC_ADDR": "from-env", "GW_HTTP_ADDR": "from-env", "GW_NATIVE_ADDR": "",
		"GW_POOL_SIZE": "3", "GW_SHUTDOWN_TIMEOUT": "5s", "GW_NATIVE_TLS": "true", "GW_EXTRA_ENDPOINT": "X.Y",
	}
	sio := &stdio{env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	if err := c.parse([]string{"-http-addr", "from-flag"}, sio); err != nil {
		t.Fatal(err)
	}
	if addr != "from-its-env" {
		t.Errorf("-addr %q; want GW_SERVE_ADDR's", addr)
	}
	if grpcAddr != "from-env" || httpAddr != "from-flag" || nativeAddr != "" || pool != 3 || timeout != 5*time.Second || !nativeTLS || hidden != "" {
		t.Errorf("got grpc %q http %q native %q pool %d timeout %v tls %v hidden %q", grpcAddr, httpAddr, nativeAddr, pool, timeout, nativeTLS, hidden)
	}
}
