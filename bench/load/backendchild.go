package main

// A remote scenario's backend runs in a child process too, when the
// clients do (-clients-apart), and each replica of the replicas backends
// always does: a remote backend is another process in production, and in
// this one its send buffers and handlers would count in the gateway's peak
// RSS; a replica is killed mid-run (replicakill.go). The child is this
// executable again, told by the environment variable backendChildEnv,
// whose value is the address to listen on; it serves the load backend on
// that loopback TCP listener, writes the address, then answers lines on
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
	"syscall"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
	"github.com/framegate/framegate/native"
)

// backendChildEnv marks the backend's child process, and says where it
// listens.
const backendChildEnv = "FRAMEGATE_LOAD_BACKEND"

// backendApart is the parent's handle on a backend child.
type backendApart struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr strings.Builder
	addr   string
}

// startBackendApart starts a backend child listening on addr
// (127.0.0.1:0: a port of its choice) and waits for its address.
func startBackendApart(addr string) (*backendApart, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b := &backendApart{cmd: exec.Command(exe)}
	b.cmd.Env = append(os.Environ(), backendChildEnv+"="+addr)
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

// kill kills the child with SIGKILL, as a replica that crashes dies, and
// waits for it.
func (b *backendApart) kill() error {
	if err := b.cmd.Process.Kill(); err != nil {
		return err
	}
	b.in.Close()
	err := b.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		return nil
	}
	return errors.Join(fmt.Errorf("backend process: after SIGKILL: %w", err), childErr("backend process", b.stderr.String()))
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
	addr, ok := os.LookupEnv(backendChildEnv)
	if !ok {
		return 0, false
	}
	if err := runBackendChild(addr, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1, true
	}
	return 0, true
}

func runBackendChild(addr string, stdin io.Reader, stdout io.Writer) error {
	s, err := newBackend()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
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
