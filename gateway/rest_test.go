package gateway

// Issue 5: the REST front door, exercised with net/http against httptest
// servers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/framegate/framegate/native"
)

// readAll reads and closes a response body.
func readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// do sends a request and returns the response with its whole body read.
// A body goes with Content-Type: application/json unless hdr names
// another ("": none).
func do(t testing.TB, method, u string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return doWith(t, http.DefaultClient, method, u, body, hdr...)
}

// doWith is do with client c.
func doWith(t testing.TB, c *http.Client, method, u string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if http.CanonicalHeaderKey(hdr[i]) == "Content-Type" {
			req.Header.Del("Content-Type")
			if hdr[i+1] == "" {
				continue // none at all
			}
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readAll(resp)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp, b
}

// restStatus is grpc-gateway's error body.
type restStatus struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
}

// wantStatus checks an error response: its HTTP status, and a JSON status
// body with the gRPC code and a message containing msg.
func wantStatus(t testing.TB, resp *http.Response, body []byte, code codes.Code, msg string) {
	t.Helper()
	var st restStatus
	if err := json.Unmarshal(body, &st); err != nil || st.Code == nil {
		t.Fatalf("status %d, body %q is not a JSON status (%v)", resp.StatusCode, body, err)
	}
	if want := runtime.HTTPStatusFromCode(code); resp.StatusCode != want || codes.Code(*st.Code) != code || !strings.Contains(st.Message, msg) {
		t.Fatalf("got %d %s, want %d with code %d and a message containing %q", resp.StatusCode, body, want, code, msg)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
}

func TestRESTUnary(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		v := fxValues{Name: "x", I64: 1<<53 + 1, U64: 1<<64 - 1, Tags: []string{"a", "b"}, Node: &fxNode{Name: "n"},
			OptS: ptr(""), T: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}
		body, _ := json.Marshal(v)
		resp, post := do(t, http.MethodPost, e.http.URL+"/native.Values/Echo", bytes.NewReader(body))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("POST: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), post)
		}
		var back fxValues
		if err := json.Unmarshal(post, &back); err != nil || !reflect.DeepEqual(normalize(t, back), v) {
			t.Fatalf("POST echo %s (%v)", post, err)
		}
		// The same request as query parameters.
		q := url.Values{"name": {"x"}, "i64": {"9007199254740993"}, "u64": {"18446744073709551615"}, "tags": {"a", "b"},
			"node.name": {"n"}, "optS": {""}, "t": {"2024-01-02T03:04:05.000000006Z"}}
		resp, get := do(t, http.MethodGet, e.http.URL+"/native.Values/Echo?"+q.Encode(), nil)
		if resp.StatusCode != 200 || !bytes.Equal(get, post) {
			t.Fatalf("GET: %d\n %s\nwant\n %s", resp.StatusCode, get, post)
		}
		// A bare value, and no request at all.
		resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Double", strings.NewReader("21"))
		if resp.StatusCode != 200 || string(b) != "42" {
			t.Fatalf("Double: %d %s", resp.StatusCode, b)
		}
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Values/Double?value=-4", nil)
		if resp.StatusCode != 200 || string(b) != "-8" {
			t.Fatalf("Double by query: %d %s", resp.StatusCode, b)
		}
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Default/Ping", nil)
		if resp.StatusCode != 200 || string(b) != "{}" {
			t.Fatalf("Ping: %d %s", resp.StatusCode, b)
		}
		if !hasEvent(e, "Values.Echo", func(ev CallEvent) bool { return ev.Protocol == "http" && ev.Code == 0 }) {
			t.Errorf("events %+v", e.callEvents())
		}
	})
}

func TestRESTBadRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		u := e.http.URL + "/native.Values/Echo"
		resp, b := do(t, http.MethodGet, u+"?name=x&nope=1", nil)
		wantStatus(t, resp, b, codes.InvalidArgument, `"nope"`)
		resp, b = do(t, http.MethodGet, u+"?node.nope=1", nil)
		wantStatus(t, resp, b, codes.InvalidArgument, `"nope"`)
		resp, b = do(t, http.MethodGet, u+"?i64=twelve", nil)
		wantStatus(t, resp, b, codes.InvalidArgument, "")
		resp, b = do(t, http.MethodPost, u, strings.NewReader(`{"name":`))
		wantStatus(t, resp, b, codes.InvalidArgument, "invalid JSON")
		resp, b = do(t, http.MethodPost, u, strings.NewReader(`{"i64":"x"}`))
		wantStatus(t, resp, b, codes.InvalidArgument, "i64")
		resp, b = do(t, http.MethodPost, u, strings.NewReader(`{"i64":18446744073709551616}`))
		wantStatus(t, resp, b, codes.InvalidArgument, "i64")
		resp, b = do(t, http.MethodPost, u, strings.NewReader(`[]`))
		wantStatus(t, resp, b, codes.InvalidArgument, "")
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Default/Ping?x=1", nil)
		wantStatus(t, resp, b, codes.InvalidArgument, "no request fields")
	})
}

func TestRESTErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
			msg := fmt.Sprintf("failure %v: ünïcode & <stuff>", c)
			body, _ := json.Marshal(fxFail{Code: uint32(c), Message: msg})
			resp, b := do(t, http.MethodPost, e.http.URL+"/native.Errors/Fail", bytes.NewReader(body))
			wantStatus(t, resp, b, c, msg)
		}
		// An error is never OK, even with the code OK.
		resp, b := do(t, http.MethodPost, e.http.URL+"/native.Errors/Fail", strings.NewReader(`{"code":0,"message":"not ok"}`))
		wantStatus(t, resp, b, codes.Unknown, "not ok")
		// A stream that fails before its first byte is an error response.
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Blob/Download?size=10&failAt=0&failCode=7", nil)
		wantStatus(t, resp, b, codes.PermissionDenied, "")
	})
}

// Unknown paths answer 404 with a JSON status.
func TestRESTNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, p := range []string{"/native.Nope/X", "/native.Values/Nope", "/nope", "/a/b/c", "/v1/endpoints/Values.Nope"} {
			resp, b := do(t, http.MethodGet, e.http.URL+p, nil)
			wantStatus(t, resp, b, codes.NotFound, "")
		}
	})
}

func TestRESTDownload(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		const size = 3<<20 + 17
		resp, b := do(t, http.MethodGet, e.http.URL+fmt.Sprintf("/native.Blob/Download?size=%d&seed=11", size), nil)
		if resp.StatusCode != 200 || !bytes.Equal(b, fxData(11, size)) {
			t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(b))
		}
		if !hasEvent(e, "Blob.Download", func(ev CallEvent) bool { return ev.BytesOut == size && ev.Code == 0 }) {
			t.Errorf("no Blob.Download event with %d bytes out: %+v", size, e.callEvents())
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("Content-Type %q", ct)
		}
		if got := resp.Header.Get("Grpc-Metadata-X-Blob-Seed"); got != "11" {
			t.Errorf("header metadata %v", resp.Header)
		}
		if got := resp.Trailer.Get("Grpc-Status"); got != "0" {
			t.Errorf("trailer Grpc-Status %q (trailer %v)", got, resp.Trailer)
		}
		if got := resp.Trailer.Get("Grpc-Metadata-X-Blob-Size"); got != fmt.Sprint(size) {
			t.Errorf("trailer metadata: %v", resp.Trailer)
		}
		// POST with a JSON body, and the handler's content type.
		resp, b = do(t, http.MethodPost, e.http.URL+"/native.Blob/Download", strings.NewReader(`{"size":5,"seed":1,"contentType":"text/plain; charset=utf-8"}`))
		if resp.StatusCode != 200 || !bytes.Equal(b, fxData(1, 5)) || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("download: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		// An empty stream.
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Blob/Download?size=0", nil)
		if resp.StatusCode != 200 || len(b) != 0 || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Fatalf("empty download: %d %q %v", resp.StatusCode, b, resp.Trailer)
		}
	})
}

