package main

// The listeners of gw serve's gRPC and HTTP faces: one each (-grpc-addr,
// -http-addr; the default), or a single one for both (-addr), as a
// Kubernetes Service port or an ingress backend expects.
//
// On the single listener one http.Server speaks HTTP/1.1, HTTP/2 over TLS
// (ALPN "h2") and, in plaintext, HTTP/2 with prior knowledge (h2c; so does
// -http-addr, for Connect's bidi streams), and
// gateway.OnePort hands each gRPC request to grpc.Server.ServeHTTP and the
// rest to the REST front door, /healthz and /metrics. The choice is made
// per request because one HTTP/2 connection may carry both kinds: curl
// --http2-prior-knowledge, a browser that negotiated h2 over TLS, a proxy
// that pools its connections to the gateway.
//
// The other way, sniffing each connection (soheilhy/cmux) and handing
// those that open with the HTTP/2 preface to grpc.Server.Serve, keeps
// grpc-go's own transport, which is faster: bench's unary rows, 5 rounds
// on this 2-core machine, put gRPC through ServeHTTP at 0.48x (0.42-0.57)
// of a listener of its own with 1 caller and 0.33x (0.23-0.33) with 16,
// and the sniffing listener at 1.06x (0.89-1.15) and 1.02x (0.88-1.19)
// (unary/gateway-oneport, unary/gateway-sniff, unary/gateway-grpc).
// But a sniffer routes connections, not requests: REST over h2c goes to
// grpc-go, which answers 415, and so does every REST request on an h2
// connection that began with a gRPC call. Peeking at the first request's
// Content-Type narrows that to the second case without closing it. So
// -addr is correct for every client, and -grpc-addr stays the default and
// the fast path for gRPC.
//
// What the separate listeners do holds on the single one: the token check
// and -max-calls (interceptors and the REST wrapper; gRPC and REST calls
// keep a pool each), -max-conn-streams and -max-header-size (here the
// http.Server's HTTP/2 settings bound the gRPC streams too), TLS with
// -client-ca, and the host check (REST only, as on -http-addr: a gRPC
// call cannot come from a web page). On shutdown the http.Server's
// Shutdown drains the gRPC calls with the REST ones; grpc.Server's
// GracefulStop would cut them (signals.go).

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"

	"github.com/framegate/framegate/gateway"
)

// checkAddrFlags refuses -addr beside -grpc-addr or -http-addr (from the
// command line or the environment): it replaces both.
func checkAddrFlags(c *command, f *serveFlags) error {
	if f.addr == "" {
		return nil
	}
	var err error
	c.fs.Visit(func(fl *flag.Flag) {
		if err == nil && (fl.Name == "grpc-addr" || fl.Name == "http-addr") {
			err = fmt.Errorf("-addr serves gRPC and HTTP on one listener: it cannot go with -%s (or %s)", fl.Name, c.envOf(fl.Name))
		}
	})
	return err
}

// restAddr is the listen address of the REST face.
func (f *serveFlags) restAddr() string {
	if f.addr != "" {
		return f.addr
	}
	return f.httpAddr
}

// listenFaces opens the listeners of the gRPC and HTTP faces: with -addr
// one for both (grpcL is nil), else one each.
func (s *server) listenFaces() (grpcL, httpL net.Listener, err error) {
	if s.f.addr != "" {
		if httpL, err = listen(s.f.addr, nil); err != nil {
			return nil, nil, fmt.Errorf("listener: %w", err)
		}
		return nil, httpL, nil
	}
	if grpcL, err = listen(s.f.grpcAddr, nil); err != nil {
		return nil, nil, fmt.Errorf("gRPC listener: %w", err)
	}
	if httpL, err = listen(s.f.httpAddr, nil); err != nil {
		grpcL.Close()
		return nil, nil, fmt.Errorf("HTTP listener: %w", err)
	}
	return grpcL, httpL, nil
}

// closeFaces closes what listenFaces opened, after a failed start.
func closeFaces(grpcL, httpL net.Listener) {
	if grpcL != nil {
		grpcL.Close()
	}
	httpL.Close()
}

// serveFaces logs the listeners and serves s.grpcSrv and s.httpSrv on
// them; with one listener (grpcL nil) the http.Server serves gRPC too.
func (s *server) serveFaces(grpcL, httpL net.Listener, srvTLS *tls.Config) {
	serveHTTP := func() error {
		if srvTLS != nil {
			return s.httpSrv.ServeTLS(httpL, "", "")
		}
		return s.httpSrv.Serve(httpL)
	}
	// Both kinds of listener speak HTTP/2 without TLS too (h2c with prior
	// knowledge): Connect's bidi streams, server reflection among them
	// (buf curl --http2-prior-knowledge), need HTTP/2.
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true) // over TLS, by ALPN
	p.SetUnencryptedHTTP2(srvTLS == nil)
	s.httpSrv.Protocols = p
	if grpcL == nil {
		s.onePort = true
		s.httpSrv.Handler = gateway.OnePort(s.grpcSrv, s.httpSrv.Handler)
		s.log.Info("listening", "listener", "grpc+http", "addr", addrString(httpL), "tls", srvTLS != nil)
		s.serve(serveHTTP)
		return
	}
	s.log.Info("listening", "listener", "grpc", "addr", addrString(grpcL), "tls", srvTLS != nil)
	s.log.Info("listening", "listener", "http", "addr", addrString(httpL), "tls", srvTLS != nil)
	s.serve(func() error { return s.grpcSrv.Serve(grpcL) })
	s.serve(serveHTTP)
}
