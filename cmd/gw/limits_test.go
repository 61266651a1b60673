package main

// In-process tests of the limits: the size flags, the call limit on the
// gRPC and HTTP front doors (filled with calls that block in the handler
// until the test releases them), the JSON body limit, the REST path naming
// it relies on, and the native listener's connection limit.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/native"
)

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1, "65536": 65536, "64KiB": 64 << 10, "64kib": 64 << 10, " 4 MiB ": 4 << 20,
		"1GiB": 1 << 30, "10B": 10, "1536KiB": 1536 << 10,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "4MB", "4 M", "lots", "99999999999GiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d; want an error", in, b)
		}
	}
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1024: "1KiB", 4 << 20: "4MiB", 1536 << 10: "1536KiB", 2 << 30: "2GiB"} {
		b := byteSize(n)
		if got := b.String(); got != want {
			t.Errorf("byteSize(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestSecurityFlagsCheck(t *testing.T) {
	if f := testSecurityFlags(t); f.check() != nil {
		t.Errorf("the defaults: %v", f.check())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-max-calls", "-1"}, "gw: -max-calls -1"},
		{[]string{"-max-header-size", "100"}, "gw: -max-header-size 100"},
		{[]string{"-grpc-max-msg-size", "2GiB"}, "gw: -grpc-max-msg-size 2GiB"},
		{[]string{"-http-max-body-size", "2GiB"}, "gw: -http-max-body-size 2GiB: want 1 byte to 1GiB"},
		{[]string{"-http-max-body-size", "0"}, "gw: -http-max-body-size 0"},
		{[]string{"-native-max-header-size", "8MiB"}, "gw: -native-max-header-size 8MiB"},
		{[]string{"-native-max-body-size", "0"}, "gw: -native-max-body-size 0"},
		{[]string{"-native-max-body-size", "100MiB"}, "gw: -native-max-body-memory 64MiB: want at least -native-max-body-size (100MiB)"},
	} {
		f := testSecurityFlags(t, tc.args...)
		if err := f.check(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v; want %q", tc.args, err, tc.want)
		}
	}
}

// blockCall runs a /native.Block/Wait gRPC call and sends its error on the
// returned channel.
func (fx *fixture) blockCall(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		var out []byte
		done <- fx.conn.Invoke(ctx, "/native.Block/Wait", textRequest("held"), &out, grpc.ForceCodec(rawCodec{}))
	}()
	return done
}

func (fx *fixture) inFlight(t *testing.T, listener string) float64 {
	t.Helper()
	return testutilCount(t, fx.reg, "framegate_gateway_in_flight", `listener="`+listener+`"`)
}

// Calls over -max-calls are refused with RESOURCE_EXHAUSTED while the
// limit is full, health checks still answer, and calls succeed again once
// the held ones end. With a token required, a call without one is refused
// for that and takes no place.
func TestGRPCCallLimit(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-max-calls", "2", "-auth-token-file", writeTokens(t, testToken))
	ctx, cancel := context.WithTimeout(withToken(context.Background(), testToken), 30*time.Second)
	defer cancel()
	held := []<-chan error{fx.blockCall(ctx), fx.blockCall(ctx)}
	<-fx.entered
	<-fx.entered
	if n := fx.inFlight(t, "grpc"); n != 2 {
		t.Errorf("in flight %v; want 2", n)
	}
	_, err := fx.echo(ctx, "over")
	wantCode(t, "a call over the limit", err, codes.ResourceExhausted, "gw: too many calls in flight (-max-calls 2)")
	_, err = fx.echo(context.Background(), "no token")
	wantCode(t, "a call without a token over the limit", err, codes.Unauthenticated, "gw: missing bearer token")
	if resp, err := healthpb.NewHealthClient(fx.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Health/Check while the limit is full: %v, %v", resp, err)
	}
	if err := fx.listServices(ctx); err != nil {
		t.Errorf("server reflection while the limit is full: %v", err)
	}
	if n := testutilCount(t, fx.reg, "framegate_gateway_refused_total", `listener="grpc"`, `reason="limit"`); n != 1 {
		t.Errorf("%v refusals for the limit; want 1", n)
	}
	close(fx.release)
	for _, h := range held {
		if err := <-h; err != nil {
			t.Errorf("a held call: %v", err)
		}
	}
	if got, err := fx.echo(ctx, "again"); err != nil || got != "again" {
		t.Errorf("a call after the held ones ended: %q, %v", got, err)
	}
	if n := fx.inFlight(t, "grpc"); n != 0 {
		t.Errorf("in flight %v after the calls ended; want 0", n)
	}
}

// The same on the HTTP front door: 429 and the status JSON. The limit is
// per listener: gRPC calls go on while HTTP is full.
func TestHTTPCallLimit(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-max-calls", "1")
	srv := httptest.NewServer(fx.httpHandler())
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := client.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if code, body := post("/native.Block/Wait", `{"text":"held"}`); code != 200 {
			t.Errorf("the held call: %d %s", code, body)
		}
	})
	<-fx.entered
	code, body := post("/native.Echo/Say", `{"text":"over"}`)
	if s := decodeStatus(t, body); code != http.StatusTooManyRequests || s.Code != int(codes.ResourceExhausted) || s.Message != "gw: too many calls in flight (-max-calls 1)" {
		t.Errorf("a call over the limit: %d %s", code, body)
	}
	// A Connect call over the limit reads the refusal in its own format.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/native.Echo/Say", strings.NewReader(`{"text":"over"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || string(b) != `{"code":"resource_exhausted","message":"gw: too many calls in flight (-max-calls 1)"}` {
		t.Errorf("a Connect call over the limit: %d %s", resp.StatusCode, b)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s while the limit is full: %d", path, resp.StatusCode)
		}
	}
	if got, err := fx.echo(context.Background(), "grpc"); err != nil || got != "grpc" {
		t.Errorf("a gRPC call while HTTP is full: %q, %v", got, err)
	}
	close(fx.release)
	wg.Wait()
	if code, body := post("/native.Echo/Say", `{"text":"again"}`); code != 200 || !strings.Contains(body, "again") {
		t.Errorf("a call after the held one ended: %d %s", code, body)
	}
}

