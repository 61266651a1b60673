package main

// In-process tests of the token check: the token file, the check itself,
// the gRPC interceptors on a real grpc.Server built by the gateway (native
// endpoints through grpc.UnknownServiceHandler, the static services,
// health), and the HTTP middleware. The fixture here is shared with
// limits_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/framegate/framegate/gateway"
	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
	"github.com/framegate/framegate/native"
)

const (
	testToken  = "s3cr3t-t0ken-AAAA"
	testToken2 = "second-token-BBBB"
)

// noLeaks checks, when the test and its cleanups are done, that it left no
// goroutine behind. Call it first, so that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// testSecurityFlags parses args as gw serve's security flags.
func testSecurityFlags(t *testing.T, args ...string) securityFlags {
	t.Helper()
	c := newCommand("test", "", "", "")
	var f securityFlags
	c.securityFlags(&f)
	if err := c.parse(args, &stdio{out: io.Discard, err: io.Discard}); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	return f
}

// writeTokens writes a token file and returns its name.
func writeTokens(t *testing.T, content string) string {
	t.Helper()
	return writeTemp(t, "tokens", content)
}

// writeTemp writes a file of its owner only in a new directory and
// returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fixture is a gateway over an in-process native server, with a guard, a
// gRPC server on a loopback port and a client connection to it.
type fixture struct {
	g       *gateway.Gateway
	guard   *guard
	reg     *prometheus.Registry
	conn    *grpc.ClientConn
	addr    string        // of the gRPC server
	entered chan struct{} // a Block.Wait call started
	release chan struct{} // ends the Block.Wait calls
}

// newFixture builds the fixture with the security flags args. Its native
// server has Echo.Say (JSON both ways), Block.Wait (JSON, returns when
// release is closed), Blob.Put (a request stream) and files.v1.Blob.Put (a
// JSON and stream request under a dotted service name).
func newFixture(t *testing.T, args ...string) *fixture {
	t.Helper()
	fl := testSecurityFlags(t, args...)
	fx := &fixture{reg: prometheus.NewRegistry(), entered: make(chan struct{}, 16), release: make(chan struct{})}
	srv := native.NewServer(fl.nativeOptions()...)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.Register("Echo.Say", extraEcho))
	must(srv.Register("Block.Wait", func(ctx context.Context, req *ExtraRequest, resp *ExtraResponse) error {
		fx.entered <- struct{}{}
		select {
		case <-fx.release:
		case <-ctx.Done():
			return ctx.Err()
		}
		resp.Text = req.Text
		return nil
	}))
	putBlob := func(body io.Reader, resp *ExtraResponse) error {
		b, err := io.ReadAll(body)
		resp.Text = string(b)
		return err
	}
	must(srv.Register("Blob.Put", putBlob))
	must(srv.Register("files.v1.Blob.Put", func(req *ExtraRequest, body io.Reader, resp *ExtraResponse) error { return putBlob(body, resp) }))
	var err error
	fx.g, err = gateway.New(context.Background(), gateway.Local(srv), gateway.WithMaxJSONBody(int64(fl.httpMaxBodySize)),
		gateway.WithBodyTimeout(fl.bodyTimeout))
	must(err)
	fx.guard, err = newGuard(&fl, slog.New(slog.DiscardHandler), fx.reg)
	must(err)

	gs := fx.g.NewGRPCServer(fx.guard.grpcOptions()...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		gs.Serve(l)
	}()
	fx.addr = l.Addr().String()
	fx.conn, err = grpc.NewClient(fx.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(err)
	t.Cleanup(func() {
		fx.conn.Close()
		select {
		case <-fx.release:
		default:
			close(fx.release)
		}
		gs.Stop()
		<-served
	})
	return fx
}

// httpHandler is gw serve's HTTP mux over the fixture's gateway.
func (fx *fixture) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "SERVING\n") })
	mux.Handle("GET /metrics", fx.guard.metrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics\n") })))
	mux.Handle("/", fx.guard.rest(fx.g.HTTPHandler()))
	return mux
}

