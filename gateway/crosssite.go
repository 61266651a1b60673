package gateway

// This file keeps other web sites out of the HTTP face: cross-site request
// forgery (a page that makes the visitor's browser send a request that
// changes state), CORS for the origins the operator allows, and DNS
// rebinding (a page whose own name resolves to the gateway's address).

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/internal/clip"
)

// WithCORSOrigins lists the web origins ("https://app.example.com") whose
// pages may call the gateway from a browser: their cross-origin requests
// are let through, their preflights are answered with the methods and
// headers each endpoint allows, and their responses expose Grpc-Status,
// Grpc-Message and the metadata headers. "*" allows every origin (for a
// gateway that needs a token anyway). Requests from other origins that
// could change state are refused with 403.
func WithCORSOrigins(origins ...string) Option {
	return optionFunc(func(c *config) { c.corsOrigins = append(c.corsOrigins, origins...) })
}

// corsMaxAge is how long a browser may cache a preflight answer.
const corsMaxAge = 10 * 60

// crossSite is the HTTP face's guard against other web sites.
type crossSite struct {
	g       *Gateway
	origins []string
	any     bool // "*" is among origins
	cop     *http.CrossOriginProtection
	next    http.Handler
}

// guardCrossSite wraps next, the REST handler, with the cross-site checks
// and CORS.
func (g *Gateway) guardCrossSite(next http.Handler) http.Handler {
	cs := &crossSite{g: g, next: next, cop: http.NewCrossOriginProtection()}
	for _, o := range g.cfg.corsOrigins {
		if o == "*" {
			cs.any = true
			continue
		}
		o = strings.TrimSuffix(o, "/")
		cs.origins = append(cs.origins, o)
		// WithCORSOrigins checked the form; a bad one is refused there.
		_ = cs.cop.AddTrustedOrigin(o)
	}
	cs.cop.SetDenyHandler(http.HandlerFunc(cs.denyOrigin))
	return cs
}

// checkCORSOrigins says what is wrong with an origin WithCORSOrigins got.
func checkCORSOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			continue
		}
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(strings.TrimSuffix(o, "/")); err != nil {
			return fmt.Errorf("gateway: CORS origin %s: want scheme://host[:port] with nothing after it, or *", clip.Quote(o))
		}
	}
	return nil
}

// allowedOrigin reports whether the operator allows origin's pages.
func (cs *crossSite) allowedOrigin(origin string) bool {
	return origin != "" && (cs.any || slices.Contains(cs.origins, origin))
}

func (cs *crossSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if r.Method == http.MethodOptions {
		cs.options(w, r, origin)
		return
	}
	// With "*" every origin is trusted: CrossOriginProtection has no
	// wildcard of its own.
	if !cs.any {
		if err := cs.cop.Check(asStateChanging(r)); err != nil {
			cs.denyOrigin(w, r)
			return
		}
	}
	if cs.allowedOrigin(origin) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		w = &exposeWriter{ResponseWriter: w, all: WebRPCProtocol(r) != ""}
	}
	cs.next.ServeHTTP(w, r)
}

// asStateChanging returns r, or for a WebSocket handshake r as a POST: a
// handshake is a GET, which CrossOriginProtection lets through as safe,
// but browsers send it to any site without a preflight, and the calls it
// opens change state. As a POST it passes from the gateway's own origin
// (Sec-Fetch-Site, or Origin against Host), from the origins
// WithCORSOrigins allows, and from clients other than browsers (no
// Origin).
func asStateChanging(r *http.Request) *http.Request {
	if !isWebSocket(r) {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Method = http.MethodPost
	return r2
}

// denyOrigin answers a cross-origin request that could change state, from
// an origin the operator did not allow.
func (cs *crossSite) denyOrigin(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	what := "a cross-site request"
	if origin != "" {
		what = "a request from origin " + clip.Quote(origin)
	}
	writeStatus(w, r, http.StatusForbidden, status.Errorf(codes.PermissionDenied,
		"gateway: %s may change state, and that origin is not allowed; to allow its pages, start the gateway with -cors-origin %s (gateway.WithCORSOrigins)",
		what, clip.Text(originOrPlaceholder(origin), clip.Max)))
}

func originOrPlaceholder(origin string) string {
	if origin == "" || origin == "null" {
		return "https://the.page.example"
	}
	return origin
}

// options answers OPTIONS: a CORS preflight, or the plain question of
// which methods a path takes.
func (cs *crossSite) options(w http.ResponseWriter, r *http.Request, origin string) {
	allow := cs.methodsOf(r.URL.Path)
	h := w.Header()
	h.Set("Allow", strings.Join(append(allow, http.MethodOptions), ", "))
	reqMethod := r.Header.Get("Access-Control-Request-Method")
	if origin == "" || reqMethod == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !cs.allowedOrigin(origin) {
		writeStatus(w, r, http.StatusForbidden, status.Errorf(codes.PermissionDenied,
			"gateway: origin %s is not allowed to call this gateway from a browser; to allow it, start the gateway with -cors-origin %s (gateway.WithCORSOrigins)",
			clip.Quote(origin), clip.Text(origin, clip.Max)))
		return
	}
	var headers []string
	for _, name := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if name = strings.TrimSpace(strings.ToLower(name)); name != "" && cs.headerAllowed(name) {
			headers = append(headers, name)
		}
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(allow, ", "))
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	w.WriteHeader(http.StatusNoContent)
}

