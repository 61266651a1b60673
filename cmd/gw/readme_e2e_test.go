package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestREADME runs the README's examples as written against a real gw, so
// the README cannot rot. Every ```sh block runs in bash -euo pipefail with gw
// and grpcurl on PATH (what `make build` and the README's export give a
// newcomer); the ```go block runs with go run. The only changes made to the
// text are the addresses and /tmp paths: the ports of `make run` (9090,
// 8080, 7070) become those of a gw started on free ports, the ports of the
// two-process examples become other free ports, and /tmp/ a directory of the
// test. Each block must exit 0 and print what the README says it shows.
func TestREADME(t *testing.T) {
	needCurl(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := fencedBlocks(string(readme))

	tmp := t.TempDir()
	binDir := filepath.Join(tmp, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"gw": gwBin, "grpcurl": grpcurlBin, "buf": bufBinary(t)} {
		if err := os.Symlink(target, filepath.Join(binDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}

	// The gateway of `make run`, on free ports.
	gw := startGW(t, "gw serve (make run)", []string{
		"GW_GRPC_ADDR=127.0.0.1:0", "GW_HTTP_ADDR=127.0.0.1:0", "GW_NATIVE_ADDR=127.0.0.1:0",
		"GW_DATA_DIR=" + filepath.Join(tmp, "gw-data"),
	}, "serve")
	ports := map[string]string{
		"9090": port(t, gw.addr("grpc")),
		"8080": port(t, gw.addr("http")),
		"7070": port(t, gw.addr("native")),
	}
	// The collector of the tracing example.
	col := newOTLPCollector(t)
	ports["4318"] = port(t, strings.TrimPrefix(col.URL, "http://"))
	readmePorts := []string{"7071", "9091", "8081", "9092", "8082", "9093", "8083", "8084", "9094", "8085", "7074", "9095", "8086"}
	for i, q := range freePorts(t, len(readmePorts)) {
		ports[readmePorts[i]] = q
	}
	rewrite := func(s string) string {
		s = regexp.MustCompile(`(localhost|127\.0\.0\.1):(\d{4})\b`).ReplaceAllStringFunc(s, func(m string) string {
			host, p, _ := strings.Cut(m, ":")
			if q, ok := ports[p]; ok {
				return host + ":" + q
			}
			t.Fatalf("README uses address %s, which this test does not map", m)
			return m
		})
		return strings.ReplaceAll(s, "/tmp/", tmp+"/")
	}

	// What each block must print, keyed by a line that identifies it.
	want := map[string][]string{
		"grpcurl -plaintext localhost:9090 list": {
			"native.Store\n", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
			"rpc Read ( .native.ReadRequest ) returns ( stream .google.api.HttpBody )",
			"rpc Write ( stream .native.StoreWriteUpload )",
			`"sha256": "dc63ac39e82f04fc52d82c2cc6f8c38c28566369c8410ab3f2989ae67e257db7"`,
			`"name": "hello.txt"`, `"data": "aGVsbG8sIGZyYW1lZ2F0ZQo="`,
		},
		"curl -s --json '{\"prefix\":\"\"}' localhost:8080/native.Store/List": {
			`"name":"hello.txt","size":17`, `"size":50000000`, "identical\n",
			`read \"missing\": no such file`, "} 404\n",
			`request: unknown field \"Prefix\" (fields: prefix)","details":[]} 400`,
			`"grpcMethod":"/native.Store/Write"`, `"schema":{"endpoint":{"idempotent":true,"name":"Store.Write","request":"json+stream"`,
			"\"/native.Store/Read\"\n", "SERVING", `framegate_gateway_calls_total{`,
		},
		"curl -sI 'localhost:8080/native.Store/Read?name=big.bin'": {
			"Content-Length: 50000000\r\n", "Accept-Ranges: bytes\r\n", "Content-Type: application/octet-stream\r\n", "Etag: \"", "Last-Modified: ",
			"206 bytes 0-99/50000000\n", "resumed\n", "304\n", "405 Allow: POST, PUT\n",
			"gzip ", "[] 50000000 bytes\n",
			`may change state, and that origin is not allowed; to allow its pages, start the gateway with -cors-origin https://evil.example (gateway.WithCORSOrigins)","details":[]} 403`,
			`origin \"https://app.example\" is not allowed to call this gateway from a browser; to allow it, start the gateway with -cors-origin https://app.example (gateway.WithCORSOrigins)","details":[]} 403`,
		},
		"buf curl --http2-prior-knowledge --protocol connect -d '{\"prefix\":\"\"}'": {
			`"entries": [`, `"name": "web.txt"`, `"size": "17"`, `"data": "aGkgZnJvbSBidWYgY3VybAo="`,
			`"code": "not_found"`, "exit 40\n",
			`{"name":"web.txt","size":"17","mod_time":"`,
		},
		"grpcurl -plaintext -d '{\"prefix\":\"notes/\"}'": {
			// "created" or "written": the loop's first write may come before
			// the watch begins.
			`"kind": "`, `"name": "notes/a.txt"`, `"count": "3"`, `"text": "to be joined"`,
			"\"seq\": \"2\",\n  \"text\": \"there\"", `"text": "over connect"`, `"text": "over grpc-web"`,
			`data: {"id":"`, `"kind":"created","name":"notes/b.txt","size":2,"time":"`, `"kind":"created","name":"notes/c.txt"`,
			"{\"seq\":1,\"text\":\"hi\"}\n{\"seq\":2,\"text\":\"again\"}\n",
		},
		"gw call -list": {
			"Store.Write   json+stream", `"name": "docs/a.txt"`, "written by gw call\n",
		},
		"gw backend -native-addr": {`"name": "two.txt"`, `"size": "22"`},
		"gw schema -addr http://localhost:8080": {
			"message Entry {", "  int64 size = 2;", `.google.protobuf.Timestamp mod_time = 3 [json_name = "mod_time"];`, "no breaking change\n",
		},
		"exec:gw backend -stdio": {"through two processes\n"},
		"-auth-token-file": {
			`{"name":"t.txt","size":18,"sha256":"`, `"name": "t.txt"`, `{"entries":[{"name":"t.txt","size":18,`,
			`{"code":16,"message":"gw: missing bearer token","details":[]} 401`,
			"\n{\"name\":\"t.txt\",\"size\":18,\"mod_time\":\"", // Stat with the cookie
		},
		"gw serve -addr":  {"{}\n", `{"entries":[]}`, "SERVING\nHTTP/2\n"},
		"gw config check": {"gw.yaml: ok\n", `framegate_gateway_config_reloads_total{result="applied"} 1`},
		"-otlp-endpoint":  {`{"name":"traced.txt","size":7,"sha256":"`},
		"package main": {
			"wrote from-go.txt: 30 bytes, sha256 ", "written by a native Go client\n", "InvalidArgument\n",
		},
	}
	ran := map[string]bool{}
	for _, b := range blocks {
		if b.lang != "sh" && b.lang != "go" {
			continue
		}
		if strings.Contains(b.text, "make build") {
			continue // the test built gw and grpcurl already
		}
		if b.lang == "go" && !strings.HasPrefix(b.text, "package main") {
			continue // a fragment, not a program
		}
		var keys []string
		for k := range want {
			if strings.Contains(b.text, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 1 {
			t.Errorf("README block at line %d matches several expectations of TestREADME (%q): make each key name one block", b.line, keys)
			continue
		}
		key := ""
		if len(keys) == 1 {
			key = keys[0]
		}
		if key == "" {
			t.Errorf("README block at line %d has no expectations in TestREADME; add them:\n%s", b.line, b.text)
			continue
		}
		ran[key] = true
		t.Run(strings.Fields(key)[0]+"_line"+strconv.Itoa(b.line), func(t *testing.T) {
			var out string
			if b.lang == "go" {
				out = runGoBlock(t, tmp, rewrite(b.text))
			} else {
				out = runShellBlock(t, work, binDir, "tcp://127.0.0.1:"+ports["7070"], rewrite(b.text))
			}
			for _, w := range want[key] {
				if !looseContains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	for k := range want {
		if !ran[k] {
			t.Errorf("no README block contains %q any more; update TestREADME", k)
		}
	}
	// What the tracing example says the collector receives.
	checkTrace(t, col.spans(), "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "PUT /native.Store/Write", "Store.Write")
}

type fenced struct {
	lang, text string
	line       int
}

// looseContains reports whether out contains want, allowing a space after
// each ',' and ':' of want: protojson (the gateway's JSON) adds such spaces
// or not depending on a hash of the binary, so any change to gw may flip
// them.
func looseContains(out, want string) bool {
	re := regexp.QuoteMeta(want)
	re = strings.NewReplacer(",", ", ?", ":", ": ?").Replace(re)
	return regexp.MustCompile(re).MatchString(out)
}

// fencedBlocks returns the ``` blocks of a Markdown document.
func fencedBlocks(doc string) []fenced {
	var blocks []fenced
	var cur *fenced
	for i, l := range strings.Split(doc, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &fenced{lang: strings.TrimPrefix(l, "```"), line: i + 1}
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	return blocks
}

// runShellBlock runs script in bash in its own process group (killed at the
// end, with whatever it left in the background) and returns its output.
// gw call's default address (the native listener of `make run`) becomes
// nativeAddr through GW_ADDR.
func runShellBlock(t *testing.T, dir, binDir, nativeAddr, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = cleanEnv("PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "GW_ADDR="+nativeAddr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("%v\nscript:\n%s\noutput:\n%s", err, script, out.String())
	}
	return out.String()
}

// runGoBlock saves src as client.go and runs it with go run from the
// repository's root, as the README says.
func runGoBlock(t *testing.T, tmp, src string) string {
	t.Helper()
	file := filepath.Join(tmp, "client.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", file)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run client.go: %v\n%s", err, out)
	}
	return string(out)
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePorts returns n distinct ports that were free a moment ago. The
// listeners stay open until all are chosen: one closed before the next
// was opened could hand the same port out twice (it did, and a README
// example's two processes then fought over one port).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ps []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ps = append(ps, port(t, l.Addr().String()))
	}
	return ps
}
