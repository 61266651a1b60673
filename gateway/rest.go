package gateway

// The REST front door. Every native endpoint answers at
// /<pkg>.<Service>/<Method>, the same path as its gRPC method:
//
//	POST with a JSON body (the endpoint's JSON field names)   -> the JSON response
//	GET with the request fields as query parameters           -> the same
//	a response stream is sent raw as it arrives (application/octet-stream
//	unless the handler set content-type), ended by a Grpc-Status trailer
//	a request stream is read from the request body as it arrives (PUT or
//	POST); for JSON+stream endpoints the JSON fields come from the query
//	a response stream of messages is newline-delimited JSON, or SSE
//	(restmessages.go); any stream of messages is also reachable over a
//	WebSocket at the same path (restws.go)
//
// Routing goes through one catch-all pattern of grpc-gateway's ServeMux (its
// routes cannot change while it serves), which looks the method up in the
// current descriptor set; errors are grpc-gateway's status JSON with the
// HTTP status from runtime.HTTPStatusFromCode.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
	"github.com/framegate/framegate/native"

	"github.com/framegate/framegate/internal/bufpool"
	"github.com/framegate/framegate/internal/clip"
)

// DefaultMaxJSONBody is the largest JSON request body the REST front door
// reads unless WithMaxJSONBody says otherwise.
const DefaultMaxJSONBody = 32 << 20

// HTTPHandler returns the REST front door: every native endpoint at
// POST, PUT and GET /<pkg>.<Service>/<Method>, and at the same paths the
// Connect and gRPC-Web protocols (webrpc.go), the gateway's own API at
// GET /v1/endpoints, /v1/endpoints/{name} and /v1/descriptors (a binary
// FileDescriptorSet, see Descriptors), and GET /openapi.json. An
// unknown path answers 404 with a JSON status body. JSON answers are
// compressed for clients that ask, unless WithCompression(false)
// (compress.go).
func (g *Gateway) HTTPHandler() http.Handler {
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(func(k string) (string, bool) {
			k = strings.ToLower(k)
			return k, g.cfg.allowed(k)
		}),
		runtime.WithOutgoingHeaderMatcher(func(k string) (string, bool) { return "Grpc-Metadata-" + k, true }),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
			routingError(g, ctx, mux, m, w, r, httpStatus)
		}),
	)
	rest := &restServer{g: g, mux: mux}
	// grpc-gateway tries the most recently added pattern first: the
	// catch-all goes first so the static routes win over it. serve
	// answers 405 for a method the endpoint does not take.
	for _, meth := range []string{http.MethodPost, http.MethodPut, http.MethodGet, http.MethodHead} {
		if err := mux.HandlePath(meth, "/{service}/{method}", rest.serve); err != nil {
			panic(err)
		}
	}
	if err := gatewayv1.RegisterGatewayServiceHandlerServer(context.Background(), mux, &apiServer{g: g}); err != nil {
		panic(err)
	}
	if err := mux.HandlePath(http.MethodGet, "/openapi.json", g.serveOpenAPI); err != nil {
		panic(err)
	}
	if err := mux.HandlePath(http.MethodGet, "/v1/descriptors", g.serveDescriptors); err != nil {
		panic(err)
	}
	// HEAD of the gateway's own documents is their GET: net/http sends
	// no body for a HEAD request whatever the handler writes.
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && g.set.Load().lookup(r.URL.Path) == nil {
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		mux.ServeHTTP(w, r)
	})
	if g.cfg.compress {
		// Inside the cross-site guard: its refusals and preflights
		// are short or empty. A WebSocket handshake is never
		// compressed: gzhttp would hold its 101 back.
		plain, compressed := h, compressHandler(h)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isWebSocket(r) {
				plain.ServeHTTP(w, r)
				return
			}
			compressed.ServeHTTP(w, r)
		})
	}
	// Connect and gRPC-Web calls compress each message themselves.
	h = g.webRPC(h)
	return g.guardCrossSite(h)
}

