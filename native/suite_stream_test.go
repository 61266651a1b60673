package native_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/iotest"
	"time"

	"github.com/framegate/framegate/native"
)

var streamCases = []suiteCase{
	{name: "ResponseStream", run: testResponseStream},
	{name: "RequestStream", run: testRequestStream},
	{name: "JSONAndStream", run: testJSONAndStream},
	{name: "ServerSourceFails", run: testServerSourceFails},
	{name: "UploadSourceFails", run: testUploadSourceFails},
	{name: "EarlyCloseOfResponse", run: testEarlyClose},
	{name: "CancelDuringResponseStream", run: testCancelDuringStream},
	{name: "MetadataStream", run: testMetadataStream},
	{name: "FileStream", run: testFileStream},
}

// testFileStream answers with files, which TCP and unix sockets send with
// sendfile: the whole file, a section of it, and one the caller abandons,
// which must be closed.
func testFileStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	data := payload(9<<20+11, 6)
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	files := make(chan *os.File, 1)
	mustRegister(t, srv, "File.Get", func(ctx context.Context, req *blobReq, resp *io.ReadCloser) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		files <- f
		if req.Size < 0 {
			*resp = f
			return nil
		}
		if _, err := f.Seek(int64(req.Seed), io.SeekStart); err != nil {
			f.Close()
			return err
		}
		*resp = native.FileSection(f, int64(req.Size))
		return nil
	})
	f := mk(t, srv)
	ctx := context.Background()
	for _, c := range []struct{ size, off int }{{-1, 0}, {3<<20 + 5, 1000}, {0, 10}, {100, len(data) - 50}} {
		var rc io.ReadCloser
		if err := f.caller.Call(ctx, "File.Get", &blobReq{Size: c.size, Seed: uint64(c.off)}, &rc); err != nil {
			t.Fatal(err)
		}
		want := data
		if c.size >= 0 {
			want = data[c.off:min(c.off+c.size, len(data))]
		}
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d at %d: read %d bytes (want %d), equal %v, %v", c.size, c.off, len(got), len(want), bytes.Equal(got, want), err)
		}
		waitClosed(t, <-files)
	}
	// Abandoned after a little.
	var rc io.ReadCloser
	if err := f.caller.Call(ctx, "File.Get", &blobReq{Size: -1}, &rc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	waitClosed(t, <-files)
	checkEcho(t, f.caller, 1)
}

// waitClosed waits until f has been closed by the package.
func waitClosed(t *testing.T, f *os.File) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := f.Stat(); errors.Is(err, os.ErrClosed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the handler's file was not closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// registerBlobs registers Blob.Get (a response stream of req.Size bytes)
// and Blob.Put (a request stream, answered with its length and digest).
func registerBlobs(t *testing.T, srv interface {
	Register(string, any, ...native.EndpointOption) error
}) {
	t.Helper()
	for name, fn := range map[string]any{
		"Blob.Get": func(ctx context.Context, req *blobReq, resp *io.ReadCloser) error {
			*resp = io.NopCloser(bytes.NewReader(payload(req.Size, req.Seed)))
			return nil
		},
		"Blob.Put": func(ctx context.Context, body io.Reader, resp *putResp) error {
			h := sha256.New()
			n, err := io.Copy(h, body)
			resp.N, resp.Sum = n, h.Sum(nil)
			return err
		},
		"Blob.PutNamed": func(ctx context.Context, req putReq, body io.Reader, resp *putResp) error {
			h := sha256.New()
			n, err := io.Copy(h, body)
			resp.Name, resp.N, resp.Sum = req.Name, n, h.Sum(nil)
			return err
		},
	} {
		if err := srv.Register(name, fn); err != nil {
			t.Fatal(err)
		}
	}
}

func testResponseStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerBlobs(t, srv)
	f := mk(t, srv)
	ctx := context.Background()
	for i, size := range []int{5<<20 + 7, 0, 1} {
		want := payload(size, uint64(i))
		var rc io.ReadCloser
		if err := f.caller.Call(ctx, "Blob.Get", &blobReq{Size: size, Seed: uint64(i)}, &rc); err != nil {
			t.Fatal(err)
		}
		var got []byte
		var err error
		if i%2 == 0 {
			got, err = io.ReadAll(rc) // Read
		} else {
			var buf bytes.Buffer
			_, err = io.Copy(&buf, rc) // WriteTo
			got = buf.Bytes()
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: read %d bytes, equal %v, err %v", size, len(got), bytes.Equal(got, want), err)
		}
		if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Reads of one byte at a time cut frames anywhere.
	var rc io.ReadCloser
	if err := f.caller.Call(ctx, "Blob.Get", &blobReq{Size: 50000, Seed: 7}, &rc); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(iotest.OneByteReader(rc)); err != nil || !bytes.Equal(got, payload(50000, 7)) {
		t.Fatalf("one-byte reads: %d bytes, %v", len(got), err)
	}
	// A stream into a *io.Reader works as well.
	var r io.Reader
	if err := f.caller.Call(ctx, "Blob.Get", &blobReq{Size: 100000, Seed: 9}, &r); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, payload(100000, 9)) {
		t.Fatalf("*io.Reader response: %d bytes, %v", len(got), err)
	}
	checkEcho(t, f.caller, 1)
}

func testRequestStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerBlobs(t, srv)
	f := mk(t, srv)
	for i, size := range []int{4<<20 + 3, 0, 100} {
		data := payload(size, uint64(i))
		var r putResp
		if err := f.caller.Call(context.Background(), "Blob.Put", bytes.NewReader(data), &r); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if r.N != int64(size) || !bytes.Equal(r.Sum, sum[:]) {
			t.Fatalf("size %d: handler read %d bytes, digest equal %v", size, r.N, bytes.Equal(r.Sum, sum[:]))
		}
	}
	checkEcho(t, f.caller, 1)
}

func testJSONAndStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	registerBlobs(t, srv)
	f := mk(t, srv)
	data := payload(3<<20+1, 5)
	sum := sha256.Sum256(data)
	for _, req := range []any{
		native.StreamRequest{JSON: &putReq{Name: "x"}, Body: bytes.NewReader(data)},
		&native.StreamRequest{JSON: putReq{Name: "x"}, Body: bytes.NewReader(data)},
	} {
		var r putResp
		if err := f.caller.Call(context.Background(), "Blob.PutNamed", req, &r); err != nil {
			t.Fatal(err)
		}
		if r.Name != "x" || r.N != int64(len(data)) || !bytes.Equal(r.Sum, sum[:]) {
			t.Fatalf("got name %q, %d bytes, digest equal %v", r.Name, r.N, bytes.Equal(r.Sum, sum[:]))
		}
	}
	// A StreamRequest without JSON is a stream only.
	var r putResp
	if err := f.caller.Call(context.Background(), "Blob.Put", native.StreamRequest{Body: bytes.NewReader(data)}, &r); err != nil || r.N != int64(len(data)) {
		t.Fatalf("StreamRequest without JSON: %+v, %v", r, err)
	}
	checkEcho(t, f.caller, 1)
}

func testServerSourceFails(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	data := payload(300<<10+5, 3)
	mustRegister(t, srv, "Blob.Fail", func(ctx context.Context, resp *io.Reader) error {
		*resp = &failReader{data: data, err: native.Errorf(native.CodeDataLoss, "disk on fire")}
		return nil
	})
	f := mk(t, srv)
	for _, copyTo := range []bool{false, true} {
		var rc io.ReadCloser
		if err := f.caller.Call(context.Background(), "Blob.Fail", nil, &rc); err != nil {
			t.Fatal(err)
		}
		var got []byte
		var err error
		if copyTo {
			var buf bytes.Buffer
			_, err = io.Copy(&buf, rc)
			got = buf.Bytes()
		} else {
			got, err = io.ReadAll(rc)
		}
		if errors.Is(err, io.EOF) {
			t.Fatalf("a failed stream ended with %v", err)
		}
		wantCode(t, err, native.CodeDataLoss, "disk on fire")
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes before the error, want all %d", len(got), len(data))
		}
		// The error is sticky.
		if _, err := rc.Read(make([]byte, 10)); native.CodeOf(err) != native.CodeDataLoss {
			t.Fatalf("Read after the error: %v", err)
		}
		rc.Close()
	}
	checkEcho(t, f.caller, 1)
}

func testUploadSourceFails(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	mustRegister(t, srv, "Blob.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
		n, err := io.Copy(io.Discard, body)
		got <- result{n, err}
		return err
	})
	f := mk(t, srv)
	data := payload(200<<10, 4)
	err := f.caller.Call(context.Background(), "Blob.Put", &failReader{data: data, err: native.Errorf(native.CodeAborted, "source broke")}, &putResp{})
	wantCode(t, err, native.CodeAborted, "source broke")
	r := waitFor(t, got, 5*time.Second, "the handler")
	if r.err == nil || errors.Is(r.err, io.EOF) {
		t.Fatalf("handler's body read ended with %v, want the upload's error", r.err)
	}
	if native.CodeOf(r.err) != native.CodeAborted || r.n != int64(len(data)) {
		t.Fatalf("handler read %d bytes then %v, want %d bytes then code Aborted", r.n, r.err, len(data))
	}
	checkEcho(t, f.caller, 1)
}

