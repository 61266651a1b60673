package gateway

// Connect and gRPC-Web on the HTTP face. Browsers cannot speak gRPC
// (they cannot read HTTP trailers or send over HTTP/2 frames), so
// connect-web and grpc-web clients, and buf curl, speak these two
// protocols instead, at the gRPC paths /<pkg>.<Service>/<Method>:
//
//	gRPC-Web    POST, Content-Type application/grpc-web[+proto|+json], or
//	            application/grpc-web-text[+proto] (the same, in base64:
//	            grpcwebtext.go); unary and server streams (and, for
//	            clients other than browsers, client streams)
//	Connect     POST, Content-Type application/connect+proto or +json:
//	            server and client streams (bidi needs HTTP/2)
//	            POST with the header Connect-Protocol-Version: 1 and
//	            Content-Type application/proto or application/json: unary
//	            GET with ?connect=v1&encoding=...&message=...: unary, for
//	            endpoints declared safe only
//
// A REST call is a POST of application/json to the same path: the header
// Connect-Protocol-Version (or ?connect=v1 on a GET) is what makes a request
// a Connect call. Connect clients (connect-go, connect-web, buf curl) send
// it; this gateway requires it (connect.WithRequireConnectProtocolHeader),
// so the two never mix.
//
// connect-go serves both protocols. Each method gets a connect.Handler
// built from its runtime descriptor (connect.WithSchema), with codecs of
// the gateway's own (webcodec.go) that keep the bytes connect-go receives
// for webStream, a grpc.ServerStream over connect-go's connection: the call
// is then served by serveGRPC, the code that serves gRPC, with the same
// request checks, metadata allowlist, stream chunking and error mapping.
// The handlers belong to the descriptor set they were built from
// (protoSet.web): when the gateway mounts a new schema, the next call uses
// the new set's.
//
// (connectrpc.com/vanguard transcodes these protocols too, but only in
// front of a handler that already speaks one of them: here that would be
// grpc.Server.ServeHTTP, measured 2-3x slower than grpc-go's own transport
// (oneport.go), and every message would be transcoded twice.)

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/internal/clip"
)

// The protocols WebRPCProtocol names, as CallEvent.Protocol says them.
const (
	ProtocolConnect = "connect"
	ProtocolGRPCWeb = "grpc-web"
)

// WebRPCProtocol reports whether r is a Connect or gRPC-Web call, and which
// ("connect", "grpc-web"), or "" for any other request (REST among them).
func WebRPCProtocol(r *http.Request) string {
	switch r.Method {
	case http.MethodPost:
		ct := r.Header.Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "application/grpc-web"):
			return ProtocolGRPCWeb
		case strings.HasPrefix(ct, "application/connect+"), r.Header.Get("Connect-Protocol-Version") != "":
			return ProtocolConnect
		}
	case http.MethodGet:
		if strings.Contains(r.URL.RawQuery, "connect=") && r.URL.Query().Get("connect") != "" {
			return ProtocolConnect
		}
	}
	return ""
}

// isGRPCWebText reports whether a gRPC-Web call is in the text (base64)
// form.
func isGRPCWebText(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc-web-text")
}

// webErrors writes errors in the Connect and gRPC-Web formats; it
// classifies requests as the handlers do.
var webErrors = connect.NewErrorWriter(connect.WithRequireConnectProtocolHeader())

// WriteStatus answers r with err, a gRPC status error (other errors are
// mapped as the gateway maps a backend's): in the format of the Connect or
// gRPC-Web protocol when r is such a call (WebRPCProtocol), else as
// grpc-gateway's status JSON with the HTTP status of its code. Middleware
// that refuses calls before the gateway sees them (a token check, a call
// limit) answers with it, so that every client can read the refusal.
func WriteStatus(w http.ResponseWriter, r *http.Request, err error) {
	st := grpcStatus(err)
	writeStatus(w, r, runtime.HTTPStatusFromCode(st.Code()), st.Err())
}

// writeWebStatus writes err in r's protocol, a Connect or gRPC-Web call.
func writeWebStatus(w http.ResponseWriter, r *http.Request, err error) {
	if isGRPCWebText(r) {
		tw, tr := newGRPCWebText(w, r)
		defer tw.close()
		w, r = tw, tr
	}
	_ = webErrors.Write(w, r, webError(err, nil))
}

// webError is err as connect-go's error, with the status message alone
// (connect-go adds no prefix on the wire) and md as its metadata.
func webError(err error, md metadata.MD) *connect.Error {
	st := grpcStatus(err)
	ce := connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	setWebMetadata(ce.Meta(), md)
	return ce
}

