package gateway

// Issue 4: the gRPC front door driven by the real grpcurl, which knows the
// services only through server reflection.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildGRPCurl builds grpcurl from the tools module into dir, or skips the
// test saying why it cannot.
func buildGRPCurl(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == "/dev/null" {
		t.Skipf("grpcurl: cannot find the repository root (go env GOMOD: %q, %v)", gomod, err)
	}
	bin := filepath.Join(dir, "grpcurl")
	cmd := exec.Command("go", "build", "-modfile=tools/go.mod", "-o", bin, "github.com/fullstorydev/grpcurl/cmd/grpcurl")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("grpcurl: building it from tools/go.mod failed (%v), so the grpcurl tests cannot run:\n%s", err, out)
	}
	return bin
}

type grpcurlRun struct {
	t    *testing.T
	bin  string
	addr string
}

// run runs grpcurl -plaintext args... with stdin and returns its stdout,
// stderr and exit code.
func (g grpcurlRun) run(stdin string, args ...string) (string, string, int) {
	g.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(g.bin, append([]string{"-plaintext"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		g.t.Fatalf("grpcurl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs grpcurl and fails the test unless it succeeds.
func (g grpcurlRun) ok(stdin string, args ...string) string {
	g.t.Helper()
	out, stderr, code := g.run(stdin, args...)
	if code != 0 {
		g.t.Fatalf("grpcurl %v: exit %d\n%s%s", args, code, stderr, out)
	}
	return out
}

// jsonStream decodes the JSON messages grpcurl prints one after another.
func jsonStream(t *testing.T, s string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	for {
		var m map[string]any
		if err := d.Decode(&m); err == io.EOF {
			return msgs
		} else if err != nil {
			t.Fatalf("grpcurl output %q: %v", s, err)
		}
		msgs = append(msgs, m)
	}
}

func TestGRPCurl(t *testing.T) {
	bin := buildGRPCurl(t, t.TempDir())
	eachBackend(t, func(t *testing.T, e *env) {
		g := grpcurlRun{t: t, bin: bin, addr: e.addr}

		t.Run("list", func(t *testing.T) {
			out := g.ok("", e.addr, "list")
			for _, s := range append([]string{"grpc.health.v1.Health", "framegate.gateway.v1.GatewayService"}, fixtureServices...) {
				if !strings.Contains(out, s+"\n") {
					t.Errorf("list lacks %s:\n%s", s, out)
				}
			}
			if out := g.ok("", e.addr, "list", "native.Blob"); !strings.Contains(out, "native.Blob.Download\n") || !strings.Contains(out, "native.Blob.Put\n") {
				t.Errorf("list native.Blob:\n%s", out)
			}
		})

		t.Run("describe", func(t *testing.T) {
			out := g.ok("", e.addr, "describe", "native.Values.Echo")
			if !strings.Contains(out, "rpc Echo ( .native.fxValues ) returns ( .native.fxValues ) {\n  option idempotency_level = NO_SIDE_EFFECTS;\n}") {
				t.Errorf("describe native.Values.Echo:\n%s", out)
			}
			out = g.ok("", e.addr, "describe", "native.Blob.Put")
			if !strings.Contains(out, "rpc Put ( stream .native.BlobPutUpload ) returns ( .native.fxPutResp );") {
				t.Errorf("describe native.Blob.Put:\n%s", out)
			}
			out = g.ok("", e.addr, "describe", "native.fxValues")
			for _, f := range []string{
				`int64 i64 = 2;`, `uint64 u64 = 3;`, `bytes raw = 7;`, `.google.protobuf.Timestamp t = 8;`,
				`repeated .google.protobuf.Timestamp times = 9;`, `map<string, .native.StringInt64Map> nested = 11;`,
				`map<uint64, string> byId = 12;`, `optional int64 optI64 = 13;`, `.native.fxNode node = 18;`,
				`.google.protobuf.Value any = 19;`, `.google.protobuf.Value doc = 20;`,
			} {
				if !strings.Contains(out, f) {
					t.Errorf("describe native.fxValues lacks %q:\n%s", f, out)
				}
			}
		})

		t.Run("unary", func(t *testing.T) {
			out := g.ok("", "-d", `{"name":"x","i64":"9007199254740993","u64":"18446744073709551615","optS":""}`, e.addr, "native.Values/Echo")
			m := jsonStream(t, out)
			if len(m) != 1 || m[0]["name"] != "x" || m[0]["i64"] != "9007199254740993" || m[0]["u64"] != "18446744073709551615" || m[0]["optS"] != "" {
				t.Errorf("Echo: %s", out)
			}
			_, stderr, code := g.run("", "-d", `{"code":5,"message":"no such thing"}`, e.addr, "native.Errors/Fail")
			if code == 0 || !strings.Contains(stderr, "NotFound") || !strings.Contains(stderr, "no such thing") {
				t.Errorf("Fail: exit %d, %s", code, stderr)
			}
		})

		t.Run("server stream", func(t *testing.T) {
			const size = 2<<20 + 99
			out := g.ok("", "-d", fmt.Sprintf(`{"size":"%d","seed":"3"}`, size), e.addr, "native.Blob/Download")
			var data []byte
			msgs := jsonStream(t, out)
			for _, m := range msgs {
				b, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["data"]))
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, b...)
			}
			if len(msgs) < 2 || msgs[0]["contentType"] != "application/octet-stream" || !bytes.Equal(data, fxData(3, size)) {
				t.Fatalf("%d messages, %d bytes, want %d", len(msgs), len(data), size)
			}
		})

		t.Run("client stream", func(t *testing.T) {
			payload := fxData(8, 300000)
			var in strings.Builder
			for i := 0; i < len(payload); i += 70000 {
				fmt.Fprintf(&in, "{\"data\":%q}\n", base64.StdEncoding.EncodeToString(payload[i:min(i+70000, len(payload))]))
			}
			out := g.ok(in.String(), "-d", "@", e.addr, "native.Blob/Upload")
			m := jsonStream(t, out)
			if len(m) != 1 || m[0]["size"] != fmt.Sprint(len(payload)) || m[0]["sha256"] != sha(payload) {
				t.Errorf("Upload: %s", out)
			}
			// json+stream: the request first.
			put := `{"request":{"name":"f","mode":420},"data":"AAE="}` + "\n" + in.String()
			out = g.ok(put, "-d", "@", e.addr, "native.Blob/Put")
			whole := append([]byte{0, 1}, payload...)
			m = jsonStream(t, out)
			sum, _ := m[0]["sum"].(map[string]any)
			if len(m) != 1 || sum["sha256"] != sha(whole) || !strings.Contains(out, `"name": "f"`) {
				t.Errorf("Put: %s", out)
			}
		})

		t.Run("health", func(t *testing.T) {
			for _, svc := range []string{"", "native.Values"} {
				out := g.ok("", "-d", fmt.Sprintf(`{"service":%q}`, svc), e.addr, "grpc.health.v1.Health/Check")
				if m := jsonStream(t, out); len(m) != 1 || m[0]["status"] != "SERVING" {
					t.Errorf("health of %q: %s", svc, out)
				}
			}
		})
	})
}
