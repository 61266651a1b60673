package gateway

// Issue 14, item 5: JSON answers of the REST front door are compressed for
// clients that ask, byte streams never are, and gRPC takes gzip-compressed
// messages.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// rawDo sends a request with a transport that neither asks for compression
// by itself nor decodes it (Go's does both unless told otherwise), and
// returns the response with its body as it came on the wire. A body goes
// as JSON.
func rawDo(t testing.TB, method, u, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	return doWith(t, &http.Client{Transport: tr}, method, u, rb, hdr...)
}

// gunzip decodes a whole gzip stream, checksum included.
func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v (%q)", err, b[:min(len(b), 64)])
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("a broken gzip stream: %v", err)
	}
	return out
}

func unzstd(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("a broken zstd stream: %v", err)
	}
	return out
}

// varies reports whether the response says it varies with Accept-Encoding.
func varies(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Vary") {
		if strings.Contains(strings.ToLower(v), "accept-encoding") {
			return true
		}
	}
	return false
}

// bigEcho is a Values.Echo request whose JSON answer is well over gzhttp's
// minimum size.
var bigEcho = `{"name":"` + strings.Repeat("compress me ", 300) + `","tags":["a","b"]}`

func TestRESTCompression(t *testing.T) {
	e := newEnv(t, "local")
	echo := e.http.URL + "/native.Values/Echo"
	plainResp, plain := rawDo(t, http.MethodPost, echo, bigEcho)
	if plainResp.StatusCode != 200 || plainResp.Header.Get("Content-Encoding") != "" || !varies(plainResp) ||
		plainResp.Header.Get("Content-Length") != strconv.Itoa(len(plain)) || !json.Valid(plain) {
		t.Fatalf("without Accept-Encoding: %d %v %.80s", plainResp.StatusCode, plainResp.Header, plain)
	}

	t.Run("gzip", func(t *testing.T) {
		resp, b := rawDo(t, http.MethodPost, echo, bigEcho, "Accept-Encoding", "gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !varies(resp) || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		// The handler's Content-Length was the uncompressed one: gone.
		if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(b)) {
			t.Errorf("Content-Length %s for %d bytes on the wire", cl, len(b))
		}
		if len(b) >= len(plain) {
			t.Errorf("compressed to %d bytes from %d", len(b), len(plain))
		}
		if got := gunzip(t, b); !bytes.Equal(got, plain) {
			t.Errorf("decoded %q\nwant %q", got, plain)
		}
		// GET with the query: the same.
		resp, b = rawDo(t, http.MethodGet, echo+"?name=x&tags="+strings.Repeat("t", 2000), "", "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || !json.Valid(gunzip(t, b)) {
			t.Errorf("GET: %v", resp.Header)
		}
	})

	t.Run("zstd", func(t *testing.T) {
		for ae, want := range map[string]string{
			"zstd":                    "zstd",
			"zstd, gzip;q=0.5":        "zstd",
			"gzip, deflate, br, zstd": "gzip", // curl --compressed: gzip on a tie
			"identity":                "",
			"gzip;q=0, zstd;q=0":      "",
			"*":                       "", // gzhttp's default: a wildcard is no request
		} {
			resp, b := rawDo(t, http.MethodPost, echo, bigEcho, "Accept-Encoding", ae)
			got := resp.Header.Get("Content-Encoding")
			if got != want {
				t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", ae, got, want)
				continue
			}
			switch got {
			case "gzip":
				b = gunzip(t, b)
			case "zstd":
				b = unzstd(t, b)
			}
			if !bytes.Equal(b, plain) {
				t.Errorf("Accept-Encoding %q: decoded %.80q", ae, b)
			}
		}
	})

	t.Run("small answers stay plain", func(t *testing.T) {
		resp, b := rawDo(t, http.MethodPost, echo, `{"name":"x"}`, "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) || !json.Valid(b) {
			t.Errorf("%v %s", resp.Header, b)
		}
	})

	t.Run("errors", func(t *testing.T) {
		msg := strings.Repeat("not found, at length. ", 100)
		body, _ := json.Marshal(fxFail{Code: uint32(codes.NotFound), Message: msg})
		resp, b := rawDo(t, http.MethodPost, e.http.URL+"/native.Errors/Fail", string(body), "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || !varies(resp) {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		wantStatus(t, resp, gunzip(t, b), codes.NotFound, msg)
		// A 404 of the router, too short to be worth it, is plain.
		resp, b = rawDo(t, http.MethodGet, e.http.URL+"/native.Nope/Nothing", "", "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("short 404: %v", resp.Header)
		}
		wantStatus(t, resp, b, codes.NotFound, "")
	})

	t.Run("the gateway's API", func(t *testing.T) {
		for _, p := range []string{"/openapi.json", "/v1/endpoints", "/v1/endpoints/Values.Echo"} {
			_, want := rawDo(t, http.MethodGet, e.http.URL+p, "")
			resp, b := rawDo(t, http.MethodGet, e.http.URL+p, "", "Accept-Encoding", "gzip")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, b), want) {
				t.Errorf("GET %s: %d %v", p, resp.StatusCode, resp.Header)
			}
		}
		// The descriptors are protobuf, not JSON.
		resp, b := rawDo(t, http.MethodGet, e.http.URL+"/v1/descriptors", "", "Accept-Encoding", "gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Errorf("GET /v1/descriptors: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		// With gzip asked, the same header as without, and no body.
		for _, p := range []string{"/openapi.json", "/native.Values/Echo?name=" + strings.Repeat("x", 3000), "/native.Blob/Download?size=5000&seed=1"} {
			want, _ := rawDo(t, http.MethodHead, e.http.URL+p, "")
			resp, b := rawDo(t, http.MethodHead, e.http.URL+p, "", "Accept-Encoding", "gzip")
			if resp.StatusCode != want.StatusCode || len(b) != 0 || resp.Header.Get("Content-Encoding") != "" ||
				resp.Header.Get("Content-Length") != want.Header.Get("Content-Length") {
				t.Errorf("HEAD %s: %d %v; without gzip %d %v", p, resp.StatusCode, resp.Header, want.StatusCode, want.Header)
			}
		}
	})

	t.Run("Go's client", func(t *testing.T) {
		// It asks for gzip by itself and decodes it out of sight.
		resp, b := do(t, http.MethodPost, echo, strings.NewReader(bigEcho))
		if !resp.Uncompressed || !bytes.Equal(b, plain) {
			t.Errorf("uncompressed %v: %.80s", resp.Uncompressed, b)
		}
	})
}

