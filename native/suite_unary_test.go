package native_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var unaryCases = []suiteCase{
	{name: "UnaryJSON", run: testUnaryJSON},
	{name: "NilRespDiscards", run: testNilResp},
	{name: "ErrorCodes", run: testErrorCodes},
	{name: "UnknownEndpoint", run: testUnknownEndpoint},
	{name: "WrongBodyKind", run: testWrongBodyKind},
	{name: "CancelUnary", run: testCancelUnary},
	{name: "Deadline", run: testDeadline},
	{name: "MetadataJSON", run: testMetadataJSON},
	{name: "HandlerPanic", run: testHandlerPanic},
	{name: "Concurrent", run: testConcurrent},
}

func testUnaryJSON(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	// A request taken by value, and the net/rpc form without ctx.
	mustRegister(t, srv, "Echo.Value", func(ctx context.Context, req echoReq, resp *echoResp) error {
		resp.Msg, resp.N = strings.ToUpper(req.Msg), req.N+1
		return nil
	})
	mustRegister(t, srv, "Echo.NoReq", func(resp *echoResp) error {
		resp.Msg = "no request"
		return nil
	})
	f := mk(t, srv)
	ctx := context.Background()
	for i := range 3 {
		checkEcho(t, f.caller, i)
	}
	var r echoResp
	if err := f.caller.Call(ctx, "Echo.Value", echoReq{Msg: "abc", N: 41}, &r); err != nil || r.Msg != "ABC" || r.N != 42 {
		t.Fatalf("Echo.Value = %+v, %v", r, err)
	}
	r = echoResp{}
	if err := f.caller.Call(ctx, "Echo.NoReq", nil, &r); err != nil || r.Msg != "no request" {
		t.Fatalf("Echo.NoReq = %+v, %v", r, err)
	}
	// A large JSON body goes out in several BODY frames.
	big := strings.Repeat("0123456789", 1<<20)
	r = echoResp{}
	if err := f.caller.Call(ctx, "Echo.Unary", &echoReq{Msg: big, N: 1}, &r); err != nil || r.Msg != big {
		t.Fatalf("Echo.Unary with a 10 MB message: len %d, %v", len(r.Msg), err)
	}
}

