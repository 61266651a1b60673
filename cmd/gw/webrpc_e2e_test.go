package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// bufCurl runs the pinned buf curl and returns its stdout, stderr and exit
// status.
func bufCurl(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, stdin, bufBinary(t), append([]string{"curl"}, args...)...)
}

// bufCurlOK is bufCurl that must succeed.
func bufCurlOK(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errOut, code := bufCurl(t, stdin, args...)
	if code != 0 {
		t.Fatalf("buf curl %q: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// bufMessages decodes the JSON messages buf curl prints, one after the
// other.
func bufMessages(t *testing.T, out string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return msgs
		} else if err != nil {
			t.Fatalf("buf curl printed %q: %v", out, err)
		}
		msgs = append(msgs, m)
	}
}

// buf curl reaches gw serve's HTTP face (-http-addr, and -addr) with the
// Connect and gRPC-Web protocols: a unary call, a server stream
// (Store.Read) and a client stream (Store.Write), with the schema from
// server reflection over h2c or from GET /v1/descriptors over HTTP/1.1; the
// token check and native errors answer in each protocol's format; curl
// makes a Connect GET of a safe endpoint; the metrics name the protocols.
func TestBufCurlConnectAndGRPCWeb(t *testing.T) {
	needCurl(t)
	for _, mode := range listenModes {
		t.Run(mode.name, func(t *testing.T) {
			tok := randomWord("tok-")
			auth := "Authorization: Bearer " + tok
			gw, content := startWithFileOn(t, mode, 1<<20+7, "-auth-token-file", writeTokens(t, tok+"\n"))
			base := "http://" + gw.addr(mode.faces[len(mode.faces)-1])
			schema := filepath.Join(t.TempDir(), "native.binpb")
			if _, code := curl(t, "-sf", "-H", auth, "-o", schema, base+"/v1/descriptors"); code != 0 {
				t.Fatalf("GET /v1/descriptors: curl exit %d", code)
			}
			for _, proto := range []string{"connect", "grpcweb"} {
				t.Run(proto, func(t *testing.T) {
					reflect := []string{"--http2-prior-knowledge", "--protocol", proto, "-H", auth, "--reflect-header", auth}
					withSchema := []string{"--schema", schema, "--protocol", proto, "-H", auth}
					// Unary, with the schema from reflection.
					out := bufCurlOK(t, nil, append(reflect, "-d", `{"name":"f.bin"}`, base+"/native.Store/Stat")...)
					if m := bufMessages(t, out); len(m) != 1 || m[0]["size"] != fmt.Sprint(len(content)) {
						t.Errorf("Stat: %s", out)
					}
					// A server stream, over HTTP/1.1 and over h2c.
					for _, args := range [][]string{withSchema, reflect} {
						out = bufCurlOK(t, nil, append(args, "-d", `{"name":"f.bin"}`, base+"/native.Store/Read")...)
						var got []byte
						for _, m := range bufMessages(t, out) {
							b, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["data"]))
							if err != nil {
								t.Fatal(err)
							}
							got = append(got, b...)
						}
						if !bytes.Equal(got, content) {
							t.Errorf("Read %q: %d bytes, want %d", args[0], len(got), len(content))
						}
					}
					// A client stream, over HTTP/1.1: the request, then the bytes.
					name := "up-" + proto + ".txt"
					msgs := fmt.Sprintf(`{"request":{"name":%q},"data":%q}`+"\n"+`{"data":%q}`, name,
						base64.StdEncoding.EncodeToString([]byte("uploaded by ")), base64.StdEncoding.EncodeToString([]byte("buf curl\n")))
					out = bufCurlOK(t, strings.NewReader(msgs), append(withSchema, "-d", "@-", base+"/native.Store/Write")...)
					want := sha256.Sum256([]byte("uploaded by buf curl\n"))
					if m := bufMessages(t, out); len(m) != 1 || m[0]["size"] != "21" || m[0]["sha256"] != hex.EncodeToString(want[:]) {
						t.Errorf("Write: %s", out)
					}
					// A native error, with its code; a call without a token.
					out, errOut, code := bufCurl(t, nil, append(withSchema, "-d", `{"name":"missing"}`, base+"/native.Store/Stat")...)
					if code != 5*8 || !strings.Contains(errOut, `"code": "not_found"`) || !strings.Contains(errOut, `stat \"missing\": no such file`) {
						t.Errorf("Stat of a missing file: exit %d\n%s%s", code, out, errOut)
					}
					out, errOut, code = bufCurl(t, nil, "--schema", schema, "--protocol", proto, "-d", `{"name":"f.bin"}`, base+"/native.Store/Read")
					if code != 16*8 || !strings.Contains(errOut, `"message": "gw: missing bearer token"`) {
						t.Errorf("Read without a token: exit %d\n%s%s", code, out, errOut)
					}
				})
			}
			// A Connect GET reaches safe endpoints only.
			get := func(endpoint, msg string) (string, string) {
				q := url.Values{"connect": {"v1"}, "encoding": {"json"}, "message": {msg}}
				return curlStatus(t, "-H", auth, base+endpoint+"?"+q.Encode())
			}
			if body, code := get("/native.Store/Stat", `{"name":"f.bin"}`); code != "200" || !strings.Contains(strings.ReplaceAll(body, " ", ""), fmt.Sprintf(`"size":"%d"`, len(content))) {
				t.Errorf("Connect GET of Stat: %s %s", code, body)
			}
			if body, code := get("/native.Store/Delete", `{"name":"f.bin"}`); code != "501" || !strings.Contains(body, `"code":"unimplemented"`) || !strings.Contains(body, "not declared safe") {
				t.Errorf("Connect GET of Delete: %s %s", code, body)
			}
			body, code := curlStatus(t, "-H", auth, base+"/metrics")
			for _, want := range []string{`framegate_gateway_calls_total{code="OK",endpoint="Store.Write",protocol="connect"} 1`,
				`framegate_gateway_calls_total{code="OK",endpoint="Store.Write",protocol="grpc-web"} 1`,
				`framegate_gateway_calls_total{code="NotFound",endpoint="Store.Stat",protocol="grpc-web"} 1`,
				`framegate_gateway_calls_total{code="OK",endpoint="Store.Read",protocol="connect"} 2`} {
				if code != "200" || !strings.Contains(body, want) {
					t.Errorf("GET /metrics lacks %s:\n%s", want, body)
				}
			}
		})
	}
}
