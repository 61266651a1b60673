package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const trustedOrigin = "https://app.example"

// What a page on another site can make a browser send without asking
// first (no preflight) must not change state: a text/plain or form POST,
// or any POST from a foreign origin. Nothing reaches the handler.
func TestCrossSiteRequestsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tally := e.probes.tally.Load
		evil := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}
		for _, tc := range []struct {
			name, path, body string
			hdr              []string
			code             int
			want             string
		}{
			{"text/plain from another site", "/native.Values/Tally", `{}`, append([]string{"Content-Type", "text/plain"}, evil...),
				403, `request from origin \"https://evil.example\" may change state, and that origin is not allowed; to allow its pages, start the gateway with -cors-origin https://evil.example (gateway.WithCORSOrigins)`},
			{"a form from another site", "/native.Values/Tally", `a=1`, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, evil...), 403, "-cors-origin"},
			{"JSON from another site", "/native.Values/Tally", `{}`, append([]string{"Content-Type", "application/json"}, evil...), 403, "-cors-origin"},
			{"an upload from another site", "/native.Blob/Put?name=x", `bytes`, append([]string{"Content-Type", "text/plain"}, evil...), 403, "-cors-origin"},
			{"a foreign Origin without Sec-Fetch-Site", "/native.Values/Tally", `{}`, []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, 403, "-cors-origin"},
			{"text/plain without an Origin", "/native.Values/Tally", `{}`, []string{"Content-Type", "text/plain"},
				415, `endpoint \"Values.Tally\" takes a JSON body, not Content-Type \"text/plain\": send Content-Type: application/json (curl --json)`},
			{"a form without an Origin", "/native.Values/Echo", `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "send Content-Type: application/json"},
			{"a body without a Content-Type", "/native.Values/Tally", `{}`, []string{"Content-Type", ""}, 415, "not a body without a Content-Type"},
		} {
			resp, b := do(t, http.MethodPost, e.http.URL+tc.path, strings.NewReader(tc.body), tc.hdr...)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Errorf("%s: %d %s; want %d saying %q", tc.name, resp.StatusCode, b, tc.code, tc.want)
			}
		}
		if n := tally(); n != 0 {
			t.Fatalf("cross-site requests reached the endpoint %d times", n)
		}
		// A same-origin page, a JSON client, a GET from anywhere.
		for _, hdr := range [][]string{
			{"Sec-Fetch-Site", "same-origin", "Origin", e.http.URL},
			{"Origin", e.http.URL},
			{},
		} {
			if resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Tally", strings.NewReader(`{}`), hdr...); resp.StatusCode != 200 {
				t.Errorf("POST with %v: %d %s", hdr, resp.StatusCode, b)
			}
		}
		if resp, b := do(t, http.MethodGet, e.http.URL+"/native.Values/Echo?name=x", nil, evil...); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("a cross-site GET of a safe endpoint: %d %v %s", resp.StatusCode, resp.Header, b)
		}
	})
}

// Pages of an allowed origin get their preflights answered with what each
// endpoint takes, may call, and may read the status and metadata headers;
// other origins' preflights are refused with how to allow them.
func TestCORS(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		preflight := func(origin, path, method, headers string) (*http.Response, []byte) {
			return do(t, http.MethodOptions, e.http.URL+path, nil, "Origin", origin,
				"Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers)
		}
		for _, tc := range []struct{ path, methods string }{
			{"/native.Values/Echo", "GET, HEAD, POST"},
			{"/native.Values/Tally", "POST"},
			{"/native.Blob/Put", "POST, PUT"},
			{"/v1/endpoints", "GET, HEAD"},
		} {
			resp, b := preflight(trustedOrigin, tc.path, "POST", "Content-Type, X-Request-Id, X-Not-Passed, Authorization")
			h := resp.Header
			if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != trustedOrigin || h.Get("Access-Control-Allow-Methods") != tc.methods ||
				h.Get("Access-Control-Allow-Headers") != "content-type, x-request-id, authorization" || h.Get("Access-Control-Max-Age") != "600" ||
				!strings.Contains(h.Get("Vary"), "Origin") {
				t.Errorf("preflight of %s: %d %v %s", tc.path, resp.StatusCode, h, b)
			}
		}
		resp, b := preflight("https://evil.example", "/native.Values/Echo", "POST", "content-type")
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
			!strings.Contains(string(b), `origin \"https://evil.example\" is not allowed to call this gateway from a browser; to allow it, start the gateway with -cors-origin https://evil.example`) {
			t.Errorf("preflight from a refused origin: %d %v %s", resp.StatusCode, resp.Header, b)
		}

		resp, b = do(t, http.MethodPost, e.http.URL+"/native.Meta/Echo", strings.NewReader(`{"header":{"x-seen":"yes"}}`),
			"Origin", trustedOrigin, "Sec-Fetch-Site", "cross-site")
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != trustedOrigin ||
			h.Get("Access-Control-Expose-Headers") != "Grpc-Status, Grpc-Message, Content-Length, Content-Range, Content-Disposition, Etag, Last-Modified, Accept-Ranges, Grpc-Metadata-X-Seen" {
			t.Errorf("a call from the allowed origin: %d %v %s", resp.StatusCode, h, b)
		}
		resp, b = do(t, http.MethodPost, e.http.URL+"/native.Errors/Fail", strings.NewReader(`{"code":5,"message":"gone"}`),
			"Origin", trustedOrigin, "Sec-Fetch-Site", "cross-site")
		if resp.StatusCode != 404 || resp.Header.Get("Access-Control-Allow-Origin") != trustedOrigin {
			t.Errorf("an error to the allowed origin: %d %v %s", resp.StatusCode, resp.Header, b)
		}
	}, WithCORSOrigins(trustedOrigin))
}

func TestCORSOriginsChecked(t *testing.T) {
	for _, bad := range []string{"app.example", "https://app.example/path", "https://app.example?x", ""} {
		if _, err := newGateway(nil, []Option{WithCORSOrigins(bad)}); err == nil || !strings.Contains(err.Error(), "CORS origin") {
			t.Errorf("WithCORSOrigins(%q): %v", bad, err)
		}
	}
	if _, err := newGateway(nil, []Option{WithCORSOrigins("*", "http://localhost:3000", "https://app.example/")}); err != nil {
		t.Error(err)
	}
}

// HostCheck answers only the server's own names, so that a page whose
// name points at the server (DNS rebinding) cannot read from it.
func TestHostCheck(t *testing.T) {
	h := HostCheck(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }), "gw.internal", "Files.Example.")
	for host, want := range map[string]int{
		"127.0.0.1:8080":         200,
		"[::1]:8080":             200,
		"10.1.2.3":               200,
		"localhost:8080":         200,
		"app.localhost":          200,
		"gw.internal:443":        200,
		"files.example":          200,
		"evil.example:8080":      403,
		"localhost.evil.example": 403,
		"gw.internal.evil":       403,
		"":                       403,
	} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d %s; want %d", host, w.Code, w.Body, want)
		}
		if want == 403 && host != "" && !strings.Contains(w.Body.String(), "-allowed-host") {
			t.Errorf("Host %q: %s does not say how to allow it", host, w.Body)
		}
	}
}