// Byte streams go as they come, whatever their content type and whatever
// the client asks; a broken one is still a broken transfer.
func TestRESTCompressionStreams(t *testing.T) {
	e := newEnv(t, "local")
	const size = 1<<20 + 5
	for _, ct := range []string{"", "application/json", "text/plain"} {
		body := fmt.Sprintf(`{"size":%d,"seed":3,"contentType":%q}`, size, ct)
		resp, b := rawDo(t, http.MethodPost, e.http.URL+"/native.Blob/Download", body, "Accept-Encoding", "gzip, zstd")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, fxData(3, size)) {
			t.Errorf("content type %q: %d %v, %d bytes", ct, resp.StatusCode, resp.Header, len(b))
		}
		if resp.Trailer.Get("Grpc-Status") != "0" || resp.Header.Get(noCompressionHeader) != "" {
			t.Errorf("content type %q: header %v, trailer %v", ct, resp.Header, resp.Trailer)
		}
	}
	// An empty stream: its status is a trailer only, as without compression.
	resp, b := rawDo(t, http.MethodGet, e.http.URL+"/native.Blob/Download?size=0", "", "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("Grpc-Status") != "" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("empty stream: %d %q, header %v, trailer %v", resp.StatusCode, b, resp.Header, resp.Trailer)
	}

	t.Run("validators and ranges", func(t *testing.T) {
		// A file download: JSON by its name, with a length, an ETag and
		// ranges, all of which compression would make wrong.
		path := filepath.Join(t.TempDir(), "f.json")
		content := []byte(`{"a":"` + strings.Repeat("b", 5000) + `"}`)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		u := e.http.URL + "/native.Blob/File?path=" + url.QueryEscape(path)
		resp, b := rawDo(t, http.MethodGet, u, "", "Accept-Encoding", "gzip")
		etag := resp.Header.Get("Etag")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Content-Encoding") != "" ||
			resp.Header.Get("Content-Length") != strconv.Itoa(len(content)) || etag == "" || !bytes.Equal(b, content) {
			t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
		}
		resp, b = rawDo(t, http.MethodGet, u, "", "Accept-Encoding", "gzip", "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified || len(b) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Etag") != etag {
			t.Errorf("If-None-Match: %d %v", resp.StatusCode, resp.Header)
		}
		resp, b = rawDo(t, http.MethodGet, u, "", "Accept-Encoding", "gzip", "Range", "bytes=10-19")
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, content[10:20]) {
			t.Errorf("Range: %d %v %q", resp.StatusCode, resp.Header, b)
		}
	})

	t.Run("aborted", func(t *testing.T) {
		const failAt = 1<<20 + 3
		for _, ct := range []string{"", "application/json"} {
			req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/native.Blob/Download",
				strings.NewReader(fmt.Sprintf(`{"size":%d,"seed":2,"failAt":%d,"failCode":15,"contentType":%q}`, 4<<20, failAt, ct)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := readAll(resp)
			if err == nil {
				t.Fatalf("content type %q: a broken stream read as complete: %d bytes, trailer %v", ct, len(b), resp.Trailer)
			}
			if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, fxData(2, failAt)) {
				t.Errorf("content type %q: %v, %d bytes before the break, want %d", ct, resp.Header, len(b), failAt)
			}
		}
	})

	t.Run("HTTP/2", func(t *testing.T) {
		hs := httptest.NewUnstartedServer(e.gw.HTTPHandler())
		hs.EnableHTTP2 = true
		hs.StartTLS()
		defer hs.Close()
		c := hs.Client()
		get := func(u string) (*http.Response, []byte, error) {
			req, _ := http.NewRequest(http.MethodGet, hs.URL+u, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := readAll(resp)
			return resp, b, err
		}
		resp, b, err := get("/native.Blob/Download?size=300000&seed=4&contentType=application/json")
		if err != nil || resp.ProtoMajor != 2 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, fxData(4, 300000)) {
			t.Fatalf("HTTP/%d: %v, %d bytes, %v", resp.ProtoMajor, resp.Header, len(b), err)
		}
		if _, b, err = get("/native.Blob/Download?size=1000000&seed=4&failAt=300000&failCode=15"); err == nil {
			t.Fatalf("a broken HTTP/2 stream read as complete: %d bytes", len(b))
		}
		resp, b, err = get("/native.Values/Echo?name=" + strings.Repeat("x", 3000))
		if err != nil || resp.Header.Get("Content-Encoding") != "gzip" || !json.Valid(gunzip(t, b)) {
			t.Fatalf("HTTP/2 JSON: %v, %v", resp.Header, err)
		}
	})
}

