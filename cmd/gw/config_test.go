package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	return writeTemp(t, "gw.yaml", content)
}

// Every key sets its flag; lists set repeated flags; the environment wins
// over the file and the command line over both.
func TestConfigFileSetsFlags(t *testing.T) {
	cfg := writeConfig(t, `# gw serve
grpc-addr: 127.0.0.1:9191
http-addr: "127.0.0.1:8181"
native-addr: ""
max-calls: 77
body-timeout: 5s
grpc-max-msg-size: 8MiB
http-compress: false
backend:
  - tcp://127.0.0.1:7071,tcp://127.0.0.1:7072
  - unix:///run/notes.sock
cors-origin: [https://a.example, https://b.example]
log-level: warn
`)
	f, _, err := parseServe([]string{"-config", cfg}, &stdio{env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	if f.grpcAddr != "127.0.0.1:9191" || f.httpAddr != "127.0.0.1:8181" || f.nativeAddr != "" || f.maxCalls != 77 ||
		f.bodyTimeout != 5*time.Second || f.grpcMaxMsgSize != 8<<20 || f.httpCompress || f.logLevel != "warn" {
		t.Errorf("flags from the file: %+v", f)
	}
	if got := strings.Join(f.backends, " "); got != "tcp://127.0.0.1:7071,tcp://127.0.0.1:7072 unix:///run/notes.sock" {
		t.Errorf("backends %q", got)
	}
	if got := strings.Join(f.corsOrigins, " "); got != "https://a.example https://b.example" {
		t.Errorf("cors origins %q", got)
	}

	env := map[string]string{"GW_MAX_CALLS": "88", "GW_GRPC_ADDR": "127.0.0.1:9292"}
	f, _, err = parseServe([]string{"-config", cfg, "-grpc-addr", "127.0.0.1:9393", "-backend", "tcp://10.0.0.1:1"},
		&stdio{env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if f.maxCalls != 88 || f.grpcAddr != "127.0.0.1:9393" || len(f.backends) != 1 || f.backends[0] != "tcp://10.0.0.1:1" {
		t.Errorf("precedence (command line, environment, file): max-calls %d, grpc-addr %s, backends %q", f.maxCalls, f.grpcAddr, f.backends)
	}
	if f.httpAddr != "127.0.0.1:8181" {
		t.Errorf("a key neither the command line nor the environment gives: http-addr %s", f.httpAddr)
	}
}

// A file that cannot be used is refused, naming the file, the line and
// the key; gw serve exits 2 and gw config check 1.
func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct{ content, want string }{
		{"grpc-adr: 127.0.0.1:1\n", `line 1: unknown key "grpc-adr"`},
		{"max-calls: 1\nmax-calls: 2\n", `line 2: key "max-calls" given twice (first on line 1)`},
		{"max-calls: lots\n", `line 1: invalid value "lots" for key max-calls`},
		{"max-calls: [1, 2]\n", `line 1: key "max-calls" takes one value, not a list`},
		{"tls-cert:\n", `line 1: key "tls-cert" has no value`},
		{"backend: {a: b}\n", `line 1: key "backend": want a value or a list of values`},
		{"- a\n- b\n", "line 1: want a mapping of flag names to values"},
		{"config: other.yaml\n", `unknown key "config"`},
		{"a: [unclosed\n", "yaml"},
		{strings.Repeat("k", 300) + ": 1\n", `unknown key "` + strings.Repeat("k", 64) + `..."`},
	} {
		cfg := writeConfig(t, c.content)
		code, _, stderr := runInProcess([]string{"serve", "-config", cfg}, nil)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, cfg) {
			t.Errorf("gw serve with %q: status %d, stderr %q; want 2 and %q", c.content, code, stderr, c.want)
		}
		code, stdout, stderr := runInProcess([]string{"config", "check", cfg}, nil)
		if code != 1 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("gw config check of %q: status %d, stdout %q, stderr %q; want 1 and %q", c.content, code, stdout, stderr, c.want)
		}
	}
	code, _, stderr := runInProcess([]string{"serve", "-config", filepath.Join(t.TempDir(), "missing.yaml")}, nil)
	if code != 2 || !strings.Contains(stderr, "no such file") {
		t.Errorf("a missing file: status %d, %q", code, stderr)
	}
}

// gw config check loads what the file names, as gw serve would.
func TestConfigCheck(t *testing.T) {
	p := newTestPKI(t)
	tokens := writeTokens(t, randomWord("tok-")+"\n")
	good := writeConfig(t, "tls-cert: "+p.serverCert+"\ntls-key: "+p.serverKey+"\nclient-ca: "+p.ca+
		"\nauth-token-file: "+tokens+"\nbackend: [tcp://127.0.0.1:7071, 'dns:///notes.example:7071', 'exec:gw backend -stdio']\n")
	if code, stdout, stderr := runInProcess([]string{"config", "check", good}, nil); code != 0 || stdout != good+": ok\n" {
		t.Errorf("a good file: status %d, %q %q", code, stdout, stderr)
	}
	for _, c := range []struct{ content, want string }{
		{"tls-cert: " + p.serverCert + "\ntls-key: " + p.clientKey + "\n", "TLS certificate"},
		{"tls-cert: " + p.serverCert + "\n", "-tls-cert and -tls-key go together"},
		{"auth-token-file: /nonexistent/tokens\n", "-auth-token-file"},
		{"backend: [ftp://x]\n", "-backend"},
		{"backend: ['dns:///nameonly']\n", "want dns:///name:port"},
		{"grpc-addr: nocolon\n", "-grpc-addr"},
		{"max-calls: -1\n", "-max-calls -1"},
		{"log-level: loud\n", "-log-level"},
		{"native-tls: true\n", "-native-tls needs"},
	} {
		cfg := writeConfig(t, c.content)
		if code, _, stderr := runInProcess([]string{"config", "check", cfg}, nil); code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("gw config check of %q: status %d, %q; want 1 and %q", c.content, code, stderr, c.want)
		}
	}
	if code, _, stderr := runInProcess([]string{"config", "lint", good}, nil); code != 2 || !strings.Contains(stderr, "gw config check FILE") {
		t.Errorf("gw config lint: %d %q", code, stderr)
	}
}
