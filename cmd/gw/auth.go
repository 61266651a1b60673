package main

// The optional bearer-token check of gw serve (-auth-token-file). Every
// gRPC call but the health checks must carry the metadata
// "authorization: Bearer TOKEN", every HTTP request but GET /healthz (and
// GET /metrics unless -auth-metrics) the header "Authorization: Bearer
// TOKEN" (or, from a browser, the token where authbrowser.go says). Tokens are compared as SHA-256 digests in constant time, against
// every token of the file, so neither the length nor the position of a
// match shows in the time a check takes. No token is ever logged.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/gateway"
)

// The errors of a call without a valid token. They never quote what the
// client sent.
var (
	errMissingToken = status.Error(codes.Unauthenticated, "gw: missing bearer token")
	errInvalidToken = status.Error(codes.Unauthenticated, "gw: invalid bearer token")
)

// tokenAuth checks bearer tokens against the digests of the valid ones,
// which a reload replaces (replace) while calls are checked.
type tokenAuth struct {
	digests atomic.Pointer[[][sha256.Size]byte]
}

// count is the number of valid tokens.
func (a *tokenAuth) count() int { return len(*a.digests.Load()) }

// replace makes b's tokens the valid ones.
func (a *tokenAuth) replace(b *tokenAuth) { a.digests.Store(b.digests.Load()) }

// minTokenLen is the shortest token a token file may hold: 16 bytes, far
// below the 44 characters of the base64 of 32 random bytes.
const minTokenLen = 16

// loadTokens reads a token file: one token per line; blank lines, lines
// that begin with # and the whitespace around a token are ignored. A file
// without a token, a token shorter than minTokenLen and a file that the
// group or others may write (anyone who can add a line can let themselves
// in) are errors, as ssh refuses such an authorized_keys; a file that
// others may read is logged as a warning. The errors name the file and the
// line, never a token.
func loadTokens(file string, log *slog.Logger) (*tokenAuth, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("gw: -auth-token-file: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat() // of the file read below, not of what the name points at later
	if err != nil {
		return nil, fmt.Errorf("gw: -auth-token-file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return nil, fmt.Errorf("gw: -auth-token-file %s: the group or others may write it (mode %04o): chmod go-w %s", file, perm, file)
	} else if perm&0o004 != 0 {
		log.Warn("gw: -auth-token-file: others may read the tokens; chmod o-r the file", "file", file, "mode", fmt.Sprintf("%04o", perm))
	}
	data, err := io.ReadAll(fh)
	if err != nil {
		return nil, fmt.Errorf("gw: -auth-token-file: %w", err)
	}
	a, err := parseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("gw: -auth-token-file %s: %w", file, err)
	}
	return a, nil
}

func parseTokens(data []byte) (*tokenAuth, error) {
	var digests [][sha256.Size]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		tok := bytes.TrimSpace(line)
		if len(tok) == 0 || tok[0] == '#' {
			continue
		}
		for _, c := range tok {
			// What an HTTP header and gRPC metadata can both carry
			// after "Bearer ".
			if c <= ' ' || c > '~' {
				return nil, fmt.Errorf("line %d: a token must be printable ASCII without spaces", i+1)
			}
		}
		if len(tok) < minTokenLen {
			return nil, fmt.Errorf("line %d: a token of %d bytes is too short: want at least %d (head -c 32 /dev/urandom | base64 makes one)", i+1, len(tok), minTokenLen)
		}
		digests = append(digests, sha256.Sum256(tok))
	}
	if len(digests) == 0 {
		return nil, fmt.Errorf("no token in the file (one per line)")
	}
	a := &tokenAuth{}
	a.digests.Store(&digests)
	return a, nil
}

// check checks the values of the authorization header or metadata: there
// must be exactly one, "Bearer TOKEN" (the scheme in any case) with a valid
// TOKEN. It returns errMissingToken or errInvalidToken.
func (a *tokenAuth) check(values []string) error {
	if len(values) == 0 {
		return errMissingToken
	}
	if len(values) > 1 {
		return errInvalidToken
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errMissingToken
	}
	return a.checkToken(tok)
}