// A JSON body over -http-max-body-size is refused with 413 by the gateway
// (gateway.WithMaxJSONBody), whether its length is announced or not;
// request streams are not limited.
func TestJSONBodyLimit(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-http-max-body-size", "1KiB")
	h := fx.httpHandler()
	do := func(method, path, body string, chunked bool) (int, string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if chunked {
			r.ContentLength = -1
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	big := `{"text":"` + strings.Repeat("x", 2000) + `"}`
	small := `{"text":"` + strings.Repeat("y", 900) + `"}`
	blob := strings.Repeat("z", 100<<10)
	for _, chunked := range []bool{false, true} {
		code, body := do(http.MethodPost, "/native.Echo/Say", big, chunked)
		if s := decodeStatus(t, body); code != 413 || s.Code != int(codes.ResourceExhausted) || s.Message != "gateway: request body over 1024 bytes" {
			t.Errorf("chunked %v: a JSON body over the limit: %d %s", chunked, code, body)
		}
		if code, body := do(http.MethodPost, "/native.Echo/Say", small, chunked); code != 200 || !strings.Contains(body, strings.Repeat("y", 900)) {
			t.Errorf("chunked %v: a JSON body under the limit: %d %.100s", chunked, code, body)
		}
		for _, path := range []string{"/native.Blob/Put", "/native.files_v1_Blob/Put?text=q"} {
			code, body := do(http.MethodPut, path, blob, chunked)
			var resp ExtraResponse
			json.Unmarshal([]byte(body), &resp)
			if code != 200 || resp.Text != blob {
				t.Errorf("chunked %v: a request stream of %d bytes to %s: %d %.100s", chunked, len(blob), path, code, body)
			}
		}
	}
}

// The native listener serves at most -max-calls connections, and -max-calls
// calls over all of them. At the connection limit, connections without a
// call in flight make room: a real call gets through while preface-only
// connections fill the limit. Only when every connection has a call in
// flight is a new one refused, and counted; a call past the limit on a
// connection already open is refused and counted too.
func TestNativeConnLimit(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) { testNativeConnLimit(t, network) })
	}
}

