package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gw serve compresses JSON answers for curl --compressed unless
// -http-compress=false (here through GW_HTTP_COMPRESS); downloads never.
func TestHTTPCompress(t *testing.T) {
	needCurl(t)
	tmp := t.TempDir()
	hdrFile, upload := filepath.Join(tmp, "header"), filepath.Join(tmp, "f.json")
	if err := os.WriteFile(upload, []byte(`{"a":"`+strings.Repeat("b", 5000)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	encoding := func() string {
		t.Helper()
		b, err := os.ReadFile(hdrFile)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(b), "\r\n") {
			if k, v, _ := strings.Cut(line, ":"); strings.EqualFold(k, "Content-Encoding") {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{{nil, "gzip"}, {[]string{"GW_HTTP_COMPRESS=false"}, ""}} {
		gw := startGW(t, "gw serve", tc.env, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
			"-native-addr", "", "-data-dir", filepath.Join(t.TempDir(), "data"))
		base := "http://" + gw.addr("http")
		plain, code := curl(t, base+"/openapi.json")
		if code != 0 {
			t.Fatalf("curl: %d %s", code, plain)
		}
		out, code := curl(t, "--compressed", "-D", hdrFile, base+"/openapi.json")
		if enc := encoding(); code != 0 || enc != tc.want || out != plain {
			t.Errorf("env %v: curl --compressed: status %d, Content-Encoding %q (want %q), %d bytes (want %d)", tc.env, code, enc, tc.want, len(out), len(plain))
		}
		if out, code := curl(t, "-T", upload, base+"/native.Store/Write?name=f.json"); code != 0 {
			t.Fatalf("upload: curl %d %s", code, out)
		}
		out, code = curl(t, "--compressed", "-D", hdrFile, base+"/native.Store/Read?name=f.json")
		if enc := encoding(); code != 0 || enc != "" || len(out) != 5008 {
			t.Errorf("env %v: download: status %d, Content-Encoding %q, %d bytes", tc.env, code, enc, len(out))
		}
	}
}
