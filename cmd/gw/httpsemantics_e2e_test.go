package main

// HTTP's semantics on the demo store, with real curl over HTTP/1.1 and
// HTTP/1.0 (issue 14).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A GET or HEAD never changes the store: Write and Delete are not safe, so
// those methods get 405 with Allow, and the file stays as it was. List,
// Stat and Read are safe: GET and HEAD reach them.
func TestStoreSafeMethods(t *testing.T) {
	needCurl(t)
	dataDir := t.TempDir()
	keep := []byte(strings.Repeat("keep me\n", 1000))
	if err := os.WriteFile(filepath.Join(dataDir, "keep.bin"), keep, 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-data-dir", dataDir)
	base := "http://" + gw.addr("http") + "/native.Store/"
	for _, proto := range []string{"--http1.1", "--http1.0"} {
		for _, args := range [][]string{
			{base + "Write?name=keep.bin"},
			{"-I", base + "Write?name=keep.bin"},
			{base + "Delete?name=keep.bin"},
			{"-X", "DELETE", base + "Delete?name=keep.bin"},
		} {
			out, _ := curl(t, append([]string{proto, "-i"}, args...)...)
			if !strings.Contains(out, " 405 ") || !strings.Contains(out, "\r\nAllow: POST") {
				t.Errorf("curl %s %v: want 405 with Allow: POST..., got\n%s", proto, args, out)
			}
		}
		if got, err := os.ReadFile(filepath.Join(dataDir, "keep.bin")); err != nil || string(got) != string(keep) {
			t.Fatalf("%s: after GET and HEAD to Write and Delete, keep.bin holds %d bytes (%v), want %d", proto, len(got), err, len(keep))
		}
		if out, code := curl(t, proto, "-f", base+"Stat?name=keep.bin"); code != 0 || !strings.Contains(out, `"size":8000`) {
			t.Errorf("curl %s GET Stat: %d %s", proto, code, out)
		}
		if out, code := curl(t, proto, "-f", "-I", base+"Read?name=keep.bin"); code != 0 || !strings.Contains(out, " 200 ") {
			t.Errorf("curl %s -I Read: %d %s", proto, code, out)
		}
		if out, code := curl(t, proto, "-f", base+"Read?name=keep.bin"); code != 0 || out != string(keep) {
			t.Errorf("curl %s GET Read: exit %d, %d bytes", proto, code, len(out))
		}
	}
}

// A browser-shaped cross-site request (text/plain, a foreign Origin) writes
// and deletes nothing; CORS preflights are answered for -cors-origin and
// refused for others; without a token, a Host that is not the server's is
// refused (DNS rebinding). Real curl, HTTP/1.1 and HTTP/1.0.
func TestCrossSiteE2E(t *testing.T) {
	needCurl(t)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "keep.txt"), []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0",
		"-data-dir", dataDir, "-cors-origin", "https://app.example", "-allowed-host", "files.example")
	base := "http://" + gw.addr("http") + "/native.Store/"
	for _, proto := range []string{"--http1.1", "--http1.0"} {
		for _, args := range [][]string{
			{"-H", "Content-Type: text/plain", "-H", "Origin: https://evil.example", "--data", `{"name":"keep.txt"}`, base + "Delete"},
			{"-H", "Content-Type: text/plain", "-H", "Origin: https://evil.example", "-H", "Sec-Fetch-Site: cross-site", "--data", "evil", base + "Write?name=keep.txt"},
			{"-H", "Content-Type: text/plain", "--data", `{"name":"keep.txt"}`, base + "Delete"},
		} {
			out, _ := curl(t, append([]string{proto, "-i"}, args...)...)
			if !strings.Contains(out, " 403 ") && !strings.Contains(out, " 415 ") {
				t.Errorf("curl %s %v: want 403 or 415, got\n%s", proto, args, out)
			}
		}
		if got, err := os.ReadFile(filepath.Join(dataDir, "keep.txt")); err != nil || string(got) != "keep\n" {
			t.Fatalf("%s: after cross-site requests keep.txt holds %q (%v)", proto, got, err)
		}

		out, _ := curl(t, proto, "-i", "-X", "OPTIONS", "-H", "Origin: https://app.example", "-H", "Access-Control-Request-Method: PUT",
			"-H", "Access-Control-Request-Headers: content-type", base+"Write")
		for _, want := range []string{" 204 ", "Access-Control-Allow-Origin: https://app.example\r\n", "Access-Control-Allow-Methods: POST, PUT\r\n", "Access-Control-Allow-Headers: content-type\r\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("curl %s preflight from the allowed origin lacks %q:\n%s", proto, want, out)
			}
		}
		out, _ = curl(t, proto, "-i", "-X", "OPTIONS", "-H", "Origin: https://evil.example", "-H", "Access-Control-Request-Method: POST", base+"Delete")
		if !strings.Contains(out, " 403 ") || strings.Contains(out, "Access-Control-Allow-Origin") || !strings.Contains(out, "-cors-origin https://evil.example") {
			t.Errorf("curl %s preflight from another origin:\n%s", proto, out)
		}
		out, _ = curl(t, proto, "-i", "-H", "Origin: https://app.example", "-H", "Sec-Fetch-Site: cross-site", "--json", `{"name":"keep.txt"}`, base+"Stat")
		if !strings.Contains(out, " 200 ") || !strings.Contains(out, "Access-Control-Allow-Origin: https://app.example\r\n") {
			t.Errorf("curl %s a call from the allowed origin:\n%s", proto, out)
		}

		for host, want := range map[string]string{"evil.example": " 403 ", "files.example:80": " 200 ", "localhost": " 200 "} {
			out, _ := curl(t, proto, "-i", "-H", "Host: "+host, base+"Stat?name=keep.txt")
			if !strings.Contains(out, want) {
				t.Errorf("curl %s with Host %s: want%s, got\n%s", proto, host, want, out)
			}
		}
	}
}
