package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/framegate/framegate/gateway"
)

// One-port rows (issue 16): the unary gateway row with gRPC and REST on a
// single loopback listener, two ways, beside unary/gateway-grpc/N (gRPC on
// a listener of its own, grpc-go's transport):
//
//	unary/gateway-oneport/N  one http.Server (HTTP/1.1 and h2c), gRPC
//	                         requests handed to grpc.Server.ServeHTTP by
//	                         gateway.OnePort: what gw serve -addr does
//	unary/gateway-sniff/N    connection sniffing, as soheilhy/cmux does: a
//	                         connection that opens with the HTTP/2 preface
//	                         goes to grpc.Server.Serve (grpc-go's own
//	                         transport), any other to the http.Server
//
// Sniffing keeps grpc-go's transport but routes whole connections, so it
// cannot serve an HTTP/2 connection that carries REST requests (curl
// --http2-prior-knowledge, a browser over TLS with ALPN h2, a proxy that
// pools connections): grpc-go answers those 415. It is measured here only,
// as the price of that correctness.

// onePortMode says how startGatewayWith serves gRPC and REST.
type onePortMode int

const (
	separatePorts onePortMode = iota // a listener for each
	onePortHTTP                      // gateway.OnePort on one http.Server
	onePortSniff                     // sniffListener in front of both servers
)

func init() {
	for i, callers := range []int{1, 16} {
		for j, m := range []struct {
			name string
			mode onePortMode
		}{{"gateway-oneport", onePortHTTP}, {"gateway-sniff", onePortSniff}} {
			name := fmt.Sprintf("unary/%s/%d", m.name, callers)
			register(contender{name: name, unit: "calls/s", order: 516 + 2*j + i,
				run: func(r *round) (float64, error) {
					return gatewayUnary(r, callers, gatewaySetup{server: grpcDefaults, client: grpcDefaults, onePort: m.mode})
				}})
			registerRatio(ratio{name: fmt.Sprintf("unary %s/gateway-grpc %d", m.name, callers), num: name, den: fmt.Sprintf("unary/gateway-grpc/%d", callers)})
		}
	}
}

// serveGateway starts serving gs.gsrv and rest on the listeners that mode
// needs, and returns the address of the gRPC one and of the HTTP one
// (the same address with one port).
func (gs *gatewaySession) serveGateway(mode onePortMode, rest http.Handler) (grpcAddr, httpAddr string, err error) {
	gl, err := listenTCP()
	if err != nil {
		return "", "", err
	}
	switch mode {
	case separatePorts:
		hl, err := listenTCP()
		if err != nil {
			gl.Close()
			return "", "", err
		}
		gs.hsrv = &http.Server{Handler: rest, ReadHeaderTimeout: 10 * time.Second}
		gs.goServe(func() error { return gs.gsrv.Serve(gl) }, func() error { return gs.hsrv.Serve(hl) })
		return gl.Addr().String(), hl.Addr().String(), nil
	case onePortHTTP:
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		gs.hsrv = &http.Server{Handler: gateway.OnePort(gs.gsrv, rest), Protocols: p, ReadHeaderTimeout: 10 * time.Second}
		gs.goServe(func() error { return gs.hsrv.Serve(gl) })
	case onePortSniff:
		sl := newSniffListener(gl)
		gs.hsrv = &http.Server{Handler: rest, ReadHeaderTimeout: 10 * time.Second}
		gs.goServe(func() error { return gs.gsrv.Serve(sl.h2) }, func() error { return gs.hsrv.Serve(sl.other) }, sl.run)
	}
	return gl.Addr().String(), gl.Addr().String(), nil
}

// goServe runs each serve function in a goroutine of its own; close waits
// for them all.
func (gs *gatewaySession) goServe(fns ...func() error) {
	gs.served = make(chan error, len(fns))
	for _, fn := range fns {
		go func() { gs.served <- fn() }()
	}
}

// h2Preface opens every HTTP/2 connection (RFC 9113 section 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffListener accepts from l and hands each connection to h2 if it opens
// with the HTTP/2 preface, to other if not, with the bytes it read put
// back. Each connection is read in a goroutine of its own, so a silent one
// holds up no other. Closing both listeners closes l.
type sniffListener struct {
	l         net.Listener
	h2, other *shimListener
}

func newSniffListener(l net.Listener) *sniffListener {
	s := &sniffListener{l: l}
	var once sync.Once
	stop := func() { once.Do(func() { l.Close() }) }
	s.h2, s.other = newShimListener(l.Addr(), stop), newShimListener(l.Addr(), stop)
	return s
}

// run accepts connections until l is closed.
func (s *sniffListener) run() error {
	for {
		c, err := s.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.sniff(c)
	}
}

func (s *sniffListener) sniff(c net.Conn) {
	buf := make([]byte, len(h2Preface))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.ReadFull(c, buf)
	c.SetReadDeadline(time.Time{})
	to := s.other
	if err == nil && bytes.Equal(buf, []byte(h2Preface)) {
		to = s.h2
	} else if n == 0 {
		c.Close()
		return
	}
	to.deliver(&replayConn{Conn: c, head: buf[:n]})
}

// replayConn is a connection whose first bytes were read already: it
// returns them before reading on.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// shimListener is a net.Listener whose connections are delivered to it.
type shimListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	closed func() // called at Close
}

func newShimListener(addr net.Addr, closed func()) *shimListener {
	return &shimListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{}), closed: closed}
}

func (l *shimListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *shimListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *shimListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.closed()
	})
	return nil
}

func (l *shimListener) Addr() net.Addr { return l.addr }