// listServices asks server reflection (v1) for the services.
func (fx *fixture) listServices(ctx context.Context) error {
	refl, err := fx.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	// SendMsg returns io.EOF when the server has already ended the stream
	// (a refused token); RecvMsg then returns the status.
	if err := refl.SendMsg(protowire.AppendString(protowire.AppendTag(nil, 7, protowire.BytesType), "*")); err != nil && err != io.EOF {
		return err
	}
	refl.CloseSend()
	var b []byte
	if err := refl.RecvMsg(&b); err != nil {
		return err
	}
	if !strings.Contains(string(b), "native.Echo") {
		return fmt.Errorf("the services listed lack native.Echo: %q", b)
	}
	return nil
}

// textRequest is ExtraRequest{Text: s} (field 1) in protobuf.
func textRequest(s string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), s)
}

// withToken returns ctx carrying "authorization: Bearer tok" metadata.
func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// echo calls /native.Echo/Say over gRPC.
func (fx *fixture) echo(ctx context.Context, text string) (string, error) {
	var out []byte
	err := fx.conn.Invoke(ctx, "/native.Echo/Say", textRequest(text), &out, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return "", err
	}
	_, _, n := protowire.ConsumeTag(out)
	s, m := protowire.ConsumeString(out[n:])
	if m < 0 {
		return "", errors.New("bad response")
	}
	return s, nil
}

func wantCode(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Errorf("%s: %v; want %v with %q", what, err, code, msg)
	}
}

