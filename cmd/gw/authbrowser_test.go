package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Where a browser can put a token: a WebSocket subprotocol on a handshake,
// the cookie on GET and HEAD. Each is taken only where it is safe, removed
// before the request goes on, and refused when it is not a valid token.
func TestBrowserTokens(t *testing.T) {
	a, err := parseTokens([]byte(testToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var seen *http.Request
	h := a.requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }), func(string, string) {})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	upgrade := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		code   int
		// what the handler after the check sees of these headers
		seenProtocol, seenCookie string
	}{
		{"subprotocol", "GET", withValues(upgrade, "Sec-WebSocket-Protocol", "framegate.v1, "+wsTokenProtocol+b64(testToken)), 200, "framegate.v1", ""},
		{"subprotocol, padded, on a line of its own", "GET", withValues(upgrade, "Sec-WebSocket-Protocol", "framegate.v1", wsTokenProtocol+base64.URLEncoding.EncodeToString([]byte(testToken))), 200, "framegate.v1", ""},
		{"subprotocol alone", "GET", withValues(upgrade, "Sec-WebSocket-Protocol", wsTokenProtocol+b64(testToken)), 200, "", ""},
		{"subprotocol, wrong token", "GET", withValues(upgrade, "Sec-WebSocket-Protocol", wsTokenProtocol+b64("not-the-token-at-all")), 401, "", ""},
		{"subprotocol, not base64url", "GET", withValues(upgrade, "Sec-WebSocket-Protocol", wsTokenProtocol+"a+b/c"), 401, "", ""},
		{"two subprotocol tokens", "GET", withValues(upgrade, "Sec-WebSocket-Protocol", wsTokenProtocol+b64(testToken)+", "+wsTokenProtocol+b64(testToken)), 401, "", ""},
		{"subprotocol without an upgrade", "GET", http.Header{"Sec-WebSocket-Protocol": {wsTokenProtocol + b64(testToken)}}, 401, "", ""},
		{"cookie on GET", "GET", http.Header{"Cookie": {"a=1; " + tokenCookie + "=" + testToken + "; b=2"}}, 200, "", "a=1; b=2"},
		{"cookie on HEAD", "HEAD", http.Header{"Cookie": {tokenCookie + "=" + testToken}}, 200, "", ""},
		{"cookie, wrong token", "GET", http.Header{"Cookie": {tokenCookie + "=not-the-token-at-all"}}, 401, "", ""},
		{"two cookies", "GET", http.Header{"Cookie": {tokenCookie + "=" + testToken, tokenCookie + "=" + testToken}}, 401, "", ""},
		{"cookie on POST", "POST", http.Header{"Cookie": {tokenCookie + "=" + testToken}}, 401, "", ""},
		{"cookie on a WebSocket handshake", "GET", withValues(upgrade, "Cookie", tokenCookie+"="+testToken), 401, "", ""},
		{"a header wins over a cookie", "GET", http.Header{"Authorization": {"Bearer nope"}, "Cookie": {tokenCookie + "=" + testToken}}, 401, "", ""},
	} {
		seen = nil
		r := httptest.NewRequest(tc.method, "/native.Echo/Say", nil)
		r.Header = tc.header.Clone()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.code {
			t.Errorf("%s: %d, want %d (%s)", tc.name, w.Code, tc.code, w.Body)
			continue
		}
		if tc.code != 200 {
			if seen != nil {
				t.Errorf("%s: refused, yet the handler ran", tc.name)
			}
			continue
		}
		if got := seen.Header.Get("Sec-WebSocket-Protocol"); got != tc.seenProtocol {
			t.Errorf("%s: the handler saw Sec-WebSocket-Protocol %q, want %q", tc.name, got, tc.seenProtocol)
		}
		if got := seen.Header.Get("Cookie"); got != tc.seenCookie {
			t.Errorf("%s: the handler saw Cookie %q, want %q", tc.name, got, tc.seenCookie)
		}
		if r.Header.Get("Sec-WebSocket-Protocol") != tc.header.Get("Sec-WebSocket-Protocol") || r.Header.Get("Cookie") != tc.header.Get("Cookie") {
			t.Errorf("%s: the check changed the request it was given", tc.name)
		}
	}
}

// withValues returns a copy of h with key set to vs.
func withValues(h http.Header, key string, vs ...string) http.Header {
	h = h.Clone()
	h[http.CanonicalHeaderKey(key)] = vs
	return h
}
