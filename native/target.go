package native

// This file holds the transports a client dials by URL, and the one a
// server behind a pipe serves: TCP, TLS, unix sockets, the stdin and
// stdout of a command (exec:), and a process's own stdin and stdout.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Target is where a native server is, parsed from a URL by ParseTarget:
//
//	tcp://host:port    TCP
//	tls://host:port    TLS over TCP
//	unix:///path       a unix socket
//	exec:command line  the stdin and stdout of a command, run by /bin/sh -c
//	host:port          short for tcp://host:port
type Target struct {
	Scheme string // "tcp", "tls", "unix" or "exec"
	Addr   string // host:port, the socket's path, or the command line
}

// ParseTarget parses a target URL (see Target). Its error says what the
// URL should look like.
func ParseTarget(s string) (Target, error) {
	if cmd, ok := strings.CutPrefix(s, "exec:"); ok {
		if strings.TrimSpace(cmd) == "" {
			return Target{}, fmt.Errorf("%q: exec: needs a command line", s)
		}
		return Target{Scheme: "exec", Addr: cmd}, nil
	}
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return Target{}, fmt.Errorf("%q: want tcp://host:port, tls://host:port, unix:///path or exec:command", s)
		}
		return Target{Scheme: "tcp", Addr: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%q: %v", s, err)
	}
	switch u.Scheme {
	case "tcp", "tls":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
			return Target{}, fmt.Errorf("%q: want %s://host:port", s, u.Scheme)
		}
		return Target{Scheme: u.Scheme, Addr: u.Host}, nil
	case "unix":
		p := u.Host + u.Path
		if p == "" {
			return Target{}, fmt.Errorf("%q: want unix:///path/to/socket", s)
		}
		return Target{Scheme: "unix", Addr: p}, nil
	}
	return Target{}, fmt.Errorf("%q: unknown scheme %q: want tcp, tls, unix or exec", s, u.Scheme)
}

// String names the target for logs: an exec target by its program only,
// since a command line may carry secrets.
func (t Target) String() string {
	switch t.Scheme {
	case "exec":
		prog, _, _ := strings.Cut(strings.TrimSpace(t.Addr), " ")
		return "exec:" + prog
	case "unix":
		return "unix://" + t.Addr
	}
	return t.Scheme + "://" + t.Addr
}

// Host is the name to verify a tls:// target's certificate against: the
// host of host:port.
func (t Target) Host() string {
	h, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return t.Addr
	}
	return h
}

// DialOptions configures Target.Dialer.
type DialOptions struct {
	// TLS is required for a tls:// target; with it, a tcp:// target is
	// TLS too.
	TLS *tls.Config
	// Stderr receives the standard error of an exec: target's processes
	// (nil: discarded).
	Stderr io.Writer
}

// Dialer returns the function that opens one transport to t, for Dial or
// a Pool. Failures to connect are CodeUnavailable.
func (t Target) Dialer(o DialOptions) (func(ctx context.Context) (io.ReadWriteCloser, error), error) {
	switch t.Scheme {
	case "exec":
		return func(ctx context.Context) (io.ReadWriteCloser, error) { return DialCommand(t.Addr, o.Stderr) }, nil
	case "tls":
		if o.TLS == nil {
			return nil, errors.New("native: tls:// needs a TLS configuration")
		}
	case "tcp", "unix":
	default:
		return nil, fmt.Errorf("native: unknown target scheme %q", t.Scheme)
	}
	network := "tcp"
	if t.Scheme == "unix" {
		network = "unix"
	}
	addr, tlsCfg := t.Addr, o.TLS
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, NewError(CodeUnavailable, err)
		}
		if tlsCfg == nil || network == "unix" {
			return conn, nil
		}
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, Errorf(CodeUnavailable, "TLS handshake with %s: %v", addr, err)
		}
		return tc, nil
	}, nil
}

// commandCloseWait is how long closing a command's transport waits for
// the process to exit after its stdin was closed, before killing it.
const commandCloseWait = 3 * time.Second

// commandConn is the stdin and stdout of a process.
type commandConn struct {
	cmd    *exec.Cmd
	r      *os.File // the process's stdout
	w      *os.File // the process's stdin
	exited chan struct{}
	once   sync.Once
}

// DialCommand runs command with /bin/sh -c and returns its stdin and
// stdout as a transport: "ssh host gw backend -stdio" reaches a server on
// another machine through ssh. The process runs in a process group of its
// own, so that a Ctrl-C in the terminal reaches this process, which closes
// its transports in order, and not the command. Closing the transport
// closes both pipes (the server sees the end of its connection and exits),
// waits up to 3 seconds for the process to exit, then kills its process
// group. stderr receives the command's standard error (nil: discarded).
func DialCommand(command string, stderr io.Writer) (io.ReadWriteCloser, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	setProcessGroup(cmd)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, Errorf(CodeUnavailable, "exec: %v", err)
	}
	c := &commandConn{cmd: cmd, r: outR, w: inW, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *commandConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *commandConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *commandConn) Close() error {
	c.once.Do(func() {
		// EOF on its stdin; and a write to its stdout now fails (a
		// process blocked writing to a pipe nobody reads would never
		// see the EOF).
		c.w.Close()
		c.r.Close()
		t := time.NewTimer(commandCloseWait)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-t.C:
			killProcessGroup(c.cmd)
			<-c.exited
		}
	})
	return nil
}

// JoinConn returns r and w as one transport, for a server behind a pipe:
// Server.ServeConn(JoinConn(os.Stdin, os.Stdout)) serves this process's
// stdin and stdout, as "gw backend -stdio" does for an exec: target.
// Closing it closes both.
func JoinConn(r io.ReadCloser, w io.WriteCloser) io.ReadWriteCloser { return joinedConn{r, w} }

type joinedConn struct {
	io.ReadCloser
	w io.WriteCloser
}

func (c joinedConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c joinedConn) Close() error { return errors.Join(c.ReadCloser.Close(), c.w.Close()) }
