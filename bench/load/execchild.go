package main

// The exec backend: the load's backend behind a pipe, as gw serve
// -backend 'exec:gw backend -stdio' reaches one. The gateway starts this
// executable again with execChildArg (native.DialCommand), and the child
// serves the backend on its stdin and stdout. Connections multiplex, so
// the whole load runs over one process: a scenario that started more fails.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/framegate/framegate/native"
)

// execChildArg is the argument that makes this executable the exec
// backend.
const execChildArg = "-exec-backend-child"

// execChild serves the backend on stdin and stdout if this process is the
// exec backend, and reports whether it was.
func execChild(args []string, stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) (int, bool) {
	if len(args) != 1 || args[0] != execChildArg {
		return 0, false
	}
	srv, err := newBackend()
	if err != nil {
		fmt.Fprintln(stderr, "exec backend:", err)
		return 1, true
	}
	if err := srv.ServeConn(native.JoinConn(stdin, stdout)); err != nil {
		fmt.Fprintln(stderr, "exec backend:", err)
		return 1, true
	}
	return 0, true
}

// execCommand is the command line that starts the exec backend.
func execCommand() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(exe, " '\"\\$`") {
		return "", fmt.Errorf("exec backend: the executable's path %q needs quoting", exe)
	}
	return exe + " " + execChildArg, nil
}

// lockedBuffer collects the exec backend's standard error, written by the
// goroutine copying it, read when something failed.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