// webRPC wraps next, the REST handler, so that Connect and gRPC-Web calls
// go to the method's connect-go handler instead.
func (g *Gateway) webRPC(next http.Handler) http.Handler {
	static := g.newWebStatic()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if WebRPCProtocol(r) == "" {
			next.ServeHTTP(w, r)
			return
		}
		set := g.set.Load()
		m := set.lookup(r.URL.Path)
		h := static[r.URL.Path]
		switch {
		case m != nil:
			if r.Method == http.MethodGet && !m.endpoint.Safe {
				writeWebStatus(w, r, status.Errorf(codes.Unimplemented,
					"gateway: endpoint %q is not declared safe (read-only), so a Connect GET cannot reach it; use POST", m.endpoint.Name))
				return
			}
			h = set.webHandler(g, m)
		case h == nil:
			writeWebStatus(w, r, status.Errorf(codes.Unimplemented, "gateway: unknown method %s", clip.Quote(r.URL.Path)))
			return
		}
		stoppableBody(w, r, g.cfg.bodyTimeout)
		if pb, ok := r.Body.(*progressBody); ok {
			// connect-go reports a body cut by its timeout as the
			// connection's end: serveWeb says what happened; and a bidi
			// call stops the body before it returns (webStream.stopRecv).
			r = r.WithContext(context.WithValue(r.Context(), progressKey{}, pb))
		}
		// connect-go flushes each message of a stream through
		// http.Flusher, which wrappers (the CORS one, tracing's) need not
		// implement.
		w = flushWriter{w}
		if isGRPCWebText(r) {
			tw, tr := newGRPCWebText(w, r)
			defer tw.close()
			w, r = tw, tr
		}
		h.ServeHTTP(w, r)
	})
}

// progressKey is the context key of a Connect or gRPC-Web call's
// progressBody.
type progressKey struct{}

// flushWriter flushes through http.ResponseController, which finds the
// Flush of the writers under w's wrappers.
type flushWriter struct{ http.ResponseWriter }

func (w flushWriter) Flush()                      { _ = http.NewResponseController(w.ResponseWriter).Flush() }
func (w flushWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
func (w flushWriter) FlushError() error           { return http.NewResponseController(w.ResponseWriter).Flush() }
func (w flushWriter) SetReadDeadline(t time.Time) error {
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(t)
}

// webHandler returns the connect-go handler of m, one of p's methods,
// building those of every method on first use.
func (p *protoSet) webHandler(g *Gateway, m *method) http.Handler {
	p.webOnce.Do(func() {
		p.web = make(map[string]http.Handler, len(p.methods))
		for path, m := range p.methods {
			p.web[path] = g.newWebHandler(m)
		}
	})
	return p.web[m.fullMethod]
}

// newWebHandler returns the connect-go handler of m: of its stream type,
// reading messages of at most the JSON body limit, with the gateway's
// codecs, and taking Connect GET when m is safe.
func (g *Gateway) newWebHandler(m *method) http.Handler {
	opts := []connect.HandlerOption{
		connect.WithSchema(m.desc),
		connect.WithRequireConnectProtocolHeader(),
		connect.WithReadMaxBytes(int(min(g.cfg.maxJSON, 1<<31-1))),
		connect.WithCompressMinBytes(1 << 10),
	}
	opts = append(opts, webCodecs...)
	if !g.cfg.compress {
		opts = append(opts, connect.WithCompression("gzip", nil, nil))
	}
	if m.endpoint.Safe {
		opts = append(opts, connect.WithIdempotency(connect.IdempotencyNoSideEffects))
	}
	switch {
	case m.clientStreaming && m.serverStreaming:
		return connect.NewBidiStreamHandler(m.fullMethod, func(ctx context.Context, s *connect.BidiStream[webIn, webOut]) error {
			ws := &webStream{recv: s.Conn(), send: s.Conn()}
			return g.serveWeb(ctx, m, ws, s.RequestHeader(), s.Peer().Protocol)
		}, opts...)
	case m.clientStreaming:
		return connect.NewClientStreamHandler(m.fullMethod, func(ctx context.Context, s *connect.ClientStream[webIn]) (*connect.Response[webOut], error) {
			ws := &webStream{recv: s.Conn()}
			return ws.response(g.serveWeb(ctx, m, ws, s.RequestHeader(), s.Peer().Protocol))
		}, opts...)
	case m.serverStreaming:
		return connect.NewServerStreamHandler(m.fullMethod, func(ctx context.Context, req *connect.Request[webIn], s *connect.ServerStream[webOut]) error {
			ws := &webStream{first: req.Msg, send: s.Conn()}
			return g.serveWeb(ctx, m, ws, req.Header(), req.Peer().Protocol)
		}, opts...)
	default:
		return connect.NewUnaryHandler(m.fullMethod, func(ctx context.Context, req *connect.Request[webIn]) (*connect.Response[webOut], error) {
			ws := &webStream{first: req.Msg}
			return ws.response(g.serveWeb(ctx, m, ws, req.Header(), req.Peer().Protocol))
		}, opts...)
	}
}

// serveWeb serves a Connect or gRPC-Web call of m as serveGRPC serves a
// gRPC one, with the allowed request headers as its metadata, and reports
// it to the call observer.
func (g *Gateway) serveWeb(ctx context.Context, m *method, ws *webStream, h http.Header, protocol string) error {
	start := time.Now()
	ws.ctx = metadata.NewIncomingContext(ctx, g.webMetadata(h))
	ws.body, _ = ctx.Value(progressKey{}).(*progressBody)
	if protocol == connect.ProtocolGRPCWeb {
		protocol = ProtocolGRPCWeb
	}
	ev := CallEvent{Endpoint: m.endpoint.Name, Protocol: protocol}
	err := g.serveGRPC(ws, m, &ev, ws.binary(h))
	if pb, ok := ctx.Value(progressKey{}).(*progressBody); ok && err != nil && pb.stalled.Load() {
		err = errBodyStalled(pb.d)
	}
	if g.cfg.observe != nil {
		ev.Duration, ev.Code, ev.Err = time.Since(start), uint32(grpcStatus(err).Code()), err
		g.cfg.observe(ev)
	}
	if err == nil {
		return nil
	}
	// A stream's trailer is in the response already; a unary call's
	// metadata goes with its error.
	var md metadata.MD
	if ws.send == nil {
		md = metadata.Join(ws.hdr, ws.trl)
	}
	return webError(err, md)
}

// webMetadata is the request metadata of a Connect or gRPC-Web call: the
// headers the allowlist passes, lower case, with the values of "-bin" keys
// decoded from base64 as gRPC's are.
func (g *Gateway) webMetadata(h http.Header) metadata.MD {
	var md metadata.MD
	for k, vs := range h {
		k = strings.ToLower(k)
		if !g.cfg.allowed(k) {
			continue
		}
		if md == nil {
			md = metadata.MD{}
		}
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				b, err := connect.DecodeBinaryHeader(v)
				if err != nil {
					continue
				}
				v = string(b)
			}
			md[k] = append(md[k], v)
		}
	}
	return md
}

