package native

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSocketReadv reads a unix socket with readv: the bytes fill the
// buffers in order, a read returns what arrived, a read deadline holds, and
// the peer's close is io.EOF.
func TestSocketReadv(t *testing.T) {
	a, b := unixPair(t)
	v := newReadv(b)
	if v == nil {
		t.Fatal("newReadv of a unix socket is nil")
	}
	if _, err := a.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	x, y, z := make([]byte, 3), make([]byte, 4), make([]byte, 100)
	n, err := v.readVec([][]byte{x, y, z})
	if err != nil || n != 10 || string(x) != "012" || string(y) != "3456" || string(z[:3]) != "789" {
		t.Fatalf("readVec = %d, %v: %q %q %q", n, err, x, y, z[:3])
	}
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = v.readVec([][]byte{x})
	var op *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &op) || op.Op != "read" {
		t.Fatalf("readVec past the deadline: %v, want a read *net.OpError for the deadline", err)
	}
	b.SetReadDeadline(time.Time{})
	a.Close()
	if _, err := v.readVec([][]byte{x}); err != io.EOF {
		t.Fatalf("readVec after the peer closed: %v, want io.EOF", err)
	}
	if newReadv(struct{ io.Reader }{b}) != nil {
		t.Fatal("newReadv of a reader that is not a socket is not nil")
	}
}

// TestSocketTryWrite writes a unix socket without waiting: until it is
// full, then less than asked with no error, then on once the peer read;
// after the peer closed, a write *net.OpError.
func TestSocketTryWrite(t *testing.T) {
	a, b := unixPair(t)
	w := newTryWriter(a)
	if w == nil {
		t.Fatal("newTryWriter of a unix socket is nil")
	}
	chunk := make([]byte, 64<<10)
	total := 0
	for {
		n, err := w.tryWrite(chunk)
		if err != nil {
			t.Fatalf("tryWrite after %d bytes: %v", total, err)
		}
		total += n
		if n < len(chunk) {
			break // full
		}
		if total > 64<<20 {
			t.Fatal("the socket took 64 MiB without filling up")
		}
	}
	if n, err := w.tryWrite(chunk); n != 0 || err != nil {
		t.Fatalf("tryWrite on a full socket = %d, %v; want 0, nil", n, err)
	}
	if _, err := io.ReadFull(b, make([]byte, total)); err != nil {
		t.Fatal(err)
	}
	if n, err := w.tryWrite([]byte("more")); n != 4 || err != nil {
		t.Fatalf("tryWrite once read = %d, %v; want 4, nil", n, err)
	}
	b.Close()
	var op *net.OpError
	var err error
	for range 3 { // the first write after the close may still succeed
		if _, err = w.tryWrite([]byte("x")); err != nil {
			break
		}
	}
	if !errors.As(err, &op) || op.Op != "write" {
		t.Fatalf("tryWrite after the peer closed: %v, want a write *net.OpError", err)
	}
}

// unixPair returns the two ends of a unix socket connection, closed when
// the test ends.
func unixPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}