// A page of an allowed origin gets compressed JSON with its CORS headers.
func TestRESTCompressionCORS(t *testing.T) {
	e := newEnv(t, "local", WithCORSOrigins(trustedOrigin))
	resp, b := rawDo(t, http.MethodPost, e.http.URL+"/native.Values/Echo", bigEcho, "Accept-Encoding", "gzip",
		"Origin", trustedOrigin, "Sec-Fetch-Site", "cross-site")
	vary := strings.Join(resp.Header.Values("Vary"), ", ")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Access-Control-Allow-Origin") != trustedOrigin ||
		resp.Header.Get("Access-Control-Expose-Headers") == "" || !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept-Encoding") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if !json.Valid(gunzip(t, b)) {
		t.Errorf("not JSON")
	}
}

// noCompressionHeader is gzhttp.HeaderNoCompression: the mark must never
// reach a client.
const noCompressionHeader = "No-Gzip-Compression"

func TestRESTCompressionOff(t *testing.T) {
	e := newEnv(t, "local", WithCompression(false))
	resp, b := rawDo(t, http.MethodPost, e.http.URL+"/native.Values/Echo", bigEcho, "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "" || varies(resp) || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) || !json.Valid(b) {
		t.Errorf("JSON: %v", resp.Header)
	}
	resp, b = rawDo(t, http.MethodGet, e.http.URL+"/native.Blob/Download?size=5000&seed=1", "", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get(noCompressionHeader) != "" || !bytes.Equal(b, fxData(1, 5000)) {
		t.Errorf("stream: %v", resp.Header)
	}
}

// What gzhttp, as the gateway sets it up, does with what the gateway does
// not send yet but a handler might: a compressed answer that streams
// (flushed as it goes, not held until its end) and then breaks, HEAD, 304
// and an explicit Content-Length.
func TestCompressHandler(t *testing.T) {
	chunk := bytes.Repeat([]byte(`{"n":1}`+"\n"), 400)
	var mu sync.Mutex
	waits := map[string]chan struct{}{}
	wait := func(id string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if waits[id] == nil {
			waits[id] = make(chan struct{})
		}
		return waits[id]
	}
	h := compressHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/stream":
			w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
			w.WriteHeader(200)
			rcl := http.NewResponseController(w)
			w.Write(chunk)
			rcl.Flush()
			<-wait(r.URL.Query().Get("id"))
			if r.URL.Query().Has("abort") {
				if !abortStream(r, rcl, status.New(codes.DataLoss, "broke")) {
					panic(http.ErrAbortHandler)
				}
				return
			}
			w.Write(chunk)
			w.Header().Set("Grpc-Status", "0")
		case "/etag":
			w.Header().Set("Etag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(chunk)))
			w.Write(chunk)
		}
	}))

	// stream reads the first chunk decoded while the handler waits, then
	// the rest: an error for a broken stream.
	stream := func(t *testing.T, c *http.Client, base, id, query string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/stream?id="+id+query, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("not compressed: %v", resp.Header)
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, len(chunk))
		if _, err := io.ReadFull(zr, first); err != nil || !bytes.Equal(first, chunk) {
			t.Fatalf("the first chunk before the handler went on: %v", err)
		}
		close(wait(id))
		rest, err := io.ReadAll(zr)
		if err == nil && !bytes.Equal(rest, chunk) {
			t.Errorf("the rest: %d bytes", len(rest))
		}
		return resp, err
	}

	hs := httptest.NewUnstartedServer(h)
	// An aborted compressed answer: gzhttp's Close writes the gzip footer
	// to the hijacked connection, which net/http logs.
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.Start()
	defer hs.Close()
	t.Run("HTTP/1.1", func(t *testing.T) {
		if resp, err := stream(t, hs.Client(), hs.URL, "1", ""); err != nil || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Errorf("a complete stream: %v, trailer %v", err, resp.Trailer)
		}
		if _, err := stream(t, hs.Client(), hs.URL, "2", "&abort"); err == nil {
			t.Error("an aborted compressed stream read as complete")
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		h2 := httptest.NewUnstartedServer(h)
		h2.EnableHTTP2 = true
		h2.StartTLS()
		defer h2.Close()
		if _, err := stream(t, h2.Client(), h2.URL, "3", ""); err != nil {
			t.Errorf("a complete stream: %v", err)
		}
		if _, err := stream(t, h2.Client(), h2.URL, "4", "&abort"); err == nil {
			t.Error("an aborted compressed stream read as complete")
		}
	})

	t.Run("HEAD, 304 and Content-Length", func(t *testing.T) {
		resp, b := rawDo(t, http.MethodGet, hs.URL+"/etag", "", "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, b), chunk) {
			t.Errorf("GET: %v", resp.Header)
		}
		if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(b)) {
			t.Errorf("GET: Content-Length %s for %d bytes", cl, len(b))
		}
		resp, b = rawDo(t, http.MethodHead, hs.URL+"/etag", "", "Accept-Encoding", "gzip")
		if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(chunk)) {
			t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
		}
		resp, b = rawDo(t, http.MethodGet, hs.URL+"/etag", "", "Accept-Encoding", "gzip", "If-None-Match", `"v1"`)
		if resp.StatusCode != http.StatusNotModified || len(b) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Etag") != `"v1"` {
			t.Errorf("304: %d %v %q", resp.StatusCode, resp.Header, b)
		}
	})
}

