package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/framegate/framegate/gateway"
)

// TestWS runs gw ws against a gateway's HTTP listener: a server stream
// with its request from the query, a bidi call reading stdin's lines as
// messages, a client stream with its request from the first line, and a
// handler's error after messages.
func TestWS(t *testing.T) {
	srv := cmServer(t)
	g, err := gateway.New(context.Background(), gateway.Local(srv))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.HTTPHandler())
	defer hs.Close()
	base := "ws" + strings.TrimPrefix(hs.URL, "http") + "/native.T/"
	ws := func(stdin string, args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := runWS(args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errOut, env: func(string) (string, bool) { return "", false }})
		return out.String(), errOut.String(), code
	}
	for _, tc := range []struct {
		name, stdin, url, out, err string
		code                       int
	}{
		{"server stream", "", base + "Watch?prefix=p", "{\"text\":\"pa\"}\n{\"text\":\"pb\"}\n", "", 0},
		{"bidi", "{\"text\":\"hi\"}\n\n{\"text\":\"yo\"}\n", base + "Upper", "{\"text\":\"HI\"}\n{\"text\":\"YO\"}\n", "", 0},
		{"client stream", "{\"prefix\":\"x\"}\n{\"text\":\"a\"}\n{\"text\":\"b\"}\n", base + "Join", "{\"text\":\"xab\"}\n", "", 0},
		{"error after messages", "", base + "Watch?prefix=fail", "{\"text\":\"faila\"}\n{\"text\":\"failb\"}\n", "gw ws: Aborted: watch ended\n", 1},
		{"refused", "", base + "Nosuch", "", "gw ws: NotFound: gateway: no endpoint at", 1},
	} {
		out, errOut, code := ws(tc.stdin, tc.url)
		if out != tc.out || !strings.HasPrefix(errOut, tc.err) || code != tc.code || tc.err == "" && errOut != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.name, code, out, errOut, tc.code, tc.out, tc.err)
		}
	}
}
