package gateway

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A stream that ends short of the length it announced fails on every
// face: curl exits non-zero over HTTP/1.1 and HTTP/1.0 (the Content-Length
// is not met), a gRPC client gets DATA_LOSS. (The native face:
// native.TestStreamShortOfItsLength.)
func TestShortStreamFailsEverywhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		u := e.http.URL + "/native.Blob/Short?size=3000000"
		for _, proto := range []string{"--http1.1", "--http1.0"} {
			out, stderr, exit := curl(t, nil, nil, proto, "-D", "/dev/stderr", u)
			if exit == 0 || int64(len(out)) >= 3000000 || !strings.Contains(stderr, "Content-Length: 3000000") {
				t.Errorf("curl %s: exit %d with %d bytes; stderr %s", proto, exit, len(out), stderr)
			}
		}
		d := newDyn(t, e.conn)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st := d.stream(ctx, "native.Blob/Short")
		if err := st.SendMsg(d.in("native.Blob/Short", `{"size":"3000000"}`)); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		md, err := st.Header()
		if err != nil || strings.Join(md.Get("x-content-length"), ",") != "3000000" {
			t.Errorf("gRPC header metadata %v, %v; want x-content-length 3000000", md, err)
		}
		var n int
		for {
			m := d.msg(d.method("native.Blob/Short").Output(), "")
			if err = st.RecvMsg(m); err != nil {
				break
			}
			n += len(field(m, "data").Bytes())
		}
		if status.Code(err) != codes.DataLoss || err == io.EOF || n >= 3000000 {
			t.Errorf("gRPC: %d bytes, then %v; want DATA_LOSS", n, err)
		}
	})
}

// A handler that ignores ranges gets a 200 with the whole body, never a
// wrong 206; a file's announcement reaches gRPC clients as metadata.
func TestRangeIgnoredAndGRPCMetadata(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		resp, b := do(t, http.MethodGet, e.http.URL+"/native.Blob/Download?size=1000", nil, "Range", "bytes=0-9")
		if resp.StatusCode != 200 || len(b) != 1000 || resp.Header.Get("Content-Range") != "" {
			t.Errorf("a range to a handler that ignores ranges: %d, %d bytes, Content-Range %q", resp.StatusCode, len(b), resp.Header.Get("Content-Range"))
		}
		path := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(path, []byte("twelve bytes"), 0o644)
		d := newDyn(t, e.conn)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st := d.stream(ctx, "native.Blob/File")
		if err := st.SendMsg(d.in("native.Blob/File", `{"path":`+strconv.Quote(path)+`}`)); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		md, err := st.Header()
		if err != nil || strings.Join(md.Get("x-content-length"), ",") != "12" || !strings.HasPrefix(strings.Join(md.Get("x-content-type"), ","), "text/plain") ||
			len(md.Get("etag")) != 1 || len(md.Get("last-modified")) != 1 {
			t.Errorf("gRPC metadata of a file download: %v, %v", md, err)
		}
		for st.RecvMsg(d.msg(d.method("native.Blob/File").Output(), "")) == nil {
		}
	})
}