// encodings records the compression of a client's calls, both ways.
type encodings struct {
	mu       sync.Mutex
	out, in  []string // grpc-encoding sent, and answered
	compress int      // payload bytes sent compressed
}

func (s *encodings) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (s *encodings) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (s *encodings) HandleConn(context.Context, stats.ConnStats)                       {}
func (s *encodings) HandleRPC(_ context.Context, st stats.RPCStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st := st.(type) {
	case *stats.OutHeader:
		s.out = append(s.out, st.Compression)
	case *stats.InHeader:
		s.in = append(s.in, st.Compression)
	case *stats.OutPayload:
		s.compress += st.CompressedLength
	}
}

// A gRPC client that compresses its messages with gzip is served, and
// answered in gzip. The compressor is named, not imported: the test binary
// has it only because the gateway registers it.
func TestGRPCGzip(t *testing.T) {
	e := newEnv(t, "local")
	var enc encodings
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(&enc))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := newDyn(t, conn)
	enc.mu.Lock()
	enc.out, enc.in, enc.compress = nil, nil, 0 // reflection's calls
	enc.mu.Unlock()
	ctx := context.Background()
	name := strings.Repeat("gzip ", 1000)
	out, err := d.call(ctx, "native.Values/Echo", d.in("native.Values/Echo", `{"name":"`+name+`"}`), grpc.UseCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Get(out.Descriptor().Fields().ByName("name")).String(); got != name {
		t.Errorf("echo: %.40q", got)
	}
	enc.mu.Lock()
	if len(enc.out) != 1 || enc.out[0] != "gzip" || len(enc.in) != 1 || enc.in[0] != "gzip" || enc.compress == 0 || enc.compress >= len(name) {
		t.Errorf("sent %v (%d bytes compressed), answered %v", enc.out, enc.compress, enc.in)
	}
	enc.mu.Unlock()
	// A download too.
	b, _, err := d.download(ctx, "native.Blob/Download", d.in("native.Blob/Download", `{"size":100000,"seed":9}`), grpc.UseCompressor("gzip"))
	if err != nil || !bytes.Equal(b, fxData(9, 100000)) {
		t.Errorf("download: %d bytes, %v", len(b), err)
	}
}