// registerEndless registers Blob.Endless, a stream that never ends; cause
// receives the cause of the handler's ctx when it is done, closed is closed
// when the stream is closed.
func registerEndless(t *testing.T, srv *native.Server) (cause <-chan error, closed <-chan struct{}) {
	causeCh := make(chan error, 1)
	closedCh := make(chan struct{})
	mustRegister(t, srv, "Blob.Endless", func(ctx context.Context, resp *io.ReadCloser) error {
		context.AfterFunc(ctx, func() { causeCh <- context.Cause(ctx) })
		cr := newCloseRecorder(endlessReader{ctx})
		cr.closed = closedCh
		*resp = cr
		return nil
	})
	return causeCh, closedCh
}

func testEarlyClose(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	cause, closed := registerEndless(t, srv)
	f := mk(t, srv)
	var rc io.ReadCloser
	if err := f.caller.Call(context.Background(), "Blob.Endless", nil, &rc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled")
	waitFor(t, closed, 5*time.Second, "the handler's stream to be closed")
	if _, err := rc.Read(make([]byte, 10)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Read after Close = %v, want an error", err)
	}
	checkEcho(t, f.caller, 1)
	checkEcho(t, f.caller, 2)
}

// testCancelDuringStream cancels the call's ctx while its response stream
// is open and nobody reads it.
func testCancelDuringStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	cause, closed := registerEndless(t, srv)
	f := mk(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rc io.ReadCloser
	if err := f.caller.Call(ctx, "Blob.Endless", nil, &rc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if got := waitFor(t, cause, 5*time.Second, "the handler's ctx to be cancelled"); native.CodeOf(got) != native.CodeCanceled {
		t.Fatalf("handler ctx cause %v, want code Canceled", got)
	}
	waitFor(t, closed, 5*time.Second, "the handler's stream to be closed")
	// The connection is free again well before the abort timeout.
	checkEcho(t, f.caller, 1)
	var err error
	for err == nil {
		_, err = rc.Read(make([]byte, 64<<10))
	}
	wantCode(t, err, native.CodeCanceled)
	rc.Close()
	checkEcho(t, f.caller, 2)
}

func testMetadataStream(t *testing.T, mk factory) {
	srv, _ := newServer(t)
	data := payload(1<<20, 8)
	mustRegister(t, srv, "Meta.Stream", func(ctx context.Context, resp *io.Reader) error {
		if err := native.SetHeader(ctx, native.Metadata{"x-size": {"1048576"}, "x-in": native.IncomingMetadata(ctx)["x-req"]}); err != nil {
			return err
		}
		*resp = &trailerAtEOF{ctx: ctx, r: bytes.NewReader(data)}
		return nil
	})
	f := mk(t, srv)
	var hdr, tr native.Metadata
	var rc io.ReadCloser
	err := f.caller.Call(context.Background(), "Meta.Stream", nil, &rc,
		native.WithMetadata(native.Metadata{"X-Req": {"v"}}), native.Header(&hdr), native.Trailer(&tr))
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Get("x-size") != "1048576" || hdr.Get("x-in") != "v" {
		t.Fatalf("header metadata %v", hdr)
	}
	if tr != nil {
		t.Fatalf("trailer %v before the stream was read", tr)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if tr.Get("x-count") != "1048576" {
		t.Fatalf("trailer metadata at EOF %v", tr)
	}
	checkEcho(t, f.caller, 1)
}

// trailerAtEOF sets a trailer when r is exhausted.
type trailerAtEOF struct {
	ctx context.Context
	r   io.Reader
	n   int
}

func (t *trailerAtEOF) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += n
	if err == io.EOF {
		if serr := native.SetTrailer(t.ctx, native.Metadata{"x-count": {strconv.Itoa(t.n)}}); serr != nil {
			return n, serr
		}
		// The header went out before the stream.
		if native.CodeOf(native.SetHeader(t.ctx, native.Metadata{"late": {"x"}})) != native.CodeFailedPrecondition {
			return n, errors.New("SetHeader after the header was sent did not fail")
		}
	}
	return n, err
}