// routingError answers a request no route takes: 404, or 405 with an Allow
// header for a path that exists with other methods (grpc-gateway's default
// answers 501 there).
func routingError(g *Gateway, ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		allow := []string{http.MethodGet, http.MethodHead}
		if md := g.set.Load().lookup(r.URL.Path); md != nil {
			allow = allowedMethods(md)
		} else if strings.Count(r.URL.Path, "/") == 2 && r.URL.Path != "/openapi.json" {
			allow = []string{http.MethodPost} // an endpoint that does not exist (yet)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus,
			Err: status.Errorf(codes.Unimplemented, "gateway: method %s not allowed on %s; use %s", clip.Text(r.Method, clip.Max), clip.Text(r.URL.Path, 256), strings.Join(allow, ", "))})
	default:
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
	}
}

// allowedMethods are the HTTP methods that reach endpoint m: POST always,
// PUT for uploads (a request stream), and GET and HEAD only when it is
// safe, since browsers, crawlers, prefetchers and proxies send those
// freely. A stream of messages has no HEAD (its header says nothing the
// stream does not), and one the client sends takes only a WebSocket: GET
// with Upgrade, which serve takes before it asks this.
func allowedMethods(m *method) []string {
	if m.reqMsg != nil {
		return []string{http.MethodGet}
	}
	var allow []string
	if m.endpoint.Safe {
		allow = append(allow, http.MethodGet)
		if m.respMsg == nil {
			allow = append(allow, http.MethodHead)
		}
	}
	allow = append(allow, http.MethodPost)
	if m.clientStreaming && m.respMsg == nil {
		allow = append(allow, http.MethodPut)
	}
	return allow
}

// methodRefused answers 405 to a request whose method endpoint m does not
// take, saying why; it reports whether it did.
func (s *restServer) methodRefused(w http.ResponseWriter, r *http.Request, m *method) bool {
	allow := allowedMethods(m)
	if slices.Contains(allow, r.Method) {
		return false
	}
	why := "does not take " + clip.Text(r.Method, clip.Max)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		why = "is not declared safe (read-only), so " + r.Method + " cannot reach it"
	case http.MethodPut:
		why = "takes no request stream, so PUT cannot reach it"
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.restError(r.Context(), w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed,
		Err: status.Errorf(codes.Unimplemented, "gateway: endpoint %q %s; use %s", m.endpoint.Name, why, strings.Join(allow, ", "))})
	return true
}

type restServer struct {
	g   *Gateway
	mux *runtime.ServeMux
}

// restError writes err as grpc-gateway's status JSON. A message that is
// not valid UTF-8 (it may quote the request) is made valid: protojson
// refuses to write it, and the client would get a 500 instead.
func (s *restServer) restError(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	_, out := runtime.MarshalerForRequest(s.mux, r)
	werr := validUTF8(grpcStatus(err)).Err()
	if d, ok := stalledBody(r); ok {
		werr = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestTimeout, Err: grpcStatus(errBodyStalled(d)).Err()}
	}
	if hs, ok := errors.AsType[*runtime.HTTPStatusError](err); ok {
		werr = &runtime.HTTPStatusError{HTTPStatus: hs.HTTPStatus, Err: werr} // 413 rather than 429
	}
	runtime.HTTPError(ctx, s.mux, out, w, r, werr)
}

// validUTF8 returns st with its message made valid UTF-8 (it may quote a
// request): protojson refuses to write one that is not.
func validUTF8(st *status.Status) *status.Status {
	if msg := st.Message(); !utf8.ValidString(msg) {
		return status.New(st.Code(), strings.ToValidUTF8(msg, "\uFFFD"))
	}
	return st
}

