package native_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

type fileReq struct {
	Path     string `json:"path"`
	Announce int64  `json:"announce"`
	Send     int64  `json:"send"`
}

// streamServer serves File.Get (an *os.File), Mem.Get (ServeContent of
// bytes) and Lie.Get (a stream that announces Announce bytes and sends
// Send).
func streamServer(t *testing.T, opened *[]*os.File) *native.Server {
	srv := native.NewServer()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.Register("File.Get", func(req *fileReq, out *io.Reader) error {
		f, err := os.Open(req.Path)
		if err != nil {
			return native.NewError(native.CodeNotFound, err)
		}
		*opened = append(*opened, f)
		*out = f
		return nil
	}, native.Safe()))
	must(srv.Register("Mem.Get", func(ctx context.Context, req *fileReq, out *io.Reader) error {
		rc, err := native.ServeContent(ctx, strings.NewReader("0123456789"), native.StreamInfo{ContentType: "text/x-digits", ETag: `"d"`})
		*out = rc
		return err
	}, native.Safe()))
	must(srv.Register("Lie.Get", func(req *fileReq, out *io.Reader) error {
		*out = native.Content(bytes.NewReader(make([]byte, req.Send)), native.StreamInfo{Length: req.Announce, Size: -1})
		return nil
	}, native.Safe()))
	return srv
}

// callers are a LocalClient, a Client over a pipe and one over TCP (where
// files go with sendfile).
func callers(t *testing.T, srv *native.Server) map[string]native.Caller {
	cs := localAndPipe(t, srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	c, err := native.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cs["tcp"] = c
	return cs
}

func get(t *testing.T, c native.Caller, method string, req any, opts ...native.CallOption) (string, native.StreamInfo, native.Metadata, error) {
	t.Helper()
	var info native.StreamInfo
	var hdr native.Metadata
	var rc io.ReadCloser
	err := c.Call(context.Background(), method, req, &rc, append(opts, native.Info(&info), native.Header(&hdr))...)
	if err != nil {
		return "", info, hdr, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), info, hdr, err
}

// A file stream announces its length, type, entity tag and modification
// time, and serves ranges itself; If-Range that does not match gets the
// whole file; a range past the end is OUT_OF_RANGE with the size.
func TestFileStreamInfoAndRanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	body := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(path, mod, mod)
	var opened []*os.File
	srv := streamServer(t, &opened)
	for name, c := range callers(t, srv) {
		req := &fileReq{Path: path}
		got, info, _, err := get(t, c, "File.Get", req)
		if err != nil || got != body || info.Length != 10000 || info.Size != -1 || info.Offset != 0 ||
			!strings.HasPrefix(info.ContentType, "text/plain") || info.ETag == "" || !info.ModTime.Equal(mod) {
			t.Fatalf("%s: whole file: %d bytes, %+v, %v", name, len(got), info, err)
		}
		etag := info.ETag
		for _, tc := range []struct {
			spec, ifRange string
			off, n, size  int64
		}{
			{"bytes=10-19", "", 10, 10, 10000},
			{"bytes=9990-", "", 9990, 10, 10000},
			{"bytes=-5", "", 9995, 5, 10000},
			{"bytes=9995-20000", etag, 9995, 5, 10000},
			{"bytes=0-9999", "", 0, 10000, -1},
			{"bytes=10-19", `"other"`, 0, 10000, -1},
			{"bytes=10-19", "Fri, 02 Jan 2026 03:04:05 GMT", 10, 10, 10000},
			{"bytes=10-19", "Sat, 03 Jan 2026 03:04:05 GMT", 0, 10000, -1},
			{"bytes=0-1,5-6", "", 0, 10000, -1},
			{"lines=1-2", "", 0, 10000, -1},
		} {
			got, info, _, err := get(t, c, "File.Get", req, native.Range(tc.spec, tc.ifRange))
			if err != nil || got != body[tc.off:tc.off+tc.n] || info.Offset != tc.off || info.Length != tc.n || info.Size != tc.size || info.Partial() != (tc.size >= 0) {
				t.Errorf("%s: Range(%q, %q): %d bytes, %+v, %v; want %d at %d of %d", name, tc.spec, tc.ifRange, len(got), info, err, tc.n, tc.off, tc.size)
			}
		}
		_, _, hdr, err := get(t, c, "File.Get", req, native.Range("bytes=10000-", ""))
		if native.CodeOf(err) != native.CodeOutOfRange || hdr.Get(native.RangeSizeKey) != "10000" {
			t.Errorf("%s: a range past the end: %v, header %v", name, err, hdr)
		}
		got, info, _, err = get(t, c, "File.Get", req, native.HeadOnly())
		if err != nil || got != "" || info.Length != 10000 || info.ETag != etag {
			t.Errorf("%s: HeadOnly: %q, %+v, %v", name, got, info, err)
		}
		got, info, _, err = get(t, c, "Mem.Get", req, native.Range("bytes=-3", `"d"`))
		if err != nil || got != "789" || info.Offset != 7 || info.Length != 3 || info.Size != 10 || info.ContentType != "text/x-digits" {
			t.Errorf("%s: ServeContent with a range: %q, %+v, %v", name, got, info, err)
		}
	}
	waitUntil(t, "every file closed", func() bool {
		for _, f := range opened {
			if _, err := f.Stat(); err == nil {
				return false
			}
		}
		return true
	})
}

// A stream that ends short of the length it announced, or runs past it,
// fails with DATA_LOSS: never a clean end.
func TestStreamShortOfItsLength(t *testing.T) {
	var opened []*os.File
	srv := streamServer(t, &opened)
	for name, c := range callers(t, srv) {
		for _, tc := range []struct{ announce, send int64 }{{100, 60}, {100, 0}, {10, 5000}, {1 << 20, 1<<20 - 1}} {
			got, info, _, err := get(t, c, "Lie.Get", &fileReq{Announce: tc.announce, Send: tc.send})
			if native.CodeOf(err) != native.CodeDataLoss || info.Length != tc.announce || int64(len(got)) > tc.announce {
				t.Errorf("%s: announced %d, sent %d: read %d bytes, %v", name, tc.announce, tc.send, len(got), err)
			}
		}
		if got, _, _, err := get(t, c, "Lie.Get", &fileReq{Announce: 100, Send: 100}); err != nil || len(got) != 100 {
			t.Errorf("%s: an honest stream: %d bytes, %v", name, len(got), err)
		}
	}
}