func testNilResp(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	var calls atomic.Int32
	mustRegister(t, srv, "Count", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		calls.Add(1)
		resp.Msg = req.Msg
		return nil
	})
	f := mk(t, srv)
	for i := range 3 {
		if err := f.caller.Call(context.Background(), "Count", &echoReq{Msg: "x"}, nil); err != nil {
			t.Fatalf("call %d with nil resp: %v", i, err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}
	checkEcho(t, f.caller, 1)
}

func testErrorCodes(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	type errReq struct {
		Code native.Code `json:"code"`
		Kind string      `json:"kind"`
	}
	mustRegister(t, srv, "Fail", func(ctx context.Context, req *errReq, resp *echoResp) error {
		switch req.Kind {
		case "plain":
			return errors.New("plain failure")
		case "canceled":
			return fmt.Errorf("gave up: %w", context.Canceled)
		case "deadline":
			return context.DeadlineExceeded
		case "new":
			return native.NewError(req.Code, errors.New("wrapped cause"))
		}
		return native.Errorf(req.Code, "failure with code %d", uint32(req.Code))
	})
	f := mk(t, srv)
	ctx := context.Background()
	for code := native.CodeCanceled; code <= native.CodeUnauthenticated; code++ {
		err := f.caller.Call(ctx, "Fail", &errReq{Code: code}, &echoResp{})
		wantCode(t, err, code, fmt.Sprintf("failure with code %d", uint32(code)))
		if e := err.(*native.Error); e.Message() != fmt.Sprintf("failure with code %d", uint32(code)) {
			t.Fatalf("code %v: message %q", code, e.Message())
		}
	}
	// A code this package does not know passes through, as in gRPC.
	wantCode(t, f.caller.Call(ctx, "Fail", &errReq{Code: 99}, nil), 99, "failure with code 99")
	wantCode(t, f.caller.Call(ctx, "Fail", &errReq{Code: native.CodeNotFound, Kind: "new"}, nil), native.CodeNotFound, "wrapped cause")
	wantCode(t, f.caller.Call(ctx, "Fail", &errReq{Kind: "plain"}, nil), native.CodeUnknown, "plain failure")
	wantCode(t, f.caller.Call(ctx, "Fail", &errReq{Kind: "canceled"}, nil), native.CodeCanceled, "gave up")
	wantCode(t, f.caller.Call(ctx, "Fail", &errReq{Kind: "deadline"}, nil), native.CodeDeadlineExceeded)
	// An error "with" CodeOK still fails the call.
	if err := f.caller.Call(ctx, "Fail", &errReq{Code: native.CodeOK}, nil); err == nil {
		t.Fatal("handler error with CodeOK: call succeeded")
	}
	checkEcho(t, f.caller, 2)
}

func testUnknownEndpoint(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	f := mk(t, srv)
	ctx := context.Background()
	wantCode(t, f.caller.Call(ctx, "No.Such", &echoReq{}, &echoResp{}), native.CodeUnimplemented, "No.Such")
	var rc io.ReadCloser
	wantCode(t, f.caller.Call(ctx, "No.Such", bytes.NewReader(make([]byte, 1<<20)), &rc), native.CodeUnimplemented, "No.Such")
	if rc != nil {
		t.Fatal("failed call set the response stream")
	}
	checkEcho(t, f.caller, 3)
}

func testWrongBodyKind(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Blob.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
		n, err := io.Copy(io.Discard, body)
		resp.N = n
		return err
	})
	mustRegister(t, srv, "Blob.Get", func(ctx context.Context, req *blobReq, resp *io.ReadCloser) error {
		*resp = io.NopCloser(bytes.NewReader(payload(req.Size, req.Seed)))
		return nil
	})
	f := mk(t, srv)
	ctx := context.Background()
	var rc io.ReadCloser
	cases := []struct {
		name      string
		method    string
		req, resp any
		msg       string
	}{
		{"stream to a JSON endpoint", "Echo.Unary", bytes.NewReader(payload(3<<20, 1)), &echoResp{}, "takes a json request"},
		{"json+stream to a JSON endpoint", "Echo.Unary", native.StreamRequest{JSON: &echoReq{}, Body: bytes.NewReader(payload(1<<20, 2))}, &echoResp{}, "takes a json request"},
		{"stream asked from a JSON endpoint", "Echo.Unary", &echoReq{}, &rc, "answers json"},
		{"JSON to a stream endpoint", "Blob.Put", &echoReq{}, &putResp{}, "takes a stream request"},
		{"no request to a stream endpoint", "Blob.Put", nil, &putResp{}, "takes a stream request"},
		{"JSON asked from a stream endpoint", "Blob.Get", &blobReq{Size: 10}, &echoResp{}, "answers stream"},
	}
	for i, c := range cases {
		err := f.caller.Call(ctx, c.method, c.req, c.resp)
		if native.CodeOf(err) != native.CodeInvalidArgument || !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("%s: err = %v, want InvalidArgument saying %q", c.name, err, c.msg)
		}
		checkEcho(t, f.caller, i)
	}
	if rc != nil {
		t.Fatal("failed call set the response stream")
	}
}

func testCancelUnary(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	started := make(chan struct{})
	cause := make(chan error, 1)
	mustRegister(t, srv, "Block", func(ctx context.Context, resp *echoResp) error {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		// Whatever the handler answers now, the caller has given up.
		return native.Errorf(native.CodeAborted, "stopped")
	})
	f := mk(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- f.caller.Call(ctx, "Block", nil, &echoResp{}) }()
	waitFor(t, started, 5*time.Second, "the handler to start")
	cancel()
	err := waitFor(t, errc, 2*time.Second, "Call to return after cancel")
	wantCode(t, err, native.CodeCanceled)
	if got := waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled"); native.CodeOf(got) != native.CodeCanceled {
		t.Fatalf("handler ctx cause = %v, want code Canceled", got)
	}
	checkEcho(t, f.caller, 4)
	// A call with a ctx already done is not made.
	if err := f.caller.Call(ctx, "Echo.Unary", &echoReq{}, &echoResp{}); native.CodeOf(err) != native.CodeCanceled {
		t.Fatalf("call with a cancelled ctx: %v", err)
	}
	checkEcho(t, f.caller, 5)
}

