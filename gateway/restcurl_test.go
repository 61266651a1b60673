package gateway

// Issue 5: the REST front door driven by the real curl binary.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
)

const curlPath = "/usr/bin/curl"

// curl runs curl with args; its stdout goes to out (a buffer if nil), and
// the result is stdout, stderr and the exit code.
func curl(t *testing.T, out io.Writer, stdin io.Reader, args ...string) (stdout []byte, stderr string, exit int) {
	t.Helper()
	var ob, eb bytes.Buffer
	if out == nil {
		out = &ob
	}
	cmd := exec.Command(curlPath, append([]string{"-sS", "--no-progress-meter"}, args...)...)
	cmd.Stdout, cmd.Stderr, cmd.Stdin = out, &eb, stdin
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("curl %v: %v", args, err)
	}
	return ob.Bytes(), eb.String(), exit
}

// splitCode splits curl output written with -w '\n%{http_code}'.
func splitCode(t *testing.T, out []byte) ([]byte, int) {
	t.Helper()
	i := bytes.LastIndexByte(out, '\n')
	code, err := strconv.Atoi(string(out[i+1:]))
	if i < 0 || err != nil {
		t.Fatalf("no status code at the end of %q", out)
	}
	return out[:i], code
}

// bigFile writes n random bytes to a file in dir and returns its path and
// SHA-256.
func bigFile(t *testing.T, dir string, n int64) (string, string) {
	t.Helper()
	path := filepath.Join(dir, "big.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), newGenReader(42, n, -1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

func TestRESTCurl(t *testing.T) {
	if _, err := os.Stat(curlPath); err != nil {
		t.Skipf("curl is not installed at %s: %v", curlPath, err)
	}
	// One file of over 100 MiB for both backends.
	const size = 100<<20 + 4097
	path, sum := bigFile(t, t.TempDir(), size)

	eachBackend(t, func(t *testing.T, e *env) {
		base := e.http.URL

		t.Run("unary", func(t *testing.T) {
			out, stderr, exit := curl(t, nil, nil, "--json", `{"name":"x","i64":9007199254740993,"tags":["a"]}`, base+"/native.Values/Echo")
			var v fxValues
			if exit != 0 || json.Unmarshal(out, &v) != nil || v.Name != "x" || v.I64 != 9007199254740993 || len(v.Tags) != 1 {
				t.Fatalf("exit %d %s: %s", exit, stderr, out)
			}
			out, stderr, exit = curl(t, nil, nil, base+"/native.Values/Double?value=21")
			if exit != 0 || string(out) != "42" {
				t.Fatalf("GET with query: exit %d %s: %s", exit, stderr, out)
			}
		})

		t.Run("download", func(t *testing.T) {
			h := sha256.New()
			var n countWriter
			_, stderr, exit := curl(t, io.MultiWriter(h, &n), nil, "-f", base+"/native.Blob/File?path="+url.QueryEscape(path))
			if exit != 0 || int64(n) != size || hex.EncodeToString(h.Sum(nil)) != sum {
				t.Fatalf("exit %d %s: %d bytes, sha256 %x, want %d %s", exit, stderr, n, h.Sum(nil), size, sum)
			}
		})

		for _, up := range []struct{ name, flag, arg string }{{"upload -T", "-T", path}, {"upload --data-binary", "--data-binary", "@" + path}} {
			t.Run(up.name, func(t *testing.T) {
				out, stderr, exit := curl(t, nil, nil, "-f", up.flag, up.arg, base+"/native.Blob/Upload")
				var s fxSum
				if exit != 0 || json.Unmarshal(out, &s) != nil || s.Size != size || s.SHA256 != sum {
					t.Fatalf("exit %d %s: %s, want size %d sha256 %s", exit, stderr, out, size, sum)
				}
			})
		}

		t.Run("errors", func(t *testing.T) {
			for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
				out, stderr, _ := curl(t, nil, nil, "-w", `\n%{http_code}`, "--json", fmt.Sprintf(`{"code":%d,"message":"m%d"}`, c, c), base+"/native.Errors/Fail")
				body, status := splitCode(t, out)
				var st restStatus
				if status != runtime.HTTPStatusFromCode(c) || json.Unmarshal(body, &st) != nil || st.Code == nil || *st.Code != int(c) || st.Message != fmt.Sprintf("m%d", c) {
					t.Errorf("code %v: %d %s %s", c, status, body, stderr)
				}
			}
		})

		t.Run("aborted stream", func(t *testing.T) {
			const failAt = 1<<20 + 1
			out, stderr, exit := curl(t, nil, nil, fmt.Sprintf("%s/native.Blob/Download?size=%d&seed=5&failAt=%d&failCode=15", base, 4<<20, failAt))
			if exit == 0 {
				t.Fatalf("curl read a broken stream as complete (%d bytes)", len(out))
			}
			if !bytes.Equal(out, fxData(5, failAt)) {
				t.Errorf("curl wrote %d bytes, want the %d before the break", len(out), failAt)
			}
			t.Logf("curl exit %d: %s", exit, strings.TrimSpace(stderr))
			// HTTP/1.0 has no chunks and no trailers: the client gets the
			// bytes before the break and nothing else.
			out, _, _ = curl(t, nil, nil, "--http1.0", fmt.Sprintf("%s/native.Blob/Download?size=%d&seed=5&failAt=%d&failCode=15", base, 4<<20, failAt))
			if !bytes.Equal(out, fxData(5, failAt)) {
				t.Errorf("HTTP/1.0: curl wrote %d bytes, want the %d before the break", len(out), failAt)
			}
		})

		t.Run("unknown path", func(t *testing.T) {
			out, _, _ := curl(t, nil, nil, "-w", `\n%{http_code}`, base+"/native.Nope/Nothing")
			body, status := splitCode(t, out)
			var st restStatus
			if status != http.StatusNotFound || json.Unmarshal(body, &st) != nil || st.Code == nil || *st.Code != int(codes.NotFound) {
				t.Fatalf("%d %s", status, body)
			}
		})
	})
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
