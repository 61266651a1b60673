package main

// HTTP's semantics on the demo store, with real curl over HTTP/1.1 and
// HTTP/1.0 (issue 14).

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// Downloads from the demo store carry Content-Length, ETag, Last-Modified
// and Content-Type; HEAD, ranges, 416, resume (curl -C -) and conditional
// requests work, over HTTP/1.1 and HTTP/1.0. A range of a file past 4 GiB
// (sparse) reads the right bytes.
func TestStoreDownloadsE2E(t *testing.T) {
	needCurl(t)
	dataDir := t.TempDir()
	body := make([]byte, 3<<20)
	for i := range body {
		body[i] = byte(i * 7 / 3)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "data.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(filepath.Join(dataDir, "big.iso"))
	if err != nil {
		t.Fatal(err)
	}
	const bigSize = 5<<30 + 12345
	tail := []byte("the last bytes of a file past 4 GiB\n")
	if _, err := big.WriteAt(tail, bigSize-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	big.Close()
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-data-dir", dataDir)
	u := "http://" + gw.addr("http") + "/native.Store/Read?name=data.bin"
	tmp := t.TempDir()
	for _, proto := range []string{"--http1.1", "--http1.0"} {
		hdrs, code := curl(t, proto, "-f", "-I", u)
		etag := headerOf(hdrs, "Etag")
		lastMod := headerOf(hdrs, "Last-Modified")
		if code != 0 || headerOf(hdrs, "Content-Length") != "3145728" || etag == "" || lastMod == "" ||
			headerOf(hdrs, "Content-Type") != "application/octet-stream" || headerOf(hdrs, "Accept-Ranges") != "bytes" {
			t.Fatalf("curl %s -I: %d\n%s", proto, code, hdrs)
		}

		out, code := curl(t, proto, "-f", "-r", "100-199", "-D", filepath.Join(tmp, "h"), u)
		h, _ := os.ReadFile(filepath.Join(tmp, "h"))
		if code != 0 || out != string(body[100:200]) || !strings.Contains(string(h), " 206 ") || headerOf(string(h), "Content-Range") != "bytes 100-199/3145728" {
			t.Errorf("curl %s -r 100-199: %d, %d bytes\n%s", proto, code, len(out), h)
		}
		out, _ = curl(t, proto, "-i", "-r", "4000000-", u)
		if !strings.Contains(out, " 416 ") || headerOf(out, "Content-Range") != "bytes */3145728" {
			t.Errorf("curl %s -r past the end:\n%.400s", proto, out)
		}

		// Resume: a file cut at 1 MiB is finished byte for byte.
		part := filepath.Join(tmp, "part"+proto)
		os.WriteFile(part, body[:1<<20], 0o644)
		if out, code := curl(t, proto, "-f", "-C", "-", "-o", part, u); code != 0 {
			t.Errorf("curl %s -C -: %d %s", proto, code, out)
		}
		if got, _ := os.ReadFile(part); string(got) != string(body) {
			t.Errorf("curl %s -C -: %d bytes, not the file", proto, len(got))
		}

		for _, cond := range [][]string{{"-H", "If-None-Match: " + etag}, {"-H", "If-Modified-Since: " + lastMod}, {"-z", lastMod}} {
			out, _ := curl(t, append([]string{proto, "-i"}, append(cond, u)...)...)
			if !strings.Contains(out, " 304 ") || headerOf(out, "Etag") != etag || strings.Contains(out, "\r\n\r\n\x00") {
				t.Errorf("curl %s %v: want 304\n%.300s", proto, cond, out)
			}
		}
		out, _ = curl(t, proto, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", `If-None-Match: "other"`, u)
		if out != "200" {
			t.Errorf("curl %s with another entity tag: %s", proto, out)
		}

		bigURL := "http://" + gw.addr("http") + "/native.Store/Read?name=big.iso"
		out, code = curl(t, proto, "-f", "-r", "-1048576", "-D", filepath.Join(tmp, "hb"), bigURL)
		h, _ = os.ReadFile(filepath.Join(tmp, "hb"))
		if code != 0 || len(out) != 1<<20 || !strings.HasSuffix(out, string(tail)) ||
			headerOf(string(h), "Content-Range") != "bytes 5367672889-5368721464/5368721465" {
			t.Errorf("curl %s -r -1048576 of a 5 GiB file: %d, %d bytes\n%s", proto, code, len(out), h)
		}
	}
}

// headerOf returns the value of header name in curl's -i or -D output.
func headerOf(out, name string) string {
	for _, line := range strings.Split(out, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// gw call -o writes a stream to a file; -continue completes a file that
// holds its start by asking for the rest only (the start is not fetched
// again: a marked start survives), and leaves a whole file alone.
func TestCallOutputContinue(t *testing.T) {
	dataDir := t.TempDir()
	body := make([]byte, 3<<20)
	for i := range body {
		body[i] = byte(i * 5 / 7)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "data.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-data-dir", dataDir)
	addr := gw.addr("native")
	out := filepath.Join(t.TempDir(), "out.bin")
	if _, errOut, code := gwCall(t, nil, "-addr", addr, "-o", out, "Store.Read", `{"name":"data.bin"}`); code != 0 {
		t.Fatalf("gw call -o: %d %s", code, errOut)
	}
	if got, _ := os.ReadFile(out); string(got) != string(body) {
		t.Fatalf("gw call -o wrote %d bytes, not the file", len(got))
	}
	marked := append([]byte(strings.Repeat("M", 1<<20)), body[1<<20:2<<20]...)
	os.WriteFile(out, marked[:1<<20+12345], 0o644)
	if _, errOut, code := gwCall(t, nil, "-addr", addr, "-o", out, "-continue", "Store.Read", `{"name":"data.bin"}`); code != 0 {
		t.Fatalf("gw call -continue: %d %s", code, errOut)
	}
	got, _ := os.ReadFile(out)
	if want := string(marked[:1<<20]) + string(body[1<<20:]); string(got) != want {
		t.Fatalf("gw call -continue: %d bytes, not the marked start and the rest of the file", len(got))
	}
	if _, errOut, code := gwCall(t, nil, "-addr", addr, "-o", out, "-continue", "Store.Read", `{"name":"data.bin"}`); code != 0 {
		t.Fatalf("gw call -continue of a whole file: %d %s", code, errOut)
	}
	if again, _ := os.ReadFile(out); string(again) != string(got) {
		t.Fatalf("gw call -continue changed a whole file")
	}
	if _, errOut, code := gwCall(t, nil, "-addr", addr, "-continue", "Store.Read", `{"name":"data.bin"}`); code != 2 || !strings.Contains(errOut, "-continue needs -o FILE") {
		t.Errorf("-continue without -o: %d %s", code, errOut)
	}

	// On a terminal (script(1) gives it one), a progress bar.
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to run gw call on a terminal")
	}
	bar := filepath.Join(t.TempDir(), "bar.bin")
	cmd := gwBin + " call -addr " + addr + " -o " + bar + ` Store.Read '{"name":"data.bin"}'`
	tty, _, code := runCmd(t, nil, script, "-qec", cmd, "/dev/null")
	if got, _ := os.ReadFile(bar); code != 0 || string(got) != string(body) || !strings.Contains(tty, "100% |") {
		t.Errorf("gw call -o on a terminal: exit %d, %d bytes; the terminal shows %q", code, len(got), tty)
	}
}

// An upload whose body ends before its Content-Length leaves no file and
// no directory behind; curl's Expect: 100-continue gets its 100 and the
// upload goes through.
func TestUploadCutAndExpectContinue(t *testing.T) {
	needCurl(t)
	dataDir := t.TempDir()
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-data-dir", dataDir)
	httpAddr := gw.addr("http")
	c, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PUT /native.Store/Write?name=cut/deep/x.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n")
	c.Write(make([]byte, 50000))
	time.Sleep(200 * time.Millisecond)
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(dataDir)
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a cut upload left %v in the store", entries)
		}
		time.Sleep(20 * time.Millisecond)
	}

	f := filepath.Join(t.TempDir(), "up.bin")
	payload := make([]byte, 3<<20)
	payload[12345] = 7
	os.WriteFile(f, payload, 0o644)
	_, trace, code := runCmd(t, nil, curlBin, "-sS", "-v", "-f", "-T", f, "http://"+httpAddr+"/native.Store/Write?name=up.bin")
	if code != 0 || !strings.Contains(trace, "Expect: 100-continue") || !strings.Contains(trace, "HTTP/1.1 100 Continue") {
		t.Errorf("curl -T with Expect: 100-continue: %d\n%s", code, trace)
	}
	if got, _ := os.ReadFile(filepath.Join(dataDir, "up.bin")); string(got) != string(payload) {
		t.Errorf("the upload stored %d bytes", len(got))
	}
}