// A stream that breaks after it began is a broken transfer for the client.
func TestRESTDownloadBroken(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		const failAt = 2<<20 + 3
		resp, err := http.Get(e.http.URL + fmt.Sprintf("/native.Blob/Download?size=%d&seed=2&failAt=%d&failCode=15", 4<<20, failAt))
		if err != nil {
			t.Fatal(err)
		}
		b, err := readAll(resp)
		if err == nil {
			t.Fatalf("a broken stream read as complete: %d bytes, trailer %v", len(b), resp.Trailer)
		}
		if resp.StatusCode != 200 || !bytes.Equal(b, fxData(2, failAt)) {
			t.Fatalf("got %d, %d bytes before the break, want %d", resp.StatusCode, len(b), failAt)
		}
	})
}

func TestRESTUpload(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		payload := fxData(6, 2<<20+9)
		for _, m := range []string{http.MethodPut, http.MethodPost} {
			resp, b := do(t, m, e.http.URL+"/native.Blob/Upload", bytes.NewReader(payload))
			var s fxSum
			if resp.StatusCode != 200 || json.Unmarshal(b, &s) != nil || s != (fxSum{int64(len(payload)), sha(payload)}) {
				t.Fatalf("%s upload: %d %s", m, resp.StatusCode, b)
			}
		}
		if !hasEvent(e, "Blob.Upload", func(ev CallEvent) bool { return ev.Protocol == "http" && ev.BytesIn == int64(len(payload)) }) {
			t.Errorf("no Blob.Upload event with %d bytes in: %+v", len(payload), e.callEvents())
		}
		// An empty body.
		resp, b := do(t, http.MethodPut, e.http.URL+"/native.Blob/Upload", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(b), sha(nil)) {
			t.Fatalf("empty upload: %d %s", resp.StatusCode, b)
		}
		// json+stream: the JSON fields from the query.
		resp, b = do(t, http.MethodPut, e.http.URL+"/native.Blob/Put?name=f.bin&mode=420&tags=a&tags=b", bytes.NewReader(payload))
		var pr fxPutResp
		if err := json.Unmarshal(b, &pr); err != nil || resp.StatusCode != 200 {
			t.Fatalf("put: %d %s", resp.StatusCode, b)
		}
		if want := (fxPutResp{fxPut{"f.bin", 420, []string{"a", "b"}}, fxSum{int64(len(payload)), sha(payload)}}); !reflect.DeepEqual(pr, want) {
			t.Fatalf("put: %+v, want %+v", pr, want)
		}
		resp, b = do(t, http.MethodPut, e.http.URL+"/native.Blob/Put?nope=1", bytes.NewReader(payload))
		wantStatus(t, resp, b, codes.InvalidArgument, `"nope"`)
		// Refused without reading: the error, whatever the client sends.
		resp, b = do(t, http.MethodPut, e.http.URL+"/native.Blob/Refuse", bytes.NewReader(payload))
		wantStatus(t, resp, b, codes.PermissionDenied, "uploads refused")
	})
}

// The request body reaches the handler while the client is still sending.
func TestRESTUploadIsStreamed(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, m := range []string{http.MethodPut, http.MethodPost} {
			id, p := e.probes.add()
			one, two := fxData(1, 64<<10), fxData(2, 1<<20)
			pr, pw := io.Pipe()
			go func() {
				if _, err := pw.Write(one); err != nil {
					pw.CloseWithError(err)
					return
				}
				select {
				case <-p.started:
				case <-time.After(30 * time.Second):
					pw.CloseWithError(fmt.Errorf("the handler never got the first chunk"))
					return
				}
				pw.Write(two)
				pw.Close()
			}()
			resp, b := do(t, m, e.http.URL+fmt.Sprintf("/native.Blob/Paced?id=%s&first=%d", id, len(one)), pr)
			var s fxSum
			if resp.StatusCode != 200 || json.Unmarshal(b, &s) != nil || s.SHA256 != sha(append(one, two...)) {
				t.Fatalf("%s paced upload: %d %s", m, resp.StatusCode, b)
			}
		}
	})
}

