package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"tcp://127.0.0.1:7070":            {"tcp", "127.0.0.1:7070"},
		"127.0.0.1:7070":                  {"tcp", "127.0.0.1:7070"},
		"localhost:7070":                  {"tcp", "localhost:7070"},
		"tls://files.example.com:443":     {"tls", "files.example.com:443"},
		"tcp://[::1]:7070":                {"tcp", "[::1]:7070"},
		"unix:///run/gw.sock":             {"unix", "/run/gw.sock"},
		"exec:ssh host gw backend -stdio": {"exec", "ssh host gw backend -stdio"},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "exec:", "exec:  ", "tcp://host", "tcp://host:1/path", "tcp://user:pw@host:1", "unix://", "http://x:1", "justahost"} {
		if got, err := ParseTarget(in); err == nil {
			t.Errorf("ParseTarget(%q) = %+v; want an error", in, got)
		}
	}
	if s := (Target{"exec", "ssh -i key host gw backend -stdio"}).String(); s != "exec:ssh" {
		t.Errorf("an exec target is logged as %q; want the program only", s)
	}
	if h := (Target{"tls", "files.example.com:443"}).Host(); h != "files.example.com" {
		t.Errorf("Host() = %q", h)
	}
	if _, err := (Target{Scheme: "tls", Addr: "x:1"}).Dialer(DialOptions{}); err == nil {
		t.Error("a tls:// dialer without a TLS configuration")
	}
}

// A call reaches a server through each kind of target: TCP, a unix socket,
// and a command whose stdin and stdout are the server's (here a goroutine
// behind a pair of named pipes that cat joins).
func TestTargetDialers(t *testing.T) {
	srv := NewServer()
	if err := srv.Register("Echo.Say", func(req *string, resp *string) error { *resp = *req; return nil }); err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- srv.Serve(tcp) }()
	go func() { served <- srv.Serve(unix) }()
	defer func() {
		srv.Close()
		for range 2 {
			if err := <-served; err != nil && !errors.Is(err, ErrServerClosed) {
				t.Error(err)
			}
		}
	}()
	for _, url := range []string{"tcp://" + tcp.Addr().String(), "unix://" + sock} {
		target, err := ParseTarget(url)
		if err != nil {
			t.Fatal(err)
		}
		dial, err := target.Dialer(DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rwc, err := dial(ctx)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", url, err)
		}
		c, err := NewClient(rwc)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var out string
		err = c.Call(ctx, "Echo.Say", "hi "+target.Scheme, &out)
		cancel()
		c.Close()
		if err != nil || out != "hi "+target.Scheme {
			t.Errorf("%s: %q, %v", url, out, err)
		}
	}
	// Nothing listens here: UNAVAILABLE.
	dial, _ := (Target{Scheme: "unix", Addr: sock + ".none"}).Dialer(DialOptions{})
	if _, err := dial(context.Background()); CodeOf(err) != CodeUnavailable {
		t.Errorf("dialing nothing: %v; want UNAVAILABLE", err)
	}
}

// DialCommand's transport is the command's stdin and stdout; closing it
// ends the command.
func TestDialCommand(t *testing.T) {
	var stderr strings.Builder
	c, err := DialCommand("cat; echo done >&2", &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returns once the process has exited (at the EOF on its stdin)
	// and its stderr is copied.
	if got := stderr.String(); got != "done\n" {
		t.Errorf("stderr %q; want the command's", got)
	}
	// A command that does not run: the shell exits, and reading says so.
	c, err = DialCommand("exit 3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("reading a command that exited: %d, %v; want EOF", n, err)
	}
	c.Close()
}

// JoinConn serves a server over a pair of pipes, as over stdin and stdout.
func TestJoinConn(t *testing.T) {
	srv := NewServer()
	if err := srv.Register("Echo.Say", func(req *string, resp *string) error { *resp = *req; return nil }); err != nil {
		t.Fatal(err)
	}
	toSrv, fromCli, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromSrv, toCli, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(JoinConn(toSrv, toCli)) }()
	c, err := NewClient(JoinConn(fromSrv, fromCli))
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := c.Call(context.Background(), "Echo.Say", "over pipes", &out); err != nil || out != "over pipes" {
		t.Errorf("%q, %v", out, err)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Errorf("ServeConn: %v", err)
	}
}

func ExampleParseTarget() {
	for _, s := range []string{"127.0.0.1:7070", "unix:///run/gw.sock", "exec:ssh -i key host gw backend -stdio"} {
		t, err := ParseTarget(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(t.Scheme, t)
	}
	// Output:
	// tcp tcp://127.0.0.1:7070
	// unix unix:///run/gw.sock
	// exec exec:ssh
}