func (s *restServer) serve(w http.ResponseWriter, r *http.Request, params map[string]string) {
	start := time.Now()
	full := "/" + params["service"] + "/" + params["method"]
	m := s.g.set.Load().lookup(full)
	if m == nil {
		s.restError(r.Context(), w, r, status.Errorf(codes.NotFound, "gateway: no endpoint at %s", clip.Quote(full)))
		return
	}
	ev := CallEvent{Endpoint: m.endpoint.Name, Protocol: "http"}
	var err error
	switch {
	case isWebSocket(r):
		ev.Protocol = ProtocolWebSocket
		err = s.serveWebSocket(w, r, m, &ev)
	case m.reqMsg != nil:
		s.upgradeRequired(w, r, m)
		return
	case s.methodRefused(w, r, m):
		return
	default:
		bodyWithTimeout(w, r, s.g.cfg.bodyTimeout)
		err = s.call(w, r, m, full, &ev)
	}
	if s.g.cfg.observe != nil {
		ev.Duration, ev.Code, ev.Err = time.Since(start), uint32(grpcStatus(err).Code()), err
		s.g.cfg.observe(ev)
	}
	if _, ok := err.(streamReset); ok {
		panic(http.ErrAbortHandler) // resets the stream, after the observer saw the call
	}
}

// streamReset is the error of a response stream that broke after it began
// on a connection abortStream cannot take over (HTTP/2): serve resets the
// stream once the call has been observed.
type streamReset struct{ error }

func (e streamReset) Unwrap() error { return e.error }

func (s *restServer) call(w http.ResponseWriter, r *http.Request, m *method, full string, ev *CallEvent) error {
	ctx, err := runtime.AnnotateContext(r.Context(), s.mux, r, m.fullMethod, runtime.WithHTTPPathPattern("/{service}/{method}"))
	if err != nil {
		s.restError(r.Context(), w, r, err)
		return err
	}
	req, body, err := s.request(r, m)
	if err != nil {
		s.restError(ctx, w, r, err)
		return err
	}
	if body != nil {
		defer func() { ev.BytesIn = body.end() }()
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	var hdr, trl native.Metadata
	opts := s.g.callOptions(md, &hdr, &trl)
	if m.respMsg != nil {
		return s.sendMessages(ctx, w, r, m, req, opts, &hdr, &trl, ev)
	}
	if !m.serverStreaming {
		var out json.RawMessage
		if err := s.g.backend.Call(ctx, m.endpoint.Name, req, &out, opts...); err != nil {
			s.restError(withServerMD(ctx, err, &hdr, &trl), w, r, err)
			return err
		}
		setMetadataHeaders(w.Header(), "", hdr)
		setMetadataHeaders(w.Header(), "", trl)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(out)))
		w.WriteHeader(http.StatusOK)
		w.Write(out)
		return nil
	}
	var rc io.ReadCloser
	var info native.StreamInfo
	if err := s.g.backend.Call(ctx, m.endpoint.Name, req, &rc, append(opts, downloadOptions(r, &info)...)...); err != nil {
		werr := err
		if rangeNotSatisfiable(w, r, hdr, err) {
			werr = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestedRangeNotSatisfiable, Err: grpcStatus(err).Err()}
		}
		hdr = withoutStreamKeys(hdr)
		s.restError(withServerMD(ctx, err, &hdr, &trl), w, r, werr)
		return err
	}
	defer rc.Close()
	hdr = withoutStreamKeys(hdr)
	if notModified(r, &info) {
		setMetadataHeaders(w.Header(), "", hdr)
		writeNotModified(w, &info)
		return nil
	}
	started, err := s.sendStream(w, r, rc, hdr, &trl, &info, ev)
	if err != nil && !started {
		s.restError(withServerMD(ctx, err, &hdr, &trl), w, r, err)
	}
	return err
}