func TestRESTDeadline(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		start := time.Now()
		resp, b := do(t, http.MethodGet, e.http.URL+"/native.Meta/Peek", nil, "Grpc-Timeout", "60S")
		var m fxMetaResp
		if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if !m.HasDeadline || !near(m.Deadline, start.Add(time.Minute), 2*time.Second) {
			t.Fatalf("handler deadline %v (%v), want about %v", m.Deadline, m.HasDeadline, start.Add(time.Minute))
		}
		_, b = do(t, http.MethodGet, e.http.URL+"/native.Meta/Peek", nil)
		if json.Unmarshal(b, &m) != nil || m.HasDeadline {
			t.Fatalf("no Grpc-Timeout, deadline %s", b)
		}
		// A deadline that passes ends the handler's context.
		id, p := e.probes.add()
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Slow/Wait?id="+id, nil, "Grpc-Timeout", "1S")
		wantStatus(t, resp, b, codes.DeadlineExceeded, "")
		wait(t, p.done, "the handler to see its deadline")
		resp, b = do(t, http.MethodGet, e.http.URL+"/native.Meta/Peek", nil, "Grpc-Timeout", "soon")
		wantStatus(t, resp, b, codes.InvalidArgument, "grpc-timeout")
	})
}

// A client that goes away cancels the handler's context.
func TestRESTCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		id, p := e.probes.add()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/native.Slow/Stream?id="+id, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(stallChunk))
		if _, err := io.ReadFull(resp.Body, buf); err != nil || !bytes.Equal(buf, stallChunk) {
			t.Fatalf("first chunk %q %v", buf, err)
		}
		wait(t, p.started, "the stream to stall")
		cancel()
		resp.Body.Close()
		wait(t, p.done, "the handler to see the client go")
	})
}

func TestRESTMetadata(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		resp, b := do(t, http.MethodPost, e.http.URL+"/native.Meta/Echo",
			strings.NewReader(`{"header":{"x-hdr":"h1"},"trailer":{"x-trl":"t1"}}`),
			"X-Request-Id", "r-1", "X-App-User", "bob", "X-App-User", "alice", "X-Secret", "s", "Authorization", "Bearer t",
			"Cookie", "c=1", "Grpc-Metadata-X-Other", "o")
		var m fxMetaResp
		if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if want := map[string][]string{"x-request-id": {"r-1"}, "x-app-user": {"bob", "alice"}}; !reflect.DeepEqual(m.Incoming, want) {
			t.Errorf("incoming %v, want %v", m.Incoming, want)
		}
		if got := resp.Header.Get("Grpc-Metadata-X-Hdr"); got != "h1" {
			t.Errorf("header metadata: %v", resp.Header)
		}
		if got := resp.Header.Get("Grpc-Metadata-X-Trl"); got != "t1" {
			t.Errorf("trailer metadata: %v", resp.Header)
		}
	}, WithMetadataAllowlist("x-request-id", "x-app-*"))
}

func TestRESTAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		resp, b := do(t, http.MethodGet, e.http.URL+"/v1/endpoints", nil)
		var list struct {
			Endpoints []struct {
				Name, GrpcMethod, HttpPath string
			}
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		schema, _ := e.srv.Schema()
		if len(list.Endpoints) != len(schema.Endpoints) {
			t.Fatalf("%d endpoints listed, %d served", len(list.Endpoints), len(schema.Endpoints))
		}
		for _, ep := range list.Endpoints {
			if ep.Name == "Values.Echo" && (ep.GrpcMethod != "/native.Values/Echo" || ep.HttpPath != "/native.Values/Echo") {
				t.Errorf("Values.Echo: %+v", ep)
			}
		}
		resp, b = do(t, http.MethodGet, e.http.URL+"/v1/endpoints/Values.Echo", nil)
		var one struct {
			Endpoint struct{ Name string }
			Schema   struct{ Messages map[string]any }
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &one) != nil || one.Endpoint.Name != "Values.Echo" || one.Schema.Messages["gateway.fxValues"] == nil {
			t.Fatalf("GetSchema: %d %.300s", resp.StatusCode, b)
		}
	})
}

