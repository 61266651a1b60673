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
