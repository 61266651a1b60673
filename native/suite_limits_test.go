package native_test

// Limits and malformed values: body size limits, the frame size each side
// announces, JSON that cannot be encoded or decoded.

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/framegate/framegate/native"
)

var limitCases = []suiteCase{
	{name: "BodyLimits", run: testBodyLimits},
	{name: "SmallFrames", remote: true, run: testSmallFrames},
	{name: "BadJSON", run: testBadJSON},
	{name: "HandlerReturnsBeforeBody", run: testHandlerReturnsBeforeBody},
}

func testBodyLimits(t *testing.T, mk factory) {
	srv, _ := newServer(t, native.WithMaxBodySize(64<<10))
	mustRegister(t, srv, "Big", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		resp.Msg = strings.Repeat("r", req.N)
		return nil
	})
	f := mk(t, srv, clientOptions(native.WithMaxBodySize(128<<10)))
	ctx := context.Background()
	// A request over the server's limit.
	err := f.caller.Call(ctx, "Echo.Unary", &echoReq{Msg: strings.Repeat("x", 100<<10)}, &echoResp{})
	wantCode(t, err, native.CodeResourceExhausted, "exceeds the limit of 65536 bytes")
	checkEcho(t, f.caller, 1)
	// A response over the client's limit (a remote client's own limit).
	var r echoResp
	err = f.caller.Call(ctx, "Big", &echoReq{N: 200 << 10}, &r)
	if f.local() {
		if err != nil || len(r.Msg) != 200<<10 {
			t.Fatalf("local call with a large response: %d bytes, %v", len(r.Msg), err)
		}
	} else {
		wantCode(t, err, native.CodeResourceExhausted, "exceeds the limit of 131072 bytes")
	}
	checkEcho(t, f.caller, 2)
	if err := f.caller.Call(ctx, "Big", &echoReq{N: 100 << 10}, &r); err != nil || len(r.Msg) != 100<<10 {
		t.Fatalf("response under the limit: %d bytes, %v", len(r.Msg), err)
	}
}

// testSmallFrames has the client announce the smallest frame limit: the
// server cuts its streams and JSON bodies to it.
func testSmallFrames(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerBlobs(t, srv)
	var cl, sl *frameLog
	f := mk(t, srv, logConns(&cl, &sl), clientOptions(native.WithMaxFramePayload(native.MinMaxFramePayload), native.WithStreamChunkSize(1<<20)))
	ctx := context.Background()
	var rc io.ReadCloser
	if err := f.caller.Call(ctx, "Blob.Get", &blobReq{Size: 1 << 20, Seed: 3}, &rc); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || !bytes.Equal(b, payload(1<<20, 3)) {
		t.Fatalf("stream: %d bytes, %v", len(b), err)
	}
	big := strings.Repeat("y", 100<<10)
	var r echoResp
	if err := f.caller.Call(ctx, "Echo.Unary", &echoReq{Msg: big}, &r); err != nil || r.Msg != big {
		t.Fatalf("large JSON: %d bytes, %v", len(r.Msg), err)
	}
	// The client's uploads use the server's (default) limit.
	var pr putResp
	if err := f.caller.Call(ctx, "Blob.Put", bytes.NewReader(payload(3<<20, 1)), &pr); err != nil || pr.N != 3<<20 {
		t.Fatalf("upload: %+v, %v", pr, err)
	}
	read, wrote := cl.frames()
	for _, h := range read {
		if h.Length > native.MinMaxFramePayload {
			t.Fatalf("client received %v over its limit of %d", h, native.MinMaxFramePayload)
		}
	}
	largest := uint32(0)
	for _, h := range wrote {
		largest = max(largest, h.Length)
	}
	if largest != 1<<20 {
		t.Fatalf("largest frame the client sent: %d bytes, want its 1 MiB chunks", largest)
	}
}

func testBadJSON(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Bad.Response", func(ctx context.Context, resp *map[string]any) error {
		*resp = map[string]any{"c": make(chan int)}
		return nil
	})
	f := mk(t, srv)
	ctx := context.Background()
	// The request does not decode into the handler's type.
	err := f.caller.Call(ctx, "Echo.Unary", map[string]any{"n": "not a number"}, &echoResp{})
	wantCode(t, err, native.CodeInvalidArgument, `invalid request body for "Echo.Unary"`)
	// The request cannot be encoded: the call is not made.
	wantCode(t, f.caller.Call(ctx, "Echo.Unary", make(chan int), &echoResp{}), native.CodeInvalidArgument, "cannot encode the request")
	// The handler's response cannot be encoded.
	wantCode(t, f.caller.Call(ctx, "Bad.Response", nil, &map[string]any{}), native.CodeInternal, `cannot encode the response of "Bad.Response"`)
	// The response does not decode into the caller's type.
	var wrong struct{ Msg int }
	wantCode(t, f.caller.Call(ctx, "Echo.Unary", &echoReq{Msg: "m"}, &wrong), native.CodeInternal, "cannot decode the response")
	checkEcho(t, f.caller, 1)
}

// testHandlerReturnsBeforeBody has the handler fail after reading a little
// of a large upload: the caller gets its error, and the rest of the upload
// is not sent.
func testHandlerReturnsBeforeBody(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Blob.Picky", func(ctx context.Context, body io.Reader, resp *putResp) error {
		if _, err := io.ReadFull(body, make([]byte, 10)); err != nil {
			return err
		}
		return native.Errorf(native.CodePermissionDenied, "not this one")
	})
	mustRegister(t, srv, "Blob.Ignore", func(ctx context.Context, body io.Reader, resp *putResp) error {
		resp.Name = "ignored"
		return nil
	})
	f := mk(t, srv)
	ctx := context.Background()
	src := &countingReader{r: bytes.NewReader(payload(64<<20, 1))}
	wantCode(t, f.caller.Call(ctx, "Blob.Picky", src, &putResp{}), native.CodePermissionDenied, "not this one")
	checkEcho(t, f.caller, 1)
	var r putResp
	if err := f.caller.Call(ctx, "Blob.Ignore", iotest.OneByteReader(bytes.NewReader(payload(8<<20, 2))), &r); err != nil || r.Name != "ignored" {
		t.Fatalf("handler ignoring its body: %+v, %v", r, err)
	}
	checkEcho(t, f.caller, 2)
	if n := src.n(); n >= 64<<20 {
		t.Fatalf("the whole 64 MiB upload was read (%d bytes) after the handler failed", n)
	}
}

// countingReader counts the bytes read from r; the upload goroutine may
// still be reading when the call returns.
type countingReader struct {
	r     io.Reader
	total atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.total.Add(int64(n))
	return n, err
}

func (c *countingReader) n() int64 { return c.total.Load() }
