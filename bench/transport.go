package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
)

// chunk is the buffer size of every bulk row: raw copies, native frames
// (its default DATA payload) and the larger gRPC message.
const chunk = 1 << 20

// pattern is the pre-filled memory every stream is served from.
var pattern = func() []byte {
	b := make([]byte, chunk)
	r := rand.NewChaCha8([32]byte{'f', 'r', 'a', 'm', 'e', 'g', 'a', 't', 'e'})
	r.Read(b)
	return b
}()

// writerOnly and readerOnly hide ReadFrom and WriteTo, so io.CopyBuffer uses
// the buffer it is given (net.TCPConn would splice, io.Discard would use its
// own 8 KiB buffers).
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// readN reads exactly n bytes from r with buf, like io.CopyBuffer into a
// writer that discards.
func readN(r io.Reader, n int64, buf []byte) error {
	for n > 0 {
		m, err := r.Read(buf[:min(int64(len(buf)), n)])
		n -= int64(m)
		if err != nil {
			if n > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if n == 0 && err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

// readToEOF reads r to io.EOF with buf and checks it carried want bytes.
func readToEOF(r io.Reader, want int64, buf []byte) error {
	var got int64
	for {
		m, err := r.Read(buf)
		got += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if got != want {
		return fmt.Errorf("stream carried %d bytes, want %d", got, want)
	}
	return nil
}

// socketPair returns the two ends of a unix stream socketpair as net.Conns.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	a, err := fdConn(fds[0], "socketpair-0")
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	b, err := fdConn(fds[1], "socketpair-1")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// fdConn makes a net.Conn of fd (net.FileConn dups it; the original is
// closed).
func fdConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return net.FileConn(f)
}

// listenTCP listens on an ephemeral loopback port.
func listenTCP() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// tcpPair returns the dialling and the accepted end of a loopback TCP
// connection.
func tcpPair() (net.Conn, net.Conn, error) {
	l, err := listenTCP()
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	d, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		d.Close()
		return nil, nil, r.err
	}
	return d, r.c, nil
}

// oneConnListener is a net.Listener that hands out one connection (one end
// of a socketpair), then blocks until closed: a gRPC server serves a
// socketpair through it.
type oneConnListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), done: make(chan struct{}), addr: c.LocalAddr()}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }

// oneShotDialer returns c on its first call and fails afterwards.
func oneShotDialer(c net.Conn) func() (net.Conn, error) {
	var mu sync.Mutex
	return func() (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		if c == nil {
			return nil, errors.New("socketpair already used")
		}
		cc := c
		c = nil
		return cc, nil
	}
}
