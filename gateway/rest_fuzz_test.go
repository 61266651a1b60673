package gateway

// A fuzz target for the REST request decoder: any query string and any JSON
// body, through the HTTP handler, must answer 200 or a 4xx with a JSON
// status, and never hand the backend JSON it cannot decode.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzEndpoints are the unary endpoints the fuzzer calls; their handlers
// only fail on bad input.
var fuzzEndpoints = []string{"/native.Values/Echo", "/native.Values/Double", "/native.Values/Raw", "/native.Default/Ping", "/native.Meta/Peek"}

func FuzzRESTRequest(f *testing.F) {
	for _, seed := range []struct{ query, body string }{
		{"", `{}`},
		{"name=x&i64=9007199254740993&u64=18446744073709551615", ""},
		{"tags=a&tags=b&node.name=n&node.next.name=m", ""},
		{"t=2024-01-02T03:04:05.000000006Z&optT=0001-01-01T00:00:00Z&raw=AAEC", ""},
		{"nested[a]=1&byId[18446744073709551615]=x", ""},
		{"value=-4", "21"},
		{"nope=1", `{"name":"x"}`},
		{"", `{"i64":"9007199254740993","u64":"1","optI64":null,"node":{"kids":[{"name":"k"}]}}`},
		{"", `{"nested":{"a":{"x":1}},"byId":{"18446744073709551615":"m"},"any":[1,{"a":null}],"doc":{"k":1e300}}`},
		{"", `{"t":"1969-12-31T23:59:59.5Z","times":["0001-01-01T00:00:00Z"],"raw":"AAEC/w=="}`},
		{"", `{"i32":2147483648}`},
		{"", `{"name":"\ud800"}`},
		{"", `[1,2`},
		{"", `123456789012345678901234567890`},
		{"%zz=1&a[=2", "null"},
		{"", `{"name":"x","Name":"y"}`},
		{"", `{"name":"x","name":"y"}`},
		{"", `{"node":{"kids":[{"name":"a","nmae":"b"}]},"nested":{"a":{"b":1,"b":2}}}`},
	} {
		f.Add(seed.query, []byte(seed.body))
	}
	e := newEnv(f, "local")
	h := e.gw.HTTPHandler()
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		for _, path := range fuzzEndpoints {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var req *http.Request
				if method == http.MethodPost {
					req = httptest.NewRequest(method, path, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req = httptest.NewRequest(method, path, nil)
				}
				req.URL.RawQuery = query
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				checkFuzzResponse(t, method+" "+path, query, body, rec)
			}
		}
	})
}

func checkFuzzResponse(t *testing.T, what, query string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	out := rec.Body.Bytes()
	switch {
	case rec.Code == http.StatusOK:
		if !json.Valid(out) {
			t.Fatalf("%s ?%s %q: 200 with invalid JSON %q", what, query, body, out)
		}
	case rec.Code >= 400 && rec.Code < 500:
		var st restStatus
		if err := json.Unmarshal(out, &st); err != nil || st.Code == nil {
			t.Fatalf("%s ?%s %q: %d without a JSON status: %q", what, query, body, rec.Code, out)
		}
		// The gateway checks requests against the schema: the backend
		// must never be handed JSON it cannot decode.
		if strings.Contains(st.Message, "invalid request body for") {
			t.Fatalf("%s ?%s %q: the backend refused what the gateway let through: %s", what, query, body, st.Message)
		}
	default:
		t.Fatalf("%s ?%s %q: status %d: %q", what, query, body, rec.Code, out)
	}
}