// methodsOf is what a path takes: an endpoint's allowed methods, GET and
// HEAD for the gateway's own documents.
func (cs *crossSite) methodsOf(path string) []string {
	if m := cs.g.set.Load().lookup(path); m != nil {
		return allowedMethods(m)
	}
	return []string{http.MethodGet, http.MethodHead}
}

// headerAllowed reports whether a page may send request header name
// (lower case): the ones the HTTP face reads, and metadata the gateway
// passes to the backend.
func (cs *crossSite) headerAllowed(name string) bool {
	switch name {
	case "content-type", "authorization", "grpc-timeout", "range", "if-range", "last-event-id",
		"if-none-match", "if-modified-since", "if-match", "if-unmodified-since":
		return true
	case "connect-protocol-version", "connect-timeout-ms", "connect-content-encoding", "connect-accept-encoding",
		"grpc-encoding", "grpc-accept-encoding", "x-grpc-web", "x-user-agent":
		return true // Connect and gRPC-Web (webrpc.go)
	}
	return cs.g.cfg.allowed(name)
}

// exposedHeaders are the headers a page of an allowed origin may read,
// besides the metadata headers.
var exposedHeaders = []string{"Grpc-Status", "Grpc-Message", "Content-Length", "Content-Range", "Content-Disposition", "Etag", "Last-Modified", "Accept-Ranges"}

// exposeWriter names, when the response's header is written, the headers
// a page may read: Grpc-Status, Grpc-Message, the metadata headers and the
// ones that describe a download; for a Connect or gRPC-Web call (all),
// every header of the response, since its metadata has no prefix.
type exposeWriter struct {
	http.ResponseWriter
	all   bool
	wrote bool
}

func (w *exposeWriter) expose() {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.Header()
	var md []string
	for k := range h {
		if strings.HasPrefix(k, "Grpc-Metadata-") || w.all && !slices.Contains(exposedHeaders, k) && !strings.HasPrefix(k, "Access-Control-") && k != "Vary" {
			md = append(md, k)
		}
	}
	slices.Sort(md)
	h.Set("Access-Control-Expose-Headers", strings.Join(append(exposedHeaders, md...), ", "))
}

func (w *exposeWriter) WriteHeader(code int) {
	w.expose()
	w.ResponseWriter.WriteHeader(code)
}

func (w *exposeWriter) Write(p []byte) (int, error) {
	w.expose()
	return w.ResponseWriter.Write(p)
}

// FlushError exposes the headers before a flush writes them (a gRPC-Web
// error without a body is all headers).
func (w *exposeWriter) FlushError() error {
	w.expose()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// Hijack, deadlines).
func (w *exposeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// jsonContentType reports whether a Content-Type names JSON:
// application/json or a type with a +json suffix, with any parameters.
func jsonContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// HostCheck wraps h so that it answers only requests whose Host is one of
// the server's names: an IP address, localhost (or a name under it), or
// one of names (compared without case and port). A page on another site
// whose name the attacker points at the server's address (DNS rebinding)
// then cannot read from it. Use it when nothing else (a bearer token, a
// client certificate) keeps such pages out.
func HostCheck(h http.Handler, names ...string) http.Handler {
	allowed := make(map[string]bool, len(names))
	for _, n := range names {
		allowed[strings.ToLower(strings.TrimSuffix(n, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hn, _, err := net.SplitHostPort(host); err == nil {
			host = hn
		}
		host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
		if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") || allowed[host] {
			h.ServeHTTP(w, r)
			return
		}
		writeStatus(w, r, http.StatusForbidden, status.Errorf(codes.PermissionDenied,
			"gateway: host %s is not one of this server's names; to serve it, start the gateway with -allowed-host %s (or require a token)",
			clip.Quote(host), clip.Text(host, clip.Max)))
	})
}

// writeStatus writes err as grpc-gateway's status JSON with HTTP status
// code, outside the REST handler's mux; a Connect or gRPC-Web call gets it
// in its own protocol's format, whose status follows from err's code.
func writeStatus(w http.ResponseWriter, r *http.Request, code int, err error) {
	if WebRPCProtocol(r) != "" {
		writeWebStatus(w, r, err)
		return
	}
	_, out := runtime.MarshalerForRequest(statusMux, r)
	runtime.HTTPError(context.Background(), statusMux, out, w, r,
		&runtime.HTTPStatusError{HTTPStatus: code, Err: err})
}

// statusMux is the mux writeStatus gives grpc-gateway's error writer: its
// default marshaler writes statuses as the REST handler's does.
var statusMux = runtime.NewServeMux()
