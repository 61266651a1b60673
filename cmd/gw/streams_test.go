package main

// Tests of what one careless or hostile client can hold: streams per
// HTTP/2 connection (-max-conn-streams), health and reflection streams
// (their own bounded pool) and request bodies that stop moving
// (-body-timeout), on the gRPC and HTTP listeners.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// headerOnlyStreams opens n streams to /native.Echo/Say on a connection of
// its own that send headers and never a message; they end with ctx.
func headerOnlyStreams(t *testing.T, ctx context.Context, addr string, n int) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, n)
	t.Cleanup(func() {
		for range n {
			<-done
		}
		cc.Close()
	})
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			// NewStream waits while the connection has no stream to spare.
			st, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/native.Echo/Say", grpc.ForceCodec(rawCodec{}))
			if err != nil {
				return
			}
			var b []byte
			st.RecvMsg(&b) // ends with ctx, or with the server's status
		}()
	}
}

// One connection's header-only streams take at most -max-conn-streams
// places, so another client's call gets through. Without the cap, 8 such
// streams took all 8 places.
func TestConnStreamCap(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-max-calls", "8", "-max-conn-streams", "4")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	headerOnlyStreams(t, ctx, fx.addr, 8)
	waitFor(t, 10*time.Second, "4 streams in flight", func() bool { return fx.inFlight(t, "grpc") == 4 })
	time.Sleep(100 * time.Millisecond) // room for more, were they admitted
	if n := fx.inFlight(t, "grpc"); n != 4 {
		t.Errorf("one connection holds %v calls; want 4 (-max-conn-streams)", n)
	}
	callCtx, callCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer callCancel()
	if got, err := fx.echo(callCtx, "through"); err != nil || got != "through" {
		t.Errorf("another client's call while one connection holds its streams: %q, %v", got, err)
	}
	cancel()
}

// Health and reflection streams count in a pool of their own: past
// maxProbeCalls they are refused (before, 15,000 Health/Watch streams sat
// open), while calls and the probes already admitted go on.
func TestProbePool(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-max-calls", "0", "-max-conn-streams", "1000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(fx.conn)
	for i := range maxProbeCalls {
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = w.Recv()
		}
		if err != nil {
			t.Fatalf("Health/Watch %d: %v", i, err)
		}
	}
	if n := fx.inFlight(t, "grpc_probes"); n != maxProbeCalls {
		t.Errorf("%v probes in flight; want %d", n, maxProbeCalls)
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	wantCode(t, "a Health/Watch past the pool", err, codes.ResourceExhausted, "too many health checks and reflection streams")
	wantCode(t, "server reflection past the pool", fx.listServices(ctx), codes.ResourceExhausted, "too many health checks and reflection streams")
	if got, err := fx.echo(ctx, "still"); err != nil || got != "still" {
		t.Errorf("a call while the probe pool is full: %q, %v", got, err)
	}
	if n := testutilCount(t, fx.reg, "framegate_gateway_refused_total", `listener="grpc"`, `reason="probe_limit"`); n != 2 {
		t.Errorf("%v refusals for the probe pool; want 2", n)
	}
}

// A gRPC stream that sends headers and then no message is ended with
// DEADLINE_EXCEEDED after -body-timeout, and its place is freed.
func TestGRPCBodyTimeout(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-body-timeout", "200ms")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := fx.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/native.Echo/Say", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	wantCode(t, "a stream with headers only", st.RecvMsg(&b), codes.DeadlineExceeded, "sent no request message for 200ms")
	waitFor(t, 10*time.Second, "the place freed", func() bool { return fx.inFlight(t, "grpc") == 0 })
}

// A gRPC stream whose deadline comes before -body-timeout and that sends
// no message ends at its deadline, and its place is freed (the gateway
// then waits in RecvMsg itself, without a timer).
func TestGRPCDeadlineBeforeBodyTimeout(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-body-timeout", "1m")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	st, err := fx.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/native.Echo/Say", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the call in flight", func() bool { return fx.inFlight(t, "grpc") == 1 })
	var b []byte
	wantCode(t, "a stream with headers only", st.RecvMsg(&b), codes.DeadlineExceeded, "")
	waitFor(t, 10*time.Second, "the place freed", func() bool { return fx.inFlight(t, "grpc") == 0 })
}

// A REST body that stops is cut with 408 after -body-timeout and its place
// freed (before, a Content-Length of 100 with 1 byte sent held its place
// for minutes); an upload that keeps moving lives longer than that.
func TestRESTBodyTimeout(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-body-timeout", "200ms")
	hs := httptest.NewServer(fx.httpHandler())
	defer hs.Close()

	resp, body := sendStalled(t, hs, "POST /native.Echo/Say HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "sent no byte of the request body for 200ms") {
		t.Errorf("a stalled body: %d %s; want 408 naming the timeout", resp.StatusCode, body)
	}
	waitFor(t, 10*time.Second, "the place freed", func() bool { return fx.inFlight(t, "http") == 0 })

	pr, pw := io.Pipe()
	go func() {
		for range 8 { // 8 x 100 ms: four times the timeout in all
			time.Sleep(100 * time.Millisecond)
			io.WriteString(pw, "0123456789")
		}
		pw.Close()
	}()
	resp, err := http.Post(hs.URL+"/native.Blob/Put", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if body = string(b); resp.StatusCode != http.StatusOK || !strings.Contains(body, strings.Repeat("0123456789", 8)) {
		t.Errorf("a slow upload that keeps moving: %d %s", resp.StatusCode, body)
	}
	hs.Client().CloseIdleConnections()
}

// A Connect client stream that stops after its first message is ended
// after -body-timeout, as a gRPC one is, and its place freed.
func TestConnectBodyTimeout(t *testing.T) {
	noLeaks(t)
	fx := newFixture(t, "-body-timeout", "200ms")
	hs := httptest.NewServer(fx.httpHandler())
	defer hs.Close()
	// One message (an HttpBody of 3 bytes) of a chunked body that goes
	// no further.
	msg := "\x00\x00\x00\x00\x05\x12\x03abc"
	resp, body := sendStalled(t, hs, "POST /native.Blob/Put HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/connect+proto\r\n"+
		"Connect-Protocol-Version: 1\r\nTransfer-Encoding: chunked\r\n\r\n"+fmt.Sprintf("%x\r\n%s\r\n", len(msg), msg))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"code":"deadline_exceeded"`) || !strings.Contains(body, "200ms") {
		t.Errorf("a stalled stream: %d %q; want the end of the stream with deadline_exceeded", resp.StatusCode, body)
	}
	waitFor(t, 10*time.Second, "the place freed", func() bool { return fx.inFlight(t, "http") == 0 })
}

// sendStalled writes req, a request whose body stops, on a connection of
// its own to hs and returns the answer, which must come within 10s.
func sendStalled(t *testing.T, hs *httptest.Server, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
