package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// IsGRPCRequest takes what grpc-go's ServeHTTP serves, and nothing else:
// REST over HTTP/2, gRPC-Web and gRPC over HTTP/1.1 go to the REST side.
func TestIsGRPCRequest(t *testing.T) {
	for _, tc := range []struct {
		method, ct string
		major      int
		want       bool
	}{
		{"POST", "application/grpc", 2, true},
		{"POST", "application/grpc+proto", 2, true},
		{"POST", "application/grpc;charset=utf-8", 2, true},
		{"POST", "application/json", 2, false},
		{"POST", "", 2, false},
		{"POST", "application/grpc-web", 2, false},
		{"POST", "application/grpc-web+proto", 2, false},
		{"POST", "application/grpcx", 2, false},
		{"POST", "Application/GRPC", 2, false}, // grpc-go compares exactly
		{"POST", "application/grpc", 1, false},
		{"GET", "application/grpc", 2, false},
	} {
		r := httptest.NewRequest(tc.method, "/native.Store/List", strings.NewReader(""))
		r.ProtoMajor = tc.major
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		if got := IsGRPCRequest(r); got != tc.want {
			t.Errorf("%s HTTP/%d %q: IsGRPCRequest %v, want %v", tc.method, tc.major, tc.ct, got, tc.want)
		}
	}
}

// OnePort hands requests that are not gRPC to the REST handler, untouched.
func TestOnePortRoutesREST(t *testing.T) {
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := OnePort(nil, rest) // a gRPC request would panic on the nil server
	r := httptest.NewRequest("POST", "/native.Store/List", strings.NewReader("{}"))
	r.ProtoMajor = 2
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusTeapot {
		t.Errorf("REST request answered %d, want the REST handler's 418", w.Code)
	}
}