func TestParseTokens(t *testing.T) {
	a, err := parseTokens([]byte("\n  " + testToken + " \t\r\n\n\t" + testToken2 + "\n   \n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.count() != 2 {
		t.Fatalf("%d tokens; want 2", a.count())
	}
	for _, tc := range []struct{ content, want string }{
		{"", "no token in the file"},
		{"\n \n\t\n", "no token in the file"},
		{testToken2 + "\nwith space-" + testToken + "\n", "line 2: a token must be printable ASCII"},
		// A commented-out token is not a token, and a short one is refused.
		{"#" + testToken + "\n  # " + testToken2 + "\n", "no token in the file"},
		{testToken + "\nshort\n", "line 2: a token of 5 bytes is too short: want at least 16"},
		{"x", "line 1: a token of 1 bytes is too short"},
		{"caf\xc3\xa9-" + testToken, "line 1: a token must be printable ASCII"},
	} {
		_, err := parseTokens([]byte(tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseTokens(%q) = %v; want %q", tc.content, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("the error %q shows the token", err)
		}
	}
	if a, err := parseTokens([]byte("# revoked: " + testToken2 + "\n#" + testToken2 + "\n" + testToken + "\n")); err != nil || a.count() != 1 || a.check([]string{"Bearer #" + testToken2}) == nil {
		t.Errorf("comments must not be tokens: %v", err)
	}
	empty := writeTokens(t, "\n")
	if _, err := loadTokens(empty, slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "gw: -auth-token-file "+empty+": no token") {
		t.Errorf("an empty token file: %v", err)
	}
	if _, err := loadTokens(filepath.Join(t.TempDir(), "missing"), slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "gw: -auth-token-file: ") {
		t.Errorf("a missing token file: %v", err)
	}
}

func TestTokenCheck(t *testing.T) {
	a, err := parseTokens([]byte(testToken + "\n" + testToken2))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values []string
		want   error
	}{
		{[]string{"Bearer " + testToken}, nil},
		{[]string{"Bearer " + testToken2}, nil},
		{[]string{"bearer " + testToken}, nil},
		{[]string{"  BEARER   " + testToken + " "}, nil},
		{nil, errMissingToken},
		{[]string{""}, errMissingToken},
		{[]string{"Bearer"}, errMissingToken},
		{[]string{"Bearer   "}, errMissingToken},
		{[]string{testToken}, errMissingToken},
		{[]string{"Basic " + testToken}, errMissingToken},
		{[]string{"Bearer " + testToken + "x"}, errInvalidToken},
		{[]string{"Bearer " + testToken[:len(testToken)-1]}, errInvalidToken},
		{[]string{"Bearer " + testToken + " " + testToken2}, errInvalidToken},
		{[]string{"Bearer " + testToken, "Bearer " + testToken}, errInvalidToken},
	} {
		if got := a.check(tc.values); got != tc.want {
			t.Errorf("check(%q) = %v; want %v", tc.values, got, tc.want)
		}
	}
}

// The token never reaches a backend: no metadata allowlist entry the
// gateway applies by default admits it.
func TestAuthorizationNotForwarded(t *testing.T) {
	for _, k := range gateway.DefaultMetadataAllowlist {
		if k == "authorization" || strings.HasSuffix(k, "*") && strings.HasPrefix("authorization", strings.TrimSuffix(k, "*")) {
			t.Errorf("gateway.DefaultMetadataAllowlist entry %q passes the authorization metadata to the backend", k)
		}
	}
}

// Every gRPC call needs the token, whichever way it is served: a native
// endpoint (UnknownServiceHandler, stream interceptors), the static
// GatewayService (unary) and reflection (stream); health does not.
func TestGRPCAuth(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-auth-token-file", writeTokens(t, testToken+"\n"+testToken2+"\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := fx.echo(ctx, "hi")
	wantCode(t, "a native endpoint without a token", err, codes.Unauthenticated, "gw: missing bearer token")
	_, err = fx.echo(withToken(ctx, "wrong"), "hi")
	wantCode(t, "a native endpoint with a wrong token", err, codes.Unauthenticated, "gw: invalid bearer token")
	for _, tok := range []string{testToken, testToken2} {
		if got, err := fx.echo(withToken(ctx, tok), "hi"); err != nil || got != "hi" {
			t.Errorf("a native endpoint with a valid token: %q, %v", got, err)
		}
	}

	api := gatewayv1.NewGatewayServiceClient(fx.conn)
	_, err = api.ListEndpoints(ctx, &gatewayv1.ListEndpointsRequest{})
	wantCode(t, "GatewayService without a token", err, codes.Unauthenticated, "gw: missing bearer token")
	if resp, err := api.ListEndpoints(withToken(ctx, testToken), &gatewayv1.ListEndpointsRequest{}); err != nil || len(resp.GetEndpoints()) == 0 {
		t.Errorf("GatewayService with a token: %v, %v", resp, err)
	}

	wantCode(t, "reflection without a token", fx.listServices(ctx), codes.Unauthenticated, "gw: missing bearer token")
	if err := fx.listServices(withToken(ctx, testToken)); err != nil {
		t.Errorf("reflection with a token: %v", err)
	}

	h := healthpb.NewHealthClient(fx.conn)
	if resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Health/Check without a token: %v, %v", resp, err)
	}
	if resp, err := h.List(ctx, &healthpb.HealthListRequest{}); err != nil || len(resp.GetStatuses()) == 0 {
		t.Errorf("Health/List without a token: %v, %v", resp, err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	w, err := h.Watch(wctx, &healthpb.HealthCheckRequest{Service: "native.Echo"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Health/Watch without a token: %v, %v", resp, err)
	}
	wcancel()

	if n := testutilCount(t, fx.reg, "framegate_gateway_refused_total", `listener="grpc"`, `reason="missing_token"`); n != 3 {
		t.Errorf("%v calls counted as refused for a missing token; want 3", n)
	}
}

// testutilCount sums the samples of a metric family whose labels include
// every one of labels (name="value").
func testutilCount(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]bool{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()+`="`+lp.GetValue()+`"`] = true
			}
			for _, l := range labels {
				if !have[l] {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// statusBody is grpc-gateway's status JSON.
type statusBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func decodeStatus(t *testing.T, body string) statusBody {
	t.Helper()
	var s statusBody
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("not a JSON status: %q: %v", body, err)
	}
	return s
}

// HTTP requests need the token but for /healthz, and /metrics unless
// -auth-metrics; a refusal is 401 with a challenge and the status JSON.
func TestHTTPAuth(t *testing.T) {
	noLeaks(t)
	tokens := writeTokens(t, testToken)
	for _, authMetrics := range []bool{false, true} {
		args := []string{"-auth-token-file", tokens}
		if authMetrics {
			args = append(args, "-auth-metrics")
		}
		fx := newFixture(t, args...)
		h := fx.httpHandler()
		do := func(method, path, auth, body string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		for _, tc := range []struct {
			auth      string
			code      int
			challenge string
			msg       string
		}{
			{"", 401, "Bearer", "gw: missing bearer token"},
			{"Basic dXNlcjpwdw==", 401, "Bearer", "gw: missing bearer token"},
			{"Bearer nope", 401, `Bearer error="invalid_token"`, "gw: invalid bearer token"},
			{"Bearer " + testToken, 200, "", ""},
		} {
			for _, path := range []string{"/native.Echo/Say", "/v1/endpoints", "/openapi.json", "/no/such"} {
				method, body := http.MethodGet, ""
				if path == "/native.Echo/Say" {
					method, body = http.MethodPost, `{"text":"hi"}`
				}
				w := do(method, path, tc.auth, body)
				want := tc.code
				if path == "/no/such" && want == 200 {
					want = 404
				}
				if w.Code != want || w.Header().Get("WWW-Authenticate") != tc.challenge {
					t.Errorf("%s %s with %q: %d, WWW-Authenticate %q; want %d, %q", method, path, tc.auth, w.Code, w.Header().Get("WWW-Authenticate"), want, tc.challenge)
				}
				if tc.code == 401 {
					if s := decodeStatus(t, w.Body.String()); s.Code != int(codes.Unauthenticated) || s.Message != tc.msg {
						t.Errorf("%s %s with %q: body %q", method, path, tc.auth, w.Body.String())
					}
					if ct := w.Header().Get("Content-Type"); ct != "application/json" {
						t.Errorf("401 Content-Type %q", ct)
					}
				}
			}
		}
		if w := do(http.MethodGet, "/healthz", "", ""); w.Code != 200 {
			t.Errorf("/healthz without a token: %d", w.Code)
		}
		wantMetrics := 200
		if authMetrics {
			wantMetrics = 401
		}
		if w := do(http.MethodGet, "/metrics", "", ""); w.Code != wantMetrics {
			t.Errorf("-auth-metrics %v: /metrics without a token: %d; want %d", authMetrics, w.Code, wantMetrics)
		}
		if w := do(http.MethodGet, "/metrics", "Bearer "+testToken, ""); w.Code != 200 {
			t.Errorf("/metrics with a token: %d", w.Code)
		}
	}
}

// A token file that the group or others may write is refused (as ssh
// refuses such an authorized_keys); one that others may read is used, with
// a warning.
func TestTokenFileMode(t *testing.T) {
	f := writeTokens(t, testToken+"\n")
	for _, mode := range []os.FileMode{0o602, 0o620, 0o666} {
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		_, err := loadTokens(f, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "the group or others may write it") || !strings.Contains(err.Error(), "chmod go-w") {
			t.Errorf("mode %04o: %v; want a refusal", mode, err)
		}
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	if _, err := loadTokens(f, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Errorf("mode 0644: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "others may read the tokens") || strings.Contains(logs.String(), testToken) {
		t.Errorf("mode 0644 logged %q; want a warning without the token", logs.String())
	}
	if err := os.Chmod(f, 0o600); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	if _, err := loadTokens(f, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || logs.Len() != 0 {
		t.Errorf("mode 0600: %v, logged %q", err, logs.String())
	}
}
