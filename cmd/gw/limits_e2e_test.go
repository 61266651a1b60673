package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/native"
)

// metricsOf fetches /metrics.
func metricsOf(t *testing.T, httpAddr string) string {
	t.Helper()
	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

// -max-calls 1 on every listener: a held call fills a listener's limit,
// the next call there is refused at once while the other listeners and
// the health checks still answer, and calls succeed again once the held
// one ends.
func TestMaxCalls(t *testing.T) {
	gw, content := startWithFile(t, 16<<20, "-max-calls", "1")
	grpcAddr, httpAddr, nativeAddr := gw.addr("grpc"), gw.addr("http"), gw.addr("native")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("grpc", func(t *testing.T) {
		d := startDownload(t, grpcAddr, "f.bin")
		if err := d.next(); err != nil { // the call is in the handler
			t.Fatal(err)
		}
		out := grpcurlFails(t, "-plaintext", "-d", `{"name":"f.bin"}`, grpcAddr, "native.Store/Stat")
		if !strings.Contains(out, "ResourceExhausted") || !strings.Contains(out, "gw: too many calls in flight (-max-calls 1)") {
			t.Errorf("a gRPC call over the limit: %s", out)
		}
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Health/Check while gRPC is full: %v %v", resp, err)
		}
		if code, body := httpGet(t, "http://"+httpAddr+"/native.Store/Stat?name=f.bin"); code != 200 {
			t.Errorf("REST while gRPC is full: %d %s", code, body)
		}
		if err := d.rest(); err != nil || d.sum() != sha(content) {
			t.Fatalf("the held download: %v, %d bytes", err, d.n)
		}
		grpcurl(t, "-plaintext", "-d", `{"name":"f.bin"}`, grpcAddr, "native.Store/Stat")
	})

	t.Run("http", func(t *testing.T) {
		// An upload kept open by the test.
		pr, pw := io.Pipe()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+httpAddr+"/native.Store/Write?name=up.bin", pr)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			code int
			body string
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{code: resp.StatusCode, body: string(b)}
		}()
		pw.Write([]byte("held "))
		waitFor(t, 10*time.Second, "the upload in flight", func() bool {
			return metricValue(metricsOf(t, httpAddr), `framegate_gateway_in_flight{listener="http"}`) == 1
		})
		code, body := httpGet(t, "http://"+httpAddr+"/native.Store/Stat?name=f.bin")
		if s := decodeStatus(t, body); code != http.StatusTooManyRequests || s.Code != 8 || s.Message != "gw: too many calls in flight (-max-calls 1)" {
			t.Errorf("a REST call over the limit: %d %s", code, body)
		}
		if code, _ := httpGet(t, "http://"+httpAddr+"/healthz"); code != 200 {
			t.Errorf("/healthz while HTTP is full: %d", code)
		}
		grpcurl(t, "-plaintext", "-d", `{"name":"f.bin"}`, grpcAddr, "native.Store/Stat")
		pw.Write([]byte("upload\n"))
		pw.Close()
		if r := <-done; r.err != nil || r.code != 200 || !strings.Contains(r.body, `"size":12`) {
			t.Fatalf("the held upload: %+v", r)
		}
		if code, body := httpGet(t, "http://"+httpAddr+"/native.Store/Stat?name=up.bin"); code != 200 {
			t.Errorf("a REST call after the upload: %d %s", code, body)
		}
	})

	t.Run("native", func(t *testing.T) {
		// A connection without a call in flight makes room for gw call.
		idle, err := net.Dial("tcp", nativeAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		if _, err := idle.Write(binary.BigEndian.AppendUint32(append([]byte("FGRPC\r\n"), native.ProtocolVersion), native.DefaultMaxFramePayload)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(idle, make([]byte, native.PrefaceLen)); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := gwCall(t, nil, "-addr", nativeAddr, "-list"); code != 0 || !strings.Contains(out, "Store.Write") {
			t.Errorf("gw call while a preface-only connection fills the limit: %d %s", code, errOut)
		}
		idle.Close()

		// One with a call in flight does not. Its windows (1 MiB) and the
		// socket buffers hold far less than the 16 MiB file: the download
		// cannot end, and its call leave the count, before the test reads
		// it.
		held, err := native.Dial(ctx, "tcp", nativeAddr, native.WithStreamWindow(1<<20), native.WithConnWindow(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		var rc io.ReadCloser
		if err := held.Call(ctx, "Store.Read", map[string]string{"name": "f.bin"}, &rc); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := gwCall(t, nil, "-addr", nativeAddr, "-list")
		if code != 1 || !strings.Contains(errOut, "Unavailable") {
			t.Errorf("gw call while the native connection limit is full of calls: %d %s", code, errOut)
		}
		grpcurl(t, "-plaintext", "-d", `{"name":"f.bin"}`, grpcAddr, "native.Store/Stat")
		rc.Close()
		held.Close()
		waitFor(t, 10*time.Second, "a native connection after the held call ended", func() bool {
			c, err := native.Dial(ctx, "tcp", nativeAddr)
			if err != nil {
				return false
			}
			defer c.Close()
			return c.Call(ctx, "Store.List", map[string]string{}, nil) == nil
		})
		if out, errOut, code := gwCall(t, nil, "-addr", nativeAddr, "-list"); code != 0 || !strings.Contains(out, "Store.Write") {
			t.Errorf("gw call after the held call ended: %d %s", code, errOut)
		}
	})

	m := metricsOf(t, httpAddr)
	for _, l := range []string{"grpc", "http", "native"} {
		if v := metricValue(m, fmt.Sprintf(`framegate_gateway_refused_total{listener="%s",reason="limit"}`, l)); v < 1 {
			t.Errorf("%s refusals for the limit: %v", l, v)
		}
	}
}

// The size limits: a gRPC message, a REST JSON body (at the gateway and at
// the embedded store), HTTP headers and gRPC metadata; request streams are
// limited per message only.
func TestSizeLimits(t *testing.T) {
	needCurl(t)
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0",
		"-data-dir", t.TempDir(), "-grpc-max-msg-size", "64KiB", "-http-max-body-size", "8KiB", "-native-max-body-size", "4KiB",
		"-max-header-size", "8KiB")
	grpcAddr, httpAddr, nativeAddr := gw.addr("grpc"), gw.addr("http"), gw.addr("native")
	chunk := func(n int) string { return base64.StdEncoding.EncodeToString(randomBytes(n, uint64(n))) }

	// gRPC: one message over 64KiB is refused, a stream of smaller ones is not.
	up := `{"request":{"name":"big.bin"},"data":"` + chunk(100<<10) + `"}`
	if out, errOut, code := runCmd(t, strings.NewReader(up), grpcurlBin, "-plaintext", "-d", "@", grpcAddr, "native.Store/Write"); code == 0 || !strings.Contains(out+errOut, "ResourceExhausted") {
		t.Errorf("a gRPC message of 100KiB: %d %s%s", code, out, errOut)
	}
	up = `{"request":{"name":"s.bin"},"data":"` + chunk(40<<10) + `"}` + strings.Repeat(`{"data":"`+chunk(40<<10)+`"}`, 4)
	if out := grpcurlIn(t, strings.NewReader(up), "-plaintext", "-d", "@", grpcAddr, "native.Store/Write"); !strings.Contains(out, fmt.Sprintf(`"size": "%d"`, 200<<10)) {
		t.Errorf("a gRPC stream of 5 messages of 40KiB: %s", out)
	}
	out := grpcurlFails(t, "-plaintext", "-H", "x-big: "+strings.Repeat("b", 16<<10), "-d", `{"name":"s.bin"}`, grpcAddr, "native.Store/Stat")
	if !strings.Contains(out, "header list size") || !strings.Contains(out, "maximum size (8192 bytes)") {
		t.Errorf("gRPC metadata of 16KiB over -max-header-size 8KiB was served: %s", out)
	}

	// REST: JSON over 8KiB refused by gw, over 4KiB by the store; uploads not.
	base := "http://" + httpAddr
	list := func(n int) string { return `{"prefix":"` + strings.Repeat("p", n) + `"}` }
	for _, chunked := range []bool{false, true} {
		args := []string{"--json", list(10 << 10)}
		if chunked {
			args = append(args, "-H", "Transfer-Encoding: chunked")
		}
		body, code := curlStatus(t, append(args, base+"/native.Store/List")...)
		if s := decodeStatus(t, body); code != "413" || s.Code != 8 || s.Message != "gateway: request body over 8192 bytes" {
			t.Errorf("chunked %v: a JSON body of 10KiB: %s %s", chunked, code, body)
		}
	}
	body, code := curlStatus(t, "--json", list(6<<10), base+"/native.Store/List")
	if s := decodeStatus(t, body); code != "429" || s.Code != 8 || !strings.Contains(s.Message, "exceeds the limit of 4096 bytes") {
		t.Errorf("a JSON body of 6KiB (over -native-max-body-size): %s %s", code, body)
	}
	if body, code := curlStatus(t, "--json", list(1<<10), base+"/native.Store/List"); code != "200" {
		t.Errorf("a JSON body of 1KiB: %s %s", code, body)
	}
	upload := filepath.Join(t.TempDir(), "up.bin")
	if err := os.WriteFile(upload, randomBytes(100<<10, 7), 0o644); err != nil {
		t.Fatal(err)
	}
	if body, code := curlStatus(t, "-T", upload, base+"/native.Store/Write?name=r.bin"); code != "200" || !strings.Contains(body, fmt.Sprintf(`"size":%d`, 100<<10)) {
		t.Errorf("an upload of 100KiB: %s %s", code, body)
	}
	if _, code := curlStatus(t, "-H", "X-Big: "+strings.Repeat("h", 16<<10), base+"/healthz"); code != "431" {
		t.Errorf("an HTTP header of 16KiB: %s; want 431", code)
	}

	// Native: the store's JSON body limit.
	_, errOut, c := gwCall(t, nil, "-addr", nativeAddr, "Store.List", list(6<<10))
	if c != 1 || !strings.Contains(errOut, "ResourceExhausted") {
		t.Errorf("gw call with a JSON body of 6KiB: %d %s", c, errOut)
	}
}

// gw backend -max-conns: at the limit a new connection evicts the one idle
// the longest, so a caller gets through while idle connections are held.
func TestBackendMaxConns(t *testing.T) {
	gw := startGW(t, "gw backend", nil, "backend", "-native-addr", "127.0.0.1:0", "-data-dir", t.TempDir(), "-max-conns", "2")
	addr := gw.addr("native")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var idle []*native.Client
	for range 2 {
		c, err := native.Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var s native.Schema
		if err := c.Call(ctx, native.DescribeEndpoint, nil, &s); err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		time.Sleep(10 * time.Millisecond) // the first is idle the longest
	}
	if out, errOut, code := gwCall(t, nil, "-addr", addr, "Store.List", `{}`); code != 0 {
		t.Fatalf("gw call with 2 idle connections held against -max-conns 2: %d %s %s", code, out, errOut)
	}
	var s native.Schema
	if err := idle[0].Call(ctx, native.DescribeEndpoint, nil, &s); err == nil {
		t.Errorf("the connection idle the longest still works: it was not evicted")
	}
	if err := idle[1].Call(ctx, native.DescribeEndpoint, nil, &s); err != nil {
		t.Errorf("the other idle connection: %v", err)
	}
}