// checkToken checks a token: errInvalidToken unless it is one of the valid
// ones.
func (a *tokenAuth) checkToken(tok string) error {
	d := sha256.Sum256([]byte(tok))
	ok := 0
	for _, v := range *a.digests.Load() {
		ok |= subtle.ConstantTimeCompare(d[:], v[:])
	}
	if ok != 1 {
		return errInvalidToken
	}
	return nil
}

// healthMethods are the gRPC methods served without a token and outside
// the call limit: grpc.health.v1.Health (Check, List, Watch), for probes.
var healthMethods = func() map[string]bool {
	m := map[string]bool{}
	sd := healthpb.Health_ServiceDesc
	for _, md := range sd.Methods {
		m["/"+sd.ServiceName+"/"+md.MethodName] = true
	}
	for _, st := range sd.Streams {
		m["/"+sd.ServiceName+"/"+st.StreamName] = true
	}
	return m
}()

// grpcCheck checks the token of a gRPC call.
func (a *tokenAuth) grpcCheck(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	return a.check(md.Get("authorization"))
}

// authUnary is the unary interceptor of the token check: the static
// services (GatewayService, Health/Check).
func (a *tokenAuth) authUnary(refused func(method, reason string)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !healthMethods[info.FullMethod] {
			if err := a.grpcCheck(ctx); err != nil {
				refused(info.FullMethod, reasonOf(err))
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// authStream is the stream interceptor of the token check: every native
// endpoint (served through grpc.UnknownServiceHandler, which passes
// through stream interceptors only), reflection and Health/Watch.
func (a *tokenAuth) authStream(refused func(method, reason string)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !healthMethods[info.FullMethod] {
			if err := a.grpcCheck(ss.Context()); err != nil {
				refused(info.FullMethod, reasonOf(err))
				return err
			}
		}
		return handler(srv, ss)
	}
}

// reasonOf names a refusal in logs and metrics.
func reasonOf(err error) string {
	switch err {
	case errMissingToken:
		return "missing_token"
	case errInvalidToken:
		return "invalid_token"
	}
	return "limit"
}

// requireToken wraps an HTTP handler with the token check (from the
// Authorization header, or where a browser can put a token:
// authbrowser.go): a request without a valid token gets 401, a WWW-Authenticate challenge and
// grpc-gateway's status JSON ({"code":16,"message":...}); a Connect or
// gRPC-Web call gets the refusal in its protocol's own format
// (gateway.WriteStatus).
func (a *tokenAuth) requireToken(next http.Handler, refused func(path, reason string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := errMissingToken
		if values := r.Header.Values("Authorization"); len(values) > 0 {
			err = a.check(values)
		} else if tok, found, next := browserToken(r); found {
			err, r = a.checkToken(tok), next
		}
		if err != nil {
			refused(r.URL.Path, reasonOf(err))
			challenge := "Bearer"
			if err == errInvalidToken {
				challenge = `Bearer error="invalid_token"`
			}
			gateway.WriteStatus(challengeWriter{w, challenge}, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// challengeWriter sets the WWW-Authenticate header just before the status
// is written: grpc-gateway's error handler sets it to the status message,
// which is not a challenge.
type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (w challengeWriter) WriteHeader(code int) {
	w.Header().Set("WWW-Authenticate", w.challenge)
	w.ResponseWriter.WriteHeader(code)
}

// warnUnprotected warns, when tokens are required, about a listener where
// they would not protect much: a gRPC or HTTP listener (faces; nil ones
// are skipped) reachable from the
// network without TLS (the tokens cross it in clear text), and a native
// listener reachable from the network without client certificates (it
// takes no token at all).
func (s *server) warnUnprotected(withTLS bool, faces ...net.Listener) {
	if s.guard.auth == nil {
		return
	}
	for _, l := range faces {
		if !withTLS && l != nil && !localListener(l) {
			s.log.Warn("gw: bearer tokens without TLS: they cross the network in clear text; set -tls-cert and -tls-key")
			break
		}
	}
	if s.nativeL != nil && !localListener(s.nativeL) && !(s.f.nativeTLS && s.f.clientCA != "") {
		s.log.Warn("gw: the native listener takes no bearer token: protect it with -native-tls and -client-ca, bind it to a loopback address or a unix socket, or set -native-addr ''",
			"addr", addrString(s.nativeL))
	}
}

// localListener reports whether l is a unix socket or listens on a
// loopback address only.
func localListener(l net.Listener) bool {
	switch a := l.Addr().(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	}
	return false
}
