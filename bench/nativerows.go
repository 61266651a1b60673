package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
	"github.com/framegate/framegate/native"
)

// native streams: a handler returns a reader of pre-filled memory (the same
// source the raw rows copy from); native sends it as 1 MiB DATA frames.

func init() {
	register(contender{name: "native/unix", unit: "GiB/s", order: 110,
		run: func(r *round) (float64, error) { return nativeStream(r, "unix", false) }})
	register(contender{name: "native/unix/io.Copy", unit: "GiB/s", order: 111,
		run: func(r *round) (float64, error) { return nativeStream(r, "unix", true) }})
	register(contender{name: "native/tcp", unit: "GiB/s", order: 210,
		run: func(r *round) (float64, error) { return nativeStream(r, "tcp", false) }})
	register(contender{name: "native/pipe", unit: "GiB/s", order: 300,
		run: func(r *round) (float64, error) { return nativeStream(r, "pipe", false) }})

	registerRatio(ratio{name: "native/raw unix", num: "native/unix", den: "raw/unix", target: atLeast(0.90)})
	registerRatio(ratio{name: "native io.Copy/raw unix", num: "native/unix/io.Copy", den: "raw/unix"})
	registerRatio(ratio{name: "native/raw tcp", num: "native/tcp", den: "raw/tcp", target: atLeast(0.85)})
	registerRatio(ratio{name: "native/raw-split tcp", num: "native/tcp", den: "raw/tcp/split"})
	registerTarget("native/unix allocs", atMost(1))
	registerTarget("native/tcp allocs", atMost(1))
}

// streamRequest asks Bench.Stream for n bytes.
type streamRequest struct {
	N int64 `json:"n"`
}

// fileRequest asks Bench.File for the file at Path.
type fileRequest struct {
	Path string `json:"path"`
}

// newNativeServer returns a server with the benchmark's endpoints.
func newNativeServer(opts ...native.Option) (*native.Server, error) {
	s := native.NewServer(opts...)
	err := errors.Join(
		s.Register("Bench.Stream", func(ctx context.Context, req *streamRequest, body *io.Reader) error {
			*body = &benchkit.PatternReader{Pattern: pattern, Left: req.N}
			return nil
		}, native.Safe()),
		s.Register("Bench.File", func(req *fileRequest, body *io.Reader) error {
			f, err := os.Open(req.Path)
			*body = f
			return err
		}, native.Safe()),
		s.Register("Bench.Watch", benchWatch, native.Safe()),
		s.Register("Bench.Echo", func(ctx context.Context, req *EchoMsg, resp *EchoMsg) error {
			*resp = *req
			return nil
		}, native.Safe()),
		s.Register("Bench.Sink", func(ctx context.Context, body io.Reader, resp *streamRequest) error {
			n, err := io.Copy(io.Discard, body)
			resp.N = n
			return err
		}),
	)
	return s, err
}

// nativeSession is a server and one client connected over a transport.
type nativeSession struct {
	srv    *native.Server
	client *native.Client
	addr   string // "tcp" only: for more clients (Pool)
	served chan error
}

// startNative connects a client to a new server with the benchmark's
// endpoints over transport: "unix" (a socketpair, ServeConn), "tcp" (a
// loopback listener, Serve and Dial) or "pipe" (net.Pipe, ServeConn).
func startNative(transport string) (*nativeSession, error) {
	srv, err := newNativeServer()
	if err != nil {
		return nil, err
	}
	return startNativeOn(srv, transport)
}

// startNativeOn connects a client with opts to srv over transport, as
// startNative.
func startNativeOn(srv *native.Server, transport string, opts ...native.Option) (*nativeSession, error) {
	var err error
	ns := &nativeSession{srv: srv, served: make(chan error, 1)}
	var cconn net.Conn
	switch transport {
	case "unix", "pipe":
		var a, b net.Conn
		if transport == "unix" {
			if a, b, err = socketPair(); err != nil {
				return nil, err
			}
		} else {
			a, b = net.Pipe()
		}
		go func() { ns.served <- srv.ServeConn(a) }()
		cconn = b
	case "tcp":
		l, err := listenTCP()
		if err != nil {
			return nil, err
		}
		ns.addr = l.Addr().String()
		go func() { ns.served <- srv.Serve(l) }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ns.client, err = native.Dial(ctx, "tcp", ns.addr, opts...)
		if err != nil {
			srv.Close()
			return nil, err
		}
		return ns, nil
	default:
		return nil, fmt.Errorf("unknown transport %q", transport)
	}
	ns.client, err = native.NewClient(cconn, opts...)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return ns, nil
}

// close closes the client, shuts the server down and waits for it.
func (ns *nativeSession) close() error {
	var errs []error
	if ns.client != nil {
		errs = append(errs, ns.client.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs = append(errs, ns.srv.Shutdown(ctx))
	select {
	case err := <-ns.served:
		if err != nil && !errors.Is(err, native.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	case <-ctx.Done():
		errs = append(errs, errors.New("server did not stop within 10s"))
	}
	return errors.Join(errs...)
}

// nativeGet streams n bytes from Bench.Stream and reads them: with io.Copy
// into io.Discard (the stream's WriteTo, its own pooled 1 MiB buffer) or
// with Read into buf, as the raw rows do.
func nativeGet(c native.Caller, n int64, buf []byte, useCopy bool) error {
	var rc io.ReadCloser
	if err := c.Call(context.Background(), "Bench.Stream", &streamRequest{N: n}, &rc); err != nil {
		return err
	}
	defer rc.Close()
	if useCopy {
		got, err := io.Copy(io.Discard, rc)
		if err == nil && got != n {
			err = fmt.Errorf("stream carried %d bytes, want %d", got, n)
		}
		return err
	}
	return readToEOF(rc, n, buf)
}

func nativeStream(r *round, transport string, useCopy bool) (float64, error) {
	ns, err := startNative(transport)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, chunk)
	v, err := r.transfer(func(n int64) error { return nativeGet(ns.client, n, buf, useCopy) })
	return v, errors.Join(err, ns.close())
}
