package main

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

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// target is where a native server is: a -backend of gw serve or an -addr of
// gw call.
//
//	tcp://host:port    TCP
//	tls://host:port    TLS over TCP
//	unix:///path       a unix socket
//	exec:command line  the stdin and stdout of a command, run by /bin/sh -c
//	host:port          short for tcp://host:port
type target struct {
	scheme string // tcp, tls, unix or exec
	addr   string // host:port, the socket path, or the command line
}

func parseTarget(s string) (target, error) {
	if cmd, ok := strings.CutPrefix(s, "exec:"); ok {
		if strings.TrimSpace(cmd) == "" {
			return target{}, fmt.Errorf("%q: exec: needs a command line", s)
		}
		return target{scheme: "exec", addr: cmd}, nil
	}
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return target{}, fmt.Errorf("%q: want tcp://host:port, tls://host:port, unix:///path or exec:command", s)
		}
		return target{scheme: "tcp", addr: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("%q: %v", s, err)
	}
	switch u.Scheme {
	case "tcp", "tls":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
			return target{}, fmt.Errorf("%q: want %s://host:port", s, u.Scheme)
		}
		return target{scheme: u.Scheme, addr: u.Host}, nil
	case "unix":
		p := u.Host + u.Path
		if p == "" {
			return target{}, fmt.Errorf("%q: want unix:///path/to/socket", s)
		}
		return target{scheme: "unix", addr: p}, nil
	}
	return target{}, fmt.Errorf("%q: unknown scheme %q: want tcp, tls, unix or exec", s, u.Scheme)
}

// String names the target in logs: an exec target by its program only, since
// a command line may carry secrets.
func (t target) String() string {
	switch t.scheme {
	case "exec":
		prog, _, _ := strings.Cut(strings.TrimSpace(t.addr), " ")
		return "exec:" + prog
	case "unix":
		return "unix://" + t.addr
	}
	return t.scheme + "://" + t.addr
}

// host is the server name to verify a tls:// target's certificate against.
func (t target) host() string {
	h, _, err := net.SplitHostPort(t.addr)
	if err != nil {
		return t.addr
	}
	return h
}

// dialer returns the function that opens one transport to t. A tls://
// target needs tlsCfg; with tlsCfg, tcp:// is TLS too. Processes of an exec:
// target write their stderr to stderr.
func (t target) dialer(tlsCfg *tls.Config, stderr *os.File) (gateway.DialFunc, error) {
	switch t.scheme {
	case "exec":
		return func(ctx context.Context) (io.ReadWriteCloser, error) { return startExec(t.addr, stderr) }, nil
	case "tls":
		if tlsCfg == nil {
			return nil, errors.New("tls:// needs a TLS configuration")
		}
	}
	network := "tcp"
	if t.scheme == "unix" {
		network = "unix"
	}
	addr := t.addr
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, native.NewError(native.CodeUnavailable, err)
		}
		if tlsCfg == nil || network == "unix" {
			return conn, nil
		}
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, native.Errorf(native.CodeUnavailable, "TLS handshake with %s: %v", addr, err)
		}
		return tc, nil
	}, nil
}

// execCloseWait is how long closing an exec: transport waits for the
// process to exit after its stdin was closed, before killing it.
const execCloseWait = 3 * time.Second

// execConn is the stdin and stdout of a process. Closing it closes both
// pipes (the native server in the process sees the end of its connection
// and exits), waits up to execCloseWait for the process to exit, then kills
// its process group.
type execConn struct {
	cmd    *exec.Cmd
	r      *os.File // the process's stdout
	w      *os.File // the process's stdin
	exited chan struct{}
	once   sync.Once
}

// startExec runs command with /bin/sh -c, in a process group of its own (so
// that a Ctrl-C in the terminal reaches the gateway, which closes the
// backends in order, and not the backends directly).
func startExec(command string, stderr *os.File) (io.ReadWriteCloser, error) {
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
	cmd.Stdin, cmd.Stdout = inR, outW
	if stderr != nil {
		cmd.Stderr = stderr
	}
	setProcessGroup(cmd)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, native.Errorf(native.CodeUnavailable, "exec: %v", err)
	}
	c := &execConn{cmd: cmd, r: outR, w: inW, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *execConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *execConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *execConn) Close() error {
	c.once.Do(func() {
		// EOF on its stdin; and a write to its stdout now fails (a
		// process blocked writing to a pipe nobody reads would never
		// see the EOF).
		c.w.Close()
		c.r.Close()
		t := time.NewTimer(execCloseWait)
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

// stdioConn is this process's stdin and stdout, for gw backend -stdio.
type stdioConn struct {
	in  *os.File
	out *os.File
}

func (c stdioConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c stdioConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c stdioConn) Close() error {
	c.in.Close()
	return c.out.Close()
}