// sendStream writes a response stream raw, flushing each chunk as it
// arrives. A complete stream ends with the trailer Grpc-Status: 0 and the
// trailer metadata as Grpc-Metadata-* trailers; an error after the first
// byte aborts the response so the client sees a broken transfer, never a
// clean end. An error before it is returned with started false: nothing
// has been written, and the caller answers it with its HTTP status.
func (s *restServer) sendStream(w http.ResponseWriter, r *http.Request, rc io.Reader, hdr native.Metadata, trl *native.Metadata, info *native.StreamInfo, ev *CallEvent) (started bool, err error) {
	h := w.Header()
	if r.Method == http.MethodHead {
		// A head-only call: the stream carries no bytes.
		setMetadataHeaders(h, "", hdr)
		w.WriteHeader(setDownloadHeaders(h, info, hdr.Get("content-type")))
		return true, nil
	}
	bp := bufpool.Get(s.g.cfg.chunkSize)
	defer bufpool.Put(bp)
	buf := *bp
	n, rerr := rc.Read(buf)
	if n == 0 && rerr != nil && rerr != io.EOF {
		return false, rerr
	}
	s.g.plainStream(h)
	setMetadataHeaders(h, "", hdr)
	code := setDownloadHeaders(h, info, hdr.Get("content-type"))
	if info.Length < 0 {
		// Without a length the end is the chunked terminator, and the
		// trailer says whether the stream was whole. With one, a cut
		// stream is a short body, which HTTP/1.0 clients see too.
		h.Set("Trailer", "Grpc-Status, Grpc-Message")
	}
	w.WriteHeader(code)
	rcl := http.NewResponseController(w)
	for {
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return true, err
			}
			ev.BytesOut += int64(n)
			rcl.Flush()
		}
		if rerr == io.EOF {
			if ev.BytesOut == 0 {
				// An empty stream: a writer that holds the header back
				// until the first write (gzhttp's, compress.go) would
				// send the trailers set below in it too.
				w.Write(nil)
			}
			// Undeclared trailers: net/http sends keys with TrailerPrefix.
			setMetadataHeaders(h, http.TrailerPrefix, *trl)
			h.Set("Grpc-Status", "0")
			return true, nil
		}
		if rerr != nil {
			if !abortStream(r, rcl, grpcStatus(rerr)) {
				return true, streamReset{rerr}
			}
			return true, rerr
		}
		n, rerr = rc.Read(buf)
	}
}

// abortStream ends a response that broke after it began: over HTTP/1.1 it
// writes the chunked terminator with the Grpc-Status and Grpc-Message
// trailers but not the final empty line, then closes the connection, so the
// trailer is on the wire but the transfer is incomplete; where the
// connection cannot be taken over (HTTP/2) it reports false: the caller
// resets the stream. An HTTP/1.0 response is not chunked and ends with the
// connection: it is closed with nothing more written, the one thing it can
// do (the client cannot tell the break from the end).
func abortStream(r *http.Request, rcl *http.ResponseController, st *status.Status) bool {
	rcl.Flush()
	conn, bw, err := rcl.Hijack()
	if err != nil {
		return false
	}
	if r.ProtoAtLeast(1, 1) {
		fmt.Fprintf(bw, "0\r\nGrpc-Status: %d\r\nGrpc-Message: %s\r\n", st.Code(), url.PathEscape(st.Message()))
		bw.Flush()
	}
	conn.Close()
	return true
}

// setMetadataHeaders adds native metadata as Grpc-Metadata-* headers, the
// convention of grpc-gateway; prefix goes before each name
// (http.TrailerPrefix for trailers).
func setMetadataHeaders(h http.Header, prefix string, md native.Metadata) {
	for k, vs := range md {
		if strings.EqualFold(k, "content-type") {
			continue
		}
		for _, v := range vs {
			h.Add(prefix+"Grpc-Metadata-"+k, v)
		}
	}
}

// withServerMD makes native response metadata visible to grpc-gateway's
// error handler, which writes it as headers; none when the call that
// failed with err did not run to its end (see settled).
func withServerMD(ctx context.Context, err error, hdr, trl *native.Metadata) context.Context {
	if !settled(ctx, err) {
		return ctx
	}
	return runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: toGRPCMD(*hdr), TrailerMD: toGRPCMD(*trl)})
}
