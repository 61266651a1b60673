package gateway

import (
	"net/http"
	"strings"

	"google.golang.org/grpc"
)

// OnePort returns the handler of a single listener that serves both faces:
// a gRPC request (IsGRPCRequest) goes to grpcSrv.ServeHTTP, every other
// request to rest (the REST front door, and whatever else the listener
// serves). The dispatch is per request, not per connection, so an HTTP/2
// connection may carry both: a browser that negotiated h2 over TLS, or a
// proxy that pools its connections to the gateway.
//
// Serve it from an http.Server whose Protocols include HTTP/2 over TLS
// (ALPN "h2") and, for plaintext, unencrypted HTTP/2 (h2c with prior
// knowledge, which gRPC clients speak):
//
//	p := new(http.Protocols)
//	p.SetHTTP1(true)
//	p.SetHTTP2(true)
//	p.SetUnencryptedHTTP2(true)
//	srv := &http.Server{Handler: gateway.OnePort(g.NewGRPCServer(), rest), Protocols: p}
//
// gRPC then runs on net/http's HTTP/2 server rather than grpc-go's own
// transport, and the options of grpcSrv that belong to that transport do
// not apply: the http.Server's own bound them instead (MaxHeaderBytes for
// grpc.MaxHeaderListSize, HTTP2.MaxConcurrentStreams for
// grpc.MaxConcurrentStreams, IdleTimeout for keepalive's
// MaxConnectionIdle); interceptors and grpc.MaxRecvMsgSize still do.
//
// To stop, call the http.Server's Shutdown first: it refuses new streams
// and waits for the gRPC calls in flight, as for any request. Only then
// stop grpcSrv: its GracefulStop and Stop cancel the calls ServeHTTP is
// serving at once.
func OnePort(grpcSrv *grpc.Server, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsGRPCRequest(r) {
			grpcSrv.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

// IsGRPCRequest reports whether r is a gRPC call: a POST over HTTP/2 whose
// Content-Type is application/grpc, alone or with a codec
// (application/grpc+proto) or parameters, as grpc-go's ServeHTTP accepts
// it (case-sensitively). gRPC-Web (application/grpc-web) is not: grpc-go
// does not serve it.
func IsGRPCRequest(r *http.Request) bool {
	if r.ProtoMajor != 2 || r.Method != http.MethodPost {
		return false
	}
	rest, ok := strings.CutPrefix(r.Header.Get("Content-Type"), "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}
