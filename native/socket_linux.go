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

// socketVec reads a socket into several buffers with one readv(2), or
// writes several buffers to it with one writev(2), waiting in the netpoller
// as the socket's Read and Write do (their deadlines hold). It keeps its
// iovecs and callback, so a call allocates nothing.
type socketVec struct {
	conn  net.Conn // for errors, as its Read and Write report them
	rc    syscall.RawConn
	sysno uintptr // SYS_READV or SYS_WRITEV
	iov   []syscall.Iovec
	src   vecSource // if set, gives the buffers anew at each attempt
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// newSocketVec returns a socketVec of rwc's socket making the system call
// sysno, or nil if rwc is not a socket.
func newSocketVec(rwc any, sysno uintptr) *socketVec {
	rc, ok := socketOf(rwc)
	if !ok {
		return nil
	}
	s := &socketVec{conn: rwc.(net.Conn), rc: rc, sysno: sysno}
	s.fn = s.call
	return s
}

// newReadv returns a vectored reader of rwc's socket, or nil if rwc is not
// a socket.
func newReadv(rwc io.Reader) vecReader {
	if s := newSocketVec(rwc, syscall.SYS_READV); s != nil {
		return (*socketReadv)(s)
	}
	return nil
}

// newWritev returns a vectored writer of rwc's socket, or nil if rwc is
// not a socket.
func newWritev(rwc io.Writer) vecWriter {
	if s := newSocketVec(rwc, syscall.SYS_WRITEV); s != nil {
		return (*socketWritev)(s)
	}
	return nil
}

func (s *socketVec) call(fd uintptr) bool {
	if s.src != nil {
		if s.setIovecs(s.src.vecs()); len(s.iov) == 0 {
			return true
		}
	}
	for {
		r, _, e := syscall.Syscall(s.sysno, fd, uintptr(unsafe.Pointer(&s.iov[0])), uintptr(len(s.iov)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until ready
		}
		s.n, s.errno = int(r), e
		return true
	}
}

// setIovecs points the iovecs at bufs' non-empty buffers (maxIovecs at
// most).
func (s *socketVec) setIovecs(bufs [][]byte) {
	s.iov = s.iov[:0]
	for _, b := range bufs {
		if len(b) > 0 && len(s.iov) < maxIovecs {
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			s.iov = append(s.iov, v)
		}
	}
}

// do makes the system call on bufs' non-empty buffers, or on src's as they
// are at each attempt if src is set, through wait (the RawConn's Read or
// Write), and returns its count or its error, as an *net.OpError of op.
func (s *socketVec) do(bufs [][]byte, src vecSource, wait func(func(uintptr) bool) error, op string) (int, error) {
	if src == nil {
		if s.setIovecs(bufs); len(s.iov) == 0 {
			return 0, nil
		}
	}
	s.src, s.n, s.errno = src, 0, 0
	err := wait(s.fn)
	clear(s.iov) // the buffers are the caller's again
	s.src = nil
	if err == nil && s.errno != 0 {
		err = os.NewSyscallError(op+"v", s.errno)
	}
	if err != nil {
		la := s.conn.LocalAddr()
		return 0, &net.OpError{Op: op, Net: la.Network(), Source: la, Addr: s.conn.RemoteAddr(), Err: err}
	}
	return s.n, nil
}

// maxIovecs is the most buffers one readv(2) or writev(2) takes here
// (Linux's IOV_MAX is 1024).
const maxIovecs = 1024

// socketReadv is a socketVec making readv(2).
type socketReadv socketVec

// readVec reads into bufs in order, as one read: it returns when at least
// one byte arrived, like Read. A closed peer is io.EOF; other errors are
// *net.OpError, as from Read.
func (s *socketReadv) readVec(bufs [][]byte) (int, error) {
	n, err := (*socketVec)(s).do(bufs, nil, s.rc.Read, "read")
	if err == nil && n == 0 && len(s.iov) > 0 { // read, not all empty
		return 0, io.EOF
	}
	return n, err
}

// socketWritev is a socketVec making writev(2).
type socketWritev socketVec

// writeFrom writes src's buffers in order, as one write: it returns once at
// least one byte went, as much as the socket took. The buffers are the
// ones src gives when the socket has room: a wait for room may change
// them. Errors are *net.OpError, as from Write.
func (s *socketWritev) writeFrom(src vecSource) (int, error) {
	return (*socketVec)(s).do(nil, src, s.rc.Write, "write")
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
