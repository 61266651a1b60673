package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/descriptorpb"
)

// GET and HEAD reach safe endpoints only; everything takes POST, uploads
// take PUT; anything else is 405 with the endpoint's own Allow. The
// OpenAPI document lists exactly those methods and the gRPC descriptors
// carry the declaration as idempotency_level.
func TestSafeMethods(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tally := e.probes.tally.Load
		for _, tc := range []struct {
			method, path string
			allow        string
		}{
			{http.MethodGet, "/native.Values/Tally", "POST"},
			{http.MethodHead, "/native.Values/Tally", "POST"},
			{http.MethodPut, "/native.Values/Tally", "POST"},
			{http.MethodDelete, "/native.Values/Tally", "POST"},
			{http.MethodPatch, "/native.Values/Echo", "GET, HEAD, POST"},
			{http.MethodPut, "/native.Values/Echo", "GET, HEAD, POST"},
			{http.MethodGet, "/native.Blob/Upload", "POST, PUT"},
		} {
			resp, b := do(t, tc.method, e.http.URL+tc.path, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
				t.Errorf("%s %s: %d, Allow %q, want 405 with Allow %q: %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow, b)
			}
			if tc.method != http.MethodHead && !strings.Contains(string(b), "use "+tc.allow+`"`) {
				t.Errorf("%s %s: %s does not say which methods to use", tc.method, tc.path, b)
			}
		}
		if n := tally(); n != 0 {
			t.Fatalf("refused methods reached the unsafe endpoint %d times", n)
		}
		resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Tally", nil)
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "1" || tally() != 1 {
			t.Fatalf("POST to the unsafe endpoint: %d %s, tally %d", resp.StatusCode, b, tally())
		}

		get, gb := do(t, http.MethodGet, e.http.URL+"/native.Values/Echo?name=x", nil)
		head, hb := do(t, http.MethodHead, e.http.URL+"/native.Values/Echo?name=x", nil)
		if get.StatusCode != 200 || head.StatusCode != 200 || len(hb) != 0 ||
			head.Header.Get("Content-Length") != get.Header.Get("Content-Length") || get.Header.Get("Content-Length") != strconv.Itoa(len(gb)) {
			t.Errorf("HEAD of a JSON answer: %d %q Content-Length %q; GET: %d Content-Length %q, %d bytes",
				head.StatusCode, hb, head.Header.Get("Content-Length"), get.StatusCode, get.Header.Get("Content-Length"), len(gb))
		}
		head, hb = do(t, http.MethodHead, e.http.URL+"/native.Blob/Download?size=10000000&contentType=text/x-test", nil)
		if head.StatusCode != 200 || len(hb) != 0 || head.Header.Get("Content-Type") != "text/x-test" || head.Header.Get("Grpc-Metadata-X-Blob-Seed") != "0" {
			t.Errorf("HEAD of a download: %d %q %v", head.StatusCode, hb, head.Header)
		}

		doc := loadOpenAPI(t, e)
		for path, want := range map[string][]string{
			"/native.Values/Tally":  {"POST"},
			"/native.Values/Echo":   {"GET", "HEAD", "POST"},
			"/native.Blob/Download": {"GET", "HEAD", "POST"},
			"/native.Blob/Upload":   {"POST", "PUT"},
		} {
			var got []string
			for m := range doc.Paths.Find(path).Operations() {
				got = append(got, m)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("OpenAPI %s: %v, want %v", path, got, want)
			}
		}

		d := newDyn(t, e.conn)
		for name, want := range map[string]descriptorpb.MethodOptions_IdempotencyLevel{
			"native.Values/Echo":  descriptorpb.MethodOptions_NO_SIDE_EFFECTS,
			"native.Values/Tally": descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN,
			"native.Blob/Upload":  descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN,
		} {
			opts, _ := d.method(name).Options().(*descriptorpb.MethodOptions)
			if got := opts.GetIdempotencyLevel(); got != want {
				t.Errorf("%s: idempotency_level %v, want %v", name, got, want)
			}
		}
	})
}

// HEAD of the gateway's own documents answers their GET's headers.
func TestHeadOfDocuments(t *testing.T) {
	e := newEnv(t, "local")
	for _, path := range []string{"/openapi.json", "/v1/endpoints", "/v1/descriptors"} {
		get, gb := do(t, http.MethodGet, e.http.URL+path, nil, "Accept-Encoding", "identity")
		head, hb := do(t, http.MethodHead, e.http.URL+path, nil, "Accept-Encoding", "identity")
		if get.StatusCode != 200 || head.StatusCode != 200 || len(hb) != 0 || len(gb) == 0 ||
			head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("%s: GET %d %q, HEAD %d %q (%d bytes)", path, get.StatusCode, get.Header.Get("Content-Type"), head.StatusCode, head.Header.Get("Content-Type"), len(hb))
		}
	}
}
