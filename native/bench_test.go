package native_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// Benchmarks of the bulk path and of small calls. One op of a Stream
// benchmark is one MiB of a single stream of b.N MiB, so allocs/op is
// allocations per streamed MiB (also reported as allocs/MiB, measured around
// the whole stream including its call). No timing is asserted anywhere; `make
// bench` (./bench) compares these paths with raw sockets and grpc-go.

const benchMiB = 1 << 20

// benchSource yields n bytes of a pre-filled 1 MiB buffer: the copy in Read
// is the one any io.Reader source costs.
type benchSource struct {
	buf  []byte
	left int64
	off  int
}

func (s *benchSource) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n := copy(p, s.buf[s.off:])
	s.off = (s.off + n) % len(s.buf)
	s.left -= int64(n)
	return n, nil
}

type benchStreamReq struct {
	N int64 `json:"n"`
}

type benchEcho struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Size  int64    `json:"size"`
	Owner string   `json:"owner"`
}

func benchServer(b *testing.B) *native.Server {
	b.Helper()
	pattern := make([]byte, benchMiB)
	for i := range pattern {
		pattern[i] = byte(i * 7)
	}
	s := native.NewServer()
	if err := errors.Join(
		s.Register("Bench.Stream", func(ctx context.Context, req *benchStreamReq, body *io.Reader) error {
			*body = &benchSource{buf: pattern, left: req.N}
			return nil
		}),
		s.Register("Bench.Echo", func(ctx context.Context, req *benchEcho, resp *benchEcho) error {
			*resp = *req
			return nil
		}),
	); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchConnect serves s on one end of conn pair (a, c) and returns a client
// on the other; cleanup closes both and waits for the server.
func benchConnect(b *testing.B, s *native.Server, a, c net.Conn) *native.Client {
	b.Helper()
	served := make(chan error, 1)
	go func() { served <- s.ServeConn(a) }()
	client, err := native.NewClient(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := client.Close(); err != nil {
			b.Error(err)
		}
		if err := <-served; err != nil {
			b.Error(err)
		}
	})
	return client
}

func benchSocketPair(b *testing.B) (net.Conn, net.Conn) {
	b.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), fmt.Sprintf("socketpair-%d", i))
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return conns[0], conns[1]
}

func benchTCPPair(b *testing.B) (net.Conn, net.Conn) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		b.Fatal("accept failed")
	}
	return a, c
}

// benchStream streams b.N MiB in one call and reads it with Read into a
// 1 MiB buffer, as a caller copying to its own sink would.
func benchStream(b *testing.B, pair func(*testing.B) (net.Conn, net.Conn)) {
	a, c := pair(b)
	client := benchConnect(b, benchServer(b), a, c)
	buf := make([]byte, benchMiB)
	// Warm up the connection and the buffer pools.
	if err := benchGet(client, 4*benchMiB, buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchMiB)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	if err := benchGet(client, int64(b.N)*benchMiB, buf); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/MiB")
}

func benchGet(c *native.Client, n int64, buf []byte) error {
	var rc io.ReadCloser
	if err := c.Call(context.Background(), "Bench.Stream", &benchStreamReq{N: n}, &rc); err != nil {
		return err
	}
	defer rc.Close()
	var got int64
	for {
		m, err := rc.Read(buf)
		got += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if got != n {
		return fmt.Errorf("stream carried %d bytes, want %d", got, n)
	}
	return nil
}

func BenchmarkStreamUnix(b *testing.B) { benchStream(b, benchSocketPair) }
func BenchmarkStreamTCP(b *testing.B)  { benchStream(b, benchTCPPair) }
func BenchmarkStreamPipe(b *testing.B) {
	benchStream(b, func(*testing.B) (net.Conn, net.Conn) { return net.Pipe() })
}

// BenchmarkUnaryTCP is one ~100-byte JSON call answered with itself.
func BenchmarkUnaryTCP(b *testing.B) {
	a, c := benchTCPPair(b)
	client := benchConnect(b, benchServer(b), a, c)
	req := &benchEcho{ID: 1234567, Name: "reports/2026/q3-summary.pdf", Tags: []string{"finance", "quarterly"}, Size: 1048576, Owner: "alice"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		var resp benchEcho
		if err := client.Call(ctx, "Bench.Echo", req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessagesTCP is a server stream of ~100-byte JSON messages: one
// op is one message of a stream of b.N.
func BenchmarkMessagesTCP(b *testing.B) {
	a, c := benchTCPPair(b)
	s := benchServer(b)
	msg := &benchEcho{ID: 1234567, Name: "reports/2026/q3-summary.pdf", Tags: []string{"finance", "quarterly"}, Size: 1048576, Owner: "alice"}
	if err := s.Register("Bench.Watch", func(req *benchStreamReq, out *native.Sender[benchEcho]) error {
		for range req.N {
			if err := out.Send(msg); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	client := benchConnect(b, s, a, c)
	b.ReportAllocs()
	var rx native.Receiver[benchEcho]
	if err := client.Call(context.Background(), "Bench.Watch", &benchStreamReq{N: int64(b.N)}, &rx); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := rx.Recv(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := rx.Recv(); err != io.EOF {
		b.Fatal(err)
	}
}
