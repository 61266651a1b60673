package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// Client input that an error quotes is cut to a short prefix and its
// length: a 500 KB query parameter name, path or map key and a
// 100,000-digit number once came back whole in the error body.
func TestRESTErrorsQuoteLittle(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		u := e.http.URL + "/native.Values/Echo"
		long := strings.Repeat("q", 500_000)
		digits := "1" + strings.Repeat("9", 99_999)
		for _, tc := range []struct {
			method, url, body string
			code              codes.Code
			want              string
		}{
			{http.MethodGet, u + "?" + long + "=1", "", codes.InvalidArgument, "(500000 bytes)"},
			{http.MethodPost, u, `{"i64":` + digits + `}`, codes.InvalidArgument, "(100000 bytes)"},
			{http.MethodGet, e.http.URL + "/native.Values/" + long, "", codes.NotFound, "(500015 bytes)"},
		} {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, b := do(t, tc.method, tc.url, body)
			wantStatus(t, resp, b, tc.code, tc.want)
			if len(b) > 1024 {
				t.Errorf("%s %.60s...: an error body of %d bytes", tc.method, tc.url, len(b))
			}
		}
	})
}