// setWebMetadata adds gRPC metadata to HTTP headers (or a Connect error's
// metadata), the values of "-bin" keys in base64.
func setWebMetadata(h http.Header, md metadata.MD) {
	for k, vs := range md {
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = connect.EncodeBinaryHeader([]byte(v))
			}
			h.Add(k, v)
		}
	}
}

// The reflection methods the HTTP face serves over Connect and gRPC-Web,
// so that buf curl, which reflects in the protocol it calls with, finds
// the schema on the same URL. They are bidi streams: over Connect and
// gRPC-Web alike, connect-go serves them over HTTP/2 only.
const (
	webReflectV1      = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	webReflectV1alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
)

// webStaticServices are the services of the HTTP face that are not the
// backend's, as server reflection lists them.
func webStaticServices() map[string]grpc.ServiceInfo {
	out := map[string]grpc.ServiceInfo{}
	for _, path := range []string{webReflectV1, webReflectV1alpha} {
		svc, meth, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		out[svc] = grpc.ServiceInfo{Methods: []grpc.MethodInfo{{Name: meth, IsClientStream: true, IsServerStream: true}}}
	}
	return out
}

// newWebStatic returns the handlers of the HTTP face's own Connect and
// gRPC-Web methods: server reflection v1 and v1alpha, seeing the services
// mounted at the time of each request.
func (g *Gateway) newWebStatic() map[string]http.Handler {
	opts := (&reflectionSource{g: g}).options()
	v1, v1alpha := reflection.NewServerV1(opts), reflection.NewServer(opts)
	return map[string]http.Handler{
		webReflectV1: connect.NewBidiStreamHandler(webReflectV1, func(ctx context.Context, s *connect.BidiStream[webIn, webOut]) error {
			ws := &webStream{ctx: ctx, recv: s.Conn(), send: s.Conn()}
			return webErrorOrNil(v1.ServerReflectionInfo(&grpc.GenericServerStream[reflectionv1.ServerReflectionRequest, reflectionv1.ServerReflectionResponse]{ServerStream: ws}))
		}, webCodecs...),
		webReflectV1alpha: connect.NewBidiStreamHandler(webReflectV1alpha, func(ctx context.Context, s *connect.BidiStream[webIn, webOut]) error {
			ws := &webStream{ctx: ctx, recv: s.Conn(), send: s.Conn()}
			return webErrorOrNil(v1alpha.ServerReflectionInfo(&grpc.GenericServerStream[reflectionv1alpha.ServerReflectionRequest, reflectionv1alpha.ServerReflectionResponse]{ServerStream: ws}))
		}, webCodecs...),
	}
}

// webErrorOrNil is webError(err, nil), or nil without an error.
func webErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return webError(err, nil)
}
