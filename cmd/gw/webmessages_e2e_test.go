package main

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer a command writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// watchUntil runs the command of args, a watch that never ends by itself,
// calling change until its output contains want (at most 20 s), and
// returns the output.
func watchUntil(t *testing.T, want string, change func(), name string, args ...string) string {
	t.Helper()
	var out, errOut lockedBuffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("%s %q printed no %q in 20 s:\n%s%s", name, args, want, out.String(), errOut.String())
		}
		change()
		time.Sleep(200 * time.Millisecond)
	}
	return out.String()
}

// buf curl reaches the demo's streams of messages with the Connect and
// gRPC-Web protocols: Store.Watch (a server stream, until it saw a write:
// the file's creation, or a write after it when the watch began later),
// Echo.Join (a client stream, over HTTP/1.1) and Echo.Chat (bidi, over
// h2c).
func TestBufCurlMessageStreams(t *testing.T) {
	needCurl(t)
	gw := startGW(t, "gw serve", []string{"GW_GRPC_ADDR=127.0.0.1:0", "GW_HTTP_ADDR=127.0.0.1:0", "GW_NATIVE_ADDR=127.0.0.1:0",
		"GW_DATA_DIR=" + t.TempDir()}, "serve")
	base := "http://" + gw.addr("http")
	for _, proto := range []string{"connect", "grpcweb"} {
		t.Run(proto, func(t *testing.T) {
			reflect := []string{"curl", "--http2-prior-knowledge", "--protocol", proto}
			name := "watched-" + proto + ".txt"
			out := watchUntil(t, name, func() {
				curlStatus(t, "--data-binary", "seen", "-X", "PUT", base+"/native.Store/Write?name="+name)
			}, bufBinary(t), append(reflect, "-d", `{"prefix":"watched-`+proto+`"}`, base+"/native.Store/Watch")...)
			if m := bufMessages(t, out); len(m) == 0 || (m[0]["kind"] != "created" && m[0]["kind"] != "written") || m[0]["name"] != name || m[0]["size"] != "4" || m[0]["id"] == "" {
				t.Errorf("Watch: %s", out)
			}
			out = bufCurlOK(t, strings.NewReader(`{"text":"a"}{"text":"b"}`), append(reflect[1:], "-d", "@-", base+"/native.Echo/Join")...)
			if m := bufMessages(t, out); len(m) != 1 || m[0]["count"] != "2" || m[0]["text"] != "a b" {
				t.Errorf("Join: %s", out)
			}
			out = bufCurlOK(t, strings.NewReader(`{"text":"a"}{"text":"b"}`), append(reflect[1:], "-d", "@-", base+"/native.Echo/Chat")...)
			if m := bufMessages(t, out); len(m) != 2 || m[1]["seq"] != "2" || m[1]["text"] != "b" {
				t.Errorf("Chat: %s", out)
			}
		})
	}
}
