package main

// The exec backend: the load's backend behind a pipe to a process, as gw
// serve -backend 'exec:gw backend -stdio' reaches one. The gateway's pool
// starts this executable again through native.DialCommand, one process
// per dial, with the environment variable execChildEnv set on its command
// line, and the child serves the backend on its stdin and stdout. Calls
// multiplex on one connection, so the whole load runs over one process:
// a scenario that started more while the backend stayed up fails
// (checkProcesses).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// execChildEnv marks the exec backend's process.
const execChildEnv = "FRAMEGATE_LOAD_EXEC_BACKEND"

// execChild serves the backend on stdin and stdout if execChildEnv is
// set, and returns the exit code and true.
func execChild(stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) (int, bool) {
	if _, ok := os.LookupEnv(execChildEnv); !ok {
		return 0, false
	}
	srv, err := newBackend()
	if err == nil {
		err = srv.ServeConn(native.JoinConn(stdin, stdout))
	}
	if err != nil {
		fmt.Fprintln(stderr, "exec backend:", err)
		return 1, true
	}
	return 0, true
}

// execTarget is the exec: target that starts the exec backend: this
// executable, marked by execChildEnv, run by /bin/sh -c (exec: the shell
// becomes the backend, so one process per dial).
func execTarget() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return "exec:" + execChildEnv + "=1 exec " + shellQuote(exe), nil
}

// shellQuote quotes s as one word for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// execDialer builds the dial of an exec: target as gw serve -backend does
// (cmd/gw/serve.go): native.ParseTarget, then Target.Dialer, whose dial is
// native.DialCommand; the processes' stderr goes to stderr. procs counts
// the processes it starts.
func execDialer(target string, stderr io.Writer, procs *execProcs) (gateway.DialFunc, error) {
	t, err := native.ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if t.Scheme != "exec" {
		return nil, fmt.Errorf("%s: not an exec: target", t)
	}
	dial, err := t.Dialer(native.DialOptions{Stderr: stderr})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		rwc, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		procs.started.Add(1)
		return &procConn{ReadWriteCloser: rwc, procs: procs}, nil
	}, nil
}

// execProcs counts the exec backend's processes: started, one per
// successful dial of the pool (PoolStats.Dials less Failures); lost, those
// whose connection ended before the gateway closed it (the process exited
// or was killed: the backend went down, and a new process is expected).
type execProcs struct{ started, lost atomic.Int64 }

// procConn is one process's connection.
type procConn struct {
	io.ReadWriteCloser
	procs  *execProcs
	closed atomic.Bool // by the gateway
	ended  atomic.Bool // counted
}

func (c *procConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if err != nil && !c.closed.Load() && c.ended.CompareAndSwap(false, true) {
		c.procs.lost.Add(1)
	}
	return n, err
}

func (c *procConn) Close() error {
	c.closed.Store(true)
	return c.ReadWriteCloser.Close()
}

// checkProcesses fails if e, an exec backend, started more than one
// process while it stayed up (no process lost): calls multiplex on the
// pool's one connection, which is the control connection too (with -pool
// N > 1 the pool may open N, so N processes). A lost process is replaced
// by the next dial; the scenario's errors tell of it.
func (e *env) checkProcesses() error {
	if e.kind != "exec" || e.rb == nil {
		return nil
	}
	ps := e.rb.PoolStats()
	n, lost := e.procs.started.Load(), e.procs.lost.Load()
	if n != ps.Dials-ps.Failures {
		return fmt.Errorf("%d backend processes started but the pool counts %d dials (%d failed)", n, ps.Dials, ps.Failures)
	}
	if want := int64(max(e.cfg.pool, 1)); n > want && lost == 0 {
		return fmt.Errorf("%d backend processes started while the backend stayed up, want at most %d (-pool %d; calls multiplex on one connection)%s",
			n, want, e.cfg.pool, e.childStderr())
	}
	return nil
}

// childStderr is what the exec backend's processes wrote to their stderr,
// as the end of an error message, or "".
func (e *env) childStderr() string {
	if e.execErr == nil {
		return ""
	}
	s := strings.TrimSpace(e.execErr.String())
	if s == "" {
		return ""
	}
	return "; its stderr:\n" + s
}

// lockedBuffer collects the exec backend's stderr (the first
// maxChildStderr bytes), written by the goroutines copying it, read when
// something failed; nothing reaches the load's own output otherwise.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int
}

const maxChildStderr = 64 << 10

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := min(len(p), max(maxChildStderr-l.b.Len(), 0))
	l.b.Write(p[:keep])
	l.dropped += len(p) - keep
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		return fmt.Sprintf("%s\n[%d more bytes dropped]", l.b.String(), l.dropped)
	}
	return l.b.String()
}
