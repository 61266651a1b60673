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
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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