// A small gzip message that inflates past the server's message limit is
// refused, not inflated.
func TestGRPCGzipBomb(t *testing.T) {
	e := newEnv(t, "local")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := e.gw.NewGRPCServer(grpc.MaxRecvMsgSize(64 << 10))
	done := make(chan struct{})
	go func() { defer close(done); gs.Serve(l) }()
	defer func() { gs.Stop(); <-done }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := newDyn(t, conn)
	_, err = d.call(context.Background(), "native.Values/Echo", d.in("native.Values/Echo", `{"name":"`+strings.Repeat("a", 1<<20)+`"}`),
		grpc.UseCompressor("gzip"), grpc.MaxCallSendMsgSize(4<<20))
	wantCode(t, err, codes.ResourceExhausted, "after decompression")
}

// curl --compressed, over HTTP/1.1 and HTTP/1.0: gzip on the wire, the
// same JSON out.
func TestRESTCompressionCurl(t *testing.T) {
	if _, err := os.Stat(curlPath); err != nil {
		t.Skipf("curl is not installed at %s: %v", curlPath, err)
	}
	e := newEnv(t, "local")
	echo := e.http.URL + "/native.Values/Echo"
	plain, stderr, exit := curl(t, nil, nil, "--json", bigEcho, echo)
	if exit != 0 || !json.Valid(plain) {
		t.Fatalf("exit %d %s: %.80s", exit, stderr, plain)
	}
	for _, proto := range []string{"--http1.1", "--http1.0"} {
		out, stderr, exit := curl(t, nil, nil, proto, "--compressed", "-D", "-", "--json", bigEcho, echo)
		hdr, body, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if exit != 0 || !ok {
			t.Fatalf("%s: exit %d %s: %.200s", proto, exit, stderr, out)
		}
		if !bytes.Contains(hdr, []byte("\r\nContent-Encoding: gzip\r\n")) || !bytes.Contains(hdr, []byte("\r\nVary: Accept-Encoding\r\n")) {
			t.Errorf("%s: header\n%s", proto, hdr)
		}
		if !bytes.Equal(body, plain) {
			t.Errorf("%s: body %.80q\nwant %.80q", proto, body, plain)
		}
		// -w reads the header too.
		out, _, _ = curl(t, nil, nil, proto, "--compressed", "-o", "/dev/null", "-w", "%header{content-encoding}", "--json", bigEcho, echo)
		if string(out) != "gzip" {
			t.Errorf("%s: -w %%header{content-encoding}: %q", proto, out)
		}
	}
	// A download is sent as it is, and a broken one still fails. (The
	// header goes to a file: -D - would mix the trailers into the bytes.)
	hdrFile := filepath.Join(t.TempDir(), "header")
	out, stderr, exit := curl(t, nil, nil, "--compressed", "-D", hdrFile, e.http.URL+"/native.Blob/Download?size=100000&seed=8&contentType=application/json")
	hdr, _ := os.ReadFile(hdrFile)
	if exit != 0 || bytes.Contains(bytes.ToLower(hdr), []byte("content-encoding")) || !bytes.Equal(out, fxData(8, 100000)) {
		t.Errorf("download: exit %d %s, %d bytes, header\n%s", exit, stderr, len(out), hdr)
	}
	out, _, exit = curl(t, nil, nil, "--compressed", fmt.Sprintf("%s/native.Blob/Download?size=%d&seed=5&failAt=%d&failCode=15", e.http.URL, 4<<20, 1<<20))
	if exit == 0 || !bytes.Equal(out, fxData(5, 1<<20)) {
		t.Errorf("aborted download: exit %d, %d bytes", exit, len(out))
	}
}
