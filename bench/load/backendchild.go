package main

// A remote scenario's backend runs in a child process too, when the
// clients do (-clients-apart): a remote backend is another process in
// production, and in this one its send buffers and handlers would count
// in the gateway's peak RSS. The child is this executable again, told by
// the environment variable backendChildEnv; it serves the load backend on
// a loopback TCP listener, writes the address, then answers lines on
// stdin: "reset" resets its peak RSS, "peak" writes it (MiB). It shuts
// down when stdin closes.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
	"github.com/framegate/framegate/native"
)

// backendChildEnv marks the backend's child process.
const backendChildEnv = "FRAMEGATE_LOAD_BACKEND"

// backendApart is the parent's handle on a backend child.
type backendApart struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr strings.Builder
	addr   string
}

// startBackendApart starts a backend child and waits for its address.
func startBackendApart() (*backendApart, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b := &backendApart{cmd: exec.Command(exe)}
	b.cmd.Env = append(os.Environ(), backendChildEnv+"=1")
	b.cmd.Stderr = &b.stderr
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	b.out = bufio.NewReader(out)
	line, err := b.out.ReadString('\n')
	if err != nil {
		return nil, errors.Join(fmt.Errorf("backend process: no address: %w", err), b.stop())
	}
	b.addr = strings.TrimSpace(line)
	return b, nil
}

// resetPeak resets the child's peak RSS.
func (b *backendApart) resetPeak() error {
	_, err := io.WriteString(b.in, "reset\n")
	return err
}

// peak returns the child's peak RSS in MiB since the last reset.
func (b *backendApart) peak() (float64, error) {
	if _, err := io.WriteString(b.in, "peak\n"); err != nil {
		return 0, err
	}
	var mib float64
	if _, err := fmt.Fscanln(b.out, &mib); err != nil {
		return 0, fmt.Errorf("backend process: peak RSS: %w", err)
	}
	return mib, nil
}

// stop shuts the child down and waits for it; its error is the child's.
func (b *backendApart) stop() error {
	b.in.Close()
	err := b.cmd.Wait()
	return errors.Join(err, childErr("backend process", b.stderr.String()))
}

// backendChild is the child's side: if backendChildEnv is set, it serves
// the backend and returns the exit code and true.
func backendChild(stdin io.Reader, stdout, stderr io.Writer) (int, bool) {
	if _, ok := os.LookupEnv(backendChildEnv); !ok {
		return 0, false
	}
	if err := runBackendChild(stdin, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1, true
	}
	return 0, true
}

func runBackendChild(stdin io.Reader, stdout io.Writer) error {
	s, err := newBackend()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	fmt.Fprintln(stdout, l.Addr())
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "reset":
			resetPeakRSS()
		case "peak":
			mib, _ := benchkit.VmHWM()
			fmt.Fprintln(stdout, mib)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Shutdown(ctx)
	if serr := <-served; serr != nil && !errors.Is(serr, native.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