func TestRESTRefresh(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.http.URL + "/native.Extra/Hello?name=you"
		resp, b := do(t, http.MethodGet, u, nil)
		wantStatus(t, resp, b, codes.NotFound, "")
		e.srv.Register("Extra.Hello", func(req *fxPut, resp *fxPut) error { *resp = *req; resp.Name += "!"; return nil }, native.Safe())
		if err := e.gw.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		resp, b = do(t, http.MethodGet, u, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"you!"`) {
			t.Fatalf("after Refresh: %d %s", resp.StatusCode, b)
		}
		e.srv.Unregister("Extra.Hello")
		if err := e.gw.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		resp, b = do(t, http.MethodGet, u, nil)
		wantStatus(t, resp, b, codes.NotFound, "")

		// Refresh while requests run.
		stop := make(chan struct{})
		errc := make(chan error, 4)
		var wg sync.WaitGroup
		halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer halt() // also when the test fails early
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						errc <- nil
						return
					default:
					}
					resp, err := http.Get(e.http.URL + "/native.Values/Double?value=4")
					if err == nil {
						var b []byte
						if b, err = readAll(resp); err == nil && string(b) != "8" {
							err = fmt.Errorf("Double: %d %s", resp.StatusCode, b)
						}
					}
					if err != nil {
						errc <- err
						<-stop
						return
					}
				}
			}()
		}
		for i := range 10 {
			name := fmt.Sprintf("Extra%d.Hello", i%3)
			e.srv.Register(name, func(req *fxPut, resp *fxPut) error { return nil }, native.Safe())
			if err := e.gw.Refresh(ctx); err != nil {
				t.Error(err)
			}
			if resp, b := do(t, http.MethodGet, e.http.URL+"/native."+strings.TrimSuffix(name, ".Hello")+"/Hello", nil); resp.StatusCode != 200 {
				t.Errorf("%s after Refresh: %d %s", name, resp.StatusCode, b)
			}
			e.srv.Unregister(name)
			if err := e.gw.Refresh(ctx); err != nil {
				t.Error(err)
			}
		}
		halt()
		for range 3 {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	})
}

// Over HTTP/2 a broken stream is a reset stream, and trailers are trailers.
func TestRESTHTTP2(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		hs := httptest.NewUnstartedServer(e.gw.HTTPHandler())
		hs.EnableHTTP2 = true
		hs.StartTLS()
		defer hs.Close()
		c := hs.Client()
		resp, err := c.Get(hs.URL + "/native.Blob/Download?size=1000000&seed=4")
		if err != nil {
			t.Fatal(err)
		}
		b, err := readAll(resp)
		if err != nil || resp.ProtoMajor != 2 || !bytes.Equal(b, fxData(4, 1000000)) {
			t.Fatalf("HTTP/%d download: %d bytes, %v", resp.ProtoMajor, len(b), err)
		}
		if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Metadata-X-Blob-Size") != "1000000" {
			t.Errorf("trailer %v", resp.Trailer)
		}
		resp, err = c.Get(hs.URL + "/native.Blob/Download?size=1000000&seed=4&failAt=300000&failCode=15")
		if err != nil {
			t.Fatal(err)
		}
		if b, err = readAll(resp); err == nil {
			t.Fatalf("a broken HTTP/2 stream read as complete: %d bytes", len(b))
		}
		if !hasEvent(e, "Blob.Download", func(ev CallEvent) bool { return codes.Code(ev.Code) == codes.DataLoss && ev.Protocol == "http" }) {
			t.Errorf("no DataLoss event for the broken HTTP/2 stream: %+v", e.callEvents())
		}
	})
}
