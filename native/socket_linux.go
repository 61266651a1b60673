package native

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socketOf returns the raw socket of a TCP or unix stream transport, which
// can take sendfile(2) and readv(2).
func socketOf(rwc any) (syscall.RawConn, bool) {
	switch rwc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil, false
	}
	rc, err := rwc.(syscall.Conn).SyscallConn()
	return rc, err == nil
}

// socketReadv reads a socket into several buffers with one readv(2),
// waiting in the netpoller as the socket's Read does (its read deadline
// holds). It keeps its iovecs and callback, so a read allocates nothing.
type socketReadv struct {
	conn  net.Conn // for errors, as its Read reports them
	rc    syscall.RawConn
	iov   [3]syscall.Iovec
	k     int
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// newReadv returns a vectored reader of rwc's socket, or nil if rwc is not
// a socket.
func newReadv(rwc io.Reader) vecReader {
	rc, ok := socketOf(rwc)
	if !ok {
		return nil
	}
	s := &socketReadv{conn: rwc.(net.Conn), rc: rc}
	s.fn = s.read
	return s
}

func (s *socketReadv) read(fd uintptr) bool {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_READV, fd, uintptr(unsafe.Pointer(&s.iov[0])), uintptr(s.k))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until readable
		}
		s.n, s.errno = int(r), e
		return true
	}
}

// readVec reads into bufs in order, as one read: it returns when at least
// one byte arrived, like Read. A closed peer is io.EOF; other errors are
// *net.OpError, as from Read.
func (s *socketReadv) readVec(bufs [][]byte) (int, error) {
	s.k = 0
	for _, b := range bufs {
		if len(b) > 0 && s.k < len(s.iov) {
			s.iov[s.k].Base = &b[0]
			s.iov[s.k].SetLen(len(b))
			s.k++
		}
	}
	if s.k == 0 {
		return 0, nil
	}
	s.n, s.errno = 0, 0
	err := s.rc.Read(s.fn)
	clear(s.iov[:]) // the buffers are the caller's again
	switch {
	case err != nil:
	case s.errno != 0:
		err = os.NewSyscallError("readv", s.errno)
	case s.n == 0:
		return 0, io.EOF
	default:
		return s.n, nil
	}
	la := s.conn.LocalAddr()
	return 0, &net.OpError{Op: "read", Net: la.Network(), Source: la, Addr: s.conn.RemoteAddr(), Err: err}
}

// socketTryWrite writes to a socket with one write(2) that never waits for
// room.
type socketTryWrite struct {
	conn  net.Conn // for errors, as its Write reports them
	rc    syscall.RawConn
	b     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// newTryWriter returns a writer of rwc's socket that never waits, or nil
// if rwc is not a socket.
func newTryWriter(rwc io.Writer) tryWriter {
	rc, ok := socketOf(rwc)
	if !ok {
		return nil
	}
	s := &socketTryWrite{conn: rwc.(net.Conn), rc: rc}
	s.fn = s.write
	return s
}

func (s *socketTryWrite) write(fd uintptr) bool {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.b[0])), uintptr(len(s.b)))
		switch e {
		case syscall.EINTR:
			continue
		case 0:
			s.n = int(r)
		case syscall.EAGAIN:
		default:
			s.errno = e
		}
		return true // never wait
	}
}

// tryWrite writes as much of b as the socket takes now: n < len(b) with a
// nil error says it is full. Errors are *net.OpError, as from Write.
func (s *socketTryWrite) tryWrite(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.b, s.n, s.errno = b, 0, 0
	err := s.rc.Write(s.fn)
	s.b = nil
	if err == nil && s.errno != 0 {
		err = os.NewSyscallError("write", s.errno)
	}
	if err != nil {
		la := s.conn.LocalAddr()
		return s.n, &net.OpError{Op: "write", Net: la.Network(), Source: la, Addr: s.conn.RemoteAddr(), Err: err}
	}
	return s.n, nil
}