func testDeadline(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Deadline", func(ctx context.Context, resp *deadlineResp) error {
		resp.Deadline, resp.Has = ctx.Deadline()
		return nil
	})
	cause := make(chan error, 1)
	mustRegister(t, srv, "Block", func(ctx context.Context, resp *echoResp) error {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	})
	f := mk(t, srv)

	var r deadlineResp
	if err := f.caller.Call(context.Background(), "Deadline", nil, &r); err != nil || r.Has {
		t.Fatalf("without a deadline: %+v, %v", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want, _ := ctx.Deadline()
	if err := f.caller.Call(ctx, "Deadline", nil, &r); err != nil || !r.Has {
		t.Fatalf("with a deadline: %+v, %v", r, err)
	}
	if d := r.Deadline.Sub(want); d < -time.Second || d > time.Second {
		t.Fatalf("handler deadline %v, caller's %v: %v apart", r.Deadline, want, d)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	err := f.caller.Call(ctx2, "Block", nil, &echoResp{})
	wantCode(t, err, native.CodeDeadlineExceeded)
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Call returned %v after a 200ms deadline", el)
	}
	if got := waitFor(t, cause, 5*time.Second, "the handler's ctx to expire"); native.CodeOf(got) != native.CodeDeadlineExceeded {
		t.Fatalf("handler ctx cause = %v, want code DeadlineExceeded", got)
	}
	checkEcho(t, f.caller, 6)
}

func testMetadataJSON(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Meta", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		resp.MD = native.IncomingMetadata(ctx)
		resp.Msg = native.Method(ctx)
		if err := native.SetHeader(ctx, native.Metadata{"X-Header": {"h1", "h2"}}); err != nil {
			return err
		}
		if err := native.SetTrailer(ctx, native.Metadata{"x-trailer": {"t1"}}); err != nil {
			return err
		}
		if req.Msg == "fail" {
			return native.Errorf(native.CodeAborted, "failed with metadata")
		}
		return nil
	})
	f := mk(t, srv)
	for _, fail := range []bool{false, true} {
		var hdr, tr native.Metadata
		var r echoResp
		req := &echoReq{}
		if fail {
			req.Msg = "fail"
		}
		err := f.caller.Call(context.Background(), "Meta", req, &r,
			native.WithMetadata(native.Metadata{"X-Req": {"a", "b"}}),
			native.WithMetadata(native.Metadata{"x-req": {"c"}, "other": {"o"}}),
			native.Header(&hdr), native.Trailer(&tr))
		if fail {
			wantCode(t, err, native.CodeAborted, "failed with metadata")
		} else {
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.MD.Values("x-req"), ","); got != "a,b,c" || r.MD.Get("Other") != "o" {
				t.Fatalf("handler saw metadata %v", r.MD)
			}
			if r.Msg != "Meta" {
				t.Fatalf("Method(ctx) = %q", r.Msg)
			}
		}
		if got := strings.Join(hdr.Values("x-header"), ","); got != "h1,h2" {
			t.Fatalf("fail=%v: header metadata %v", fail, hdr)
		}
		if tr.Get("X-Trailer") != "t1" {
			t.Fatalf("fail=%v: trailer metadata %v", fail, tr)
		}
	}
	// Outside a handler SetHeader and SetTrailer fail.
	if native.SetHeader(context.Background(), native.Metadata{"a": {"b"}}) == nil || native.SetTrailer(context.Background(), nil) == nil {
		t.Fatal("SetHeader/SetTrailer outside a handler succeeded")
	}
}

func testHandlerPanic(t *testing.T, mk factory) {
	srv, logs := newServer(t)
	mustRegister(t, srv, "Panic", func(ctx context.Context, resp *echoResp) error {
		panic("boom")
	})
	// JSON in and out: called without reflect (directcall.go).
	mustRegister(t, srv, "PanicEcho", func(req *echoReq, resp *echoResp) error {
		panic("boom from " + req.Msg)
	})
	var streamClosed = newCloseRecorder(strings.NewReader("never read"))
	mustRegister(t, srv, "PanicStream", func(ctx context.Context, resp *io.Reader) error {
		*resp = streamClosed
		panic("boom after setting the stream")
	})
	f := mk(t, srv)
	for i := range 2 {
		wantCode(t, f.caller.Call(context.Background(), "Panic", nil, &echoResp{}), native.CodeInternal, "panicked", "boom")
		checkEcho(t, f.caller, i)
		wantCode(t, f.caller.Call(context.Background(), "PanicEcho", &echoReq{Msg: "direct"}, &echoResp{}), native.CodeInternal, "panicked", "boom from direct")
		checkEcho(t, f.caller, i)
	}
	var rc io.ReadCloser
	wantCode(t, f.caller.Call(context.Background(), "PanicStream", nil, &rc), native.CodeInternal, "boom")
	waitFor(t, streamClosed.closed, 5*time.Second, "the stream of a panicking handler to be closed")
	errs := logs.atLevel(slog.LevelError)
	if len(errs) != 5 || !strings.Contains(errs[0].attrs["err"], "boom") || errs[0].attrs["endpoint"] != "Panic" || errs[1].attrs["endpoint"] != "PanicEcho" {
		t.Fatalf("error logs %v, want five naming the panic", errs)
	}
}

func testConcurrent(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	f := mk(t, srv)
	const workers, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				n := w*1000 + i
				var r echoResp
				msg := fmt.Sprint(n)
				if err := f.caller.Call(context.Background(), "Echo.Unary", &echoReq{Msg: msg, N: n}, &r); err != nil {
					errs <- err
					return
				}
				if r.Msg != msg || r.N != 2*n {
					errs <- fmt.Errorf("call %d got %+v", n, r)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