func testNativeConnLimit(t *testing.T, network string) {
	noLeaks(t)
	const limit = 2
	fl := testSecurityFlags(t, "-max-calls", strconv.Itoa(limit))
	reg := prometheus.NewRegistry()
	gd, err := newGuard(&fl, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := gd.newNativeServer()
	if err := srv.Register("Echo.Say", extraEcho); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	if err := srv.Register("Block.Wait", func(ctx context.Context, resp *ExtraResponse) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "n.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() (*native.Client, error) { return native.Dial(ctx, network, l.Addr().String()) }
	say := func(c *native.Client, text string) error {
		var resp ExtraResponse
		if err := c.Call(ctx, "Echo.Say", ExtraRequest{Text: text}, &resp); err != nil {
			return err
		}
		if resp.Text != text {
			return fmt.Errorf("echo %q; want %q", resp.Text, text)
		}
		return nil
	}

	// Preface-only connections fill the limit; a real call gets through.
	var raws []net.Conn
	for range limit {
		raw, err := net.Dial(network, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		defer raw.Close()
		pre := binary.BigEndian.AppendUint32(append([]byte("FGRPC\r\n"), native.ProtocolVersion), native.DefaultMaxFramePayload)
		if _, err := raw.Write(pre); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(raw, make([]byte, native.PrefaceLen)); err != nil {
			t.Fatal(err)
		}
	}
	a, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := say(a, "first"); err != nil {
		t.Fatalf("a call while preface-only connections fill the limit: %v", err)
	}

	// Every connection with a call in flight: the next one is refused.
	held := make(chan error, limit)
	for _, c := range []*native.Client{a, nil} {
		if c == nil {
			if c, err = dial(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		go func() { held <- c.Call(ctx, "Block.Wait", nil, &ExtraResponse{}) }()
	}
	waitFor(t, 10*time.Second, "both calls in flight", func() bool { return srv.Stats().Calls == limit })
	if b, err := dial(); err == nil {
		err = say(b, "second")
		b.Close()
		if err == nil {
			t.Fatal("a connection over the limit was served while every connection had a call in flight")
		}
	} else if native.CodeOf(err) != native.CodeUnavailable {
		t.Errorf("the refused connection: %v; want UNAVAILABLE", err)
	}
	if n := testutilCount(t, reg, "framegate_gateway_refused_total", `listener="native"`, `reason="limit"`); n != 1 {
		t.Errorf("%v native refusals; want 1", n)
	}
	// -max-calls counts calls, not connections: a third call on a
	// connection that multiplexes is refused at once too, and counted.
	if err := say(a, "third"); native.CodeOf(err) != native.CodeResourceExhausted || !strings.Contains(err.Error(), "too many calls on this server") {
		t.Errorf("a call over -max-calls on a busy connection: %v; want RESOURCE_EXHAUSTED", err)
	}
	if n := testutilCount(t, reg, "framegate_gateway_refused_total", `listener="native"`, `reason="limit"`); n != 2 {
		t.Errorf("%v native refusals; want 2", n)
	}
	close(release)
	for range limit {
		if err := <-held; err != nil {
			t.Errorf("held call: %v", err)
		}
	}
	if err := say(a, "still"); err != nil {
		t.Errorf("the first connection after a refusal: %v", err)
	}
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	if err := say(c, "third"); err != nil {
		t.Errorf("a new connection once the calls ended: %v", err)
	}
	c.Close()
	for _, raw := range raws {
		raw.Close() // they never answer the server's CLOSE
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != native.ErrServerClosed {
		t.Errorf("Serve returned %v; want ErrServerClosed", err)
	}
}
