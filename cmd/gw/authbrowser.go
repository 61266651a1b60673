package main

// The two places besides an Authorization header where gw serve takes a
// bearer token, for what a browser cannot put that header on:
//
//   - a WebSocket: new WebSocket(url, [gateway.WebSocketProtocol,
//     wsTokenProtocol + base64url(token)]) offers the token as a
//     subprotocol, as Kubernetes' API server takes one. The gateway never
//     selects it (it selects gateway.WebSocketProtocol, which a browser
//     needs to see selected), and the token's entry is removed from the
//     request before it goes on, so it is neither echoed nor passed to a
//     backend.
//   - an EventSource: the cookie tokenCookie, on GET and HEAD only (a
//     cookie goes with every request a browser makes to the host, from
//     any page: on a safe method, which changes nothing, a cross-site
//     request cannot do harm, and the browser hides the answer from a page
//     of another origin). Not on a WebSocket handshake, which is a GET
//     that reaches endpoints that change state. The cookie is removed from
//     the request before it goes on.
//
// An Authorization header, when there is one, is the only credential
// looked at.

import (
	"encoding/base64"
	"net/http"
	"strings"
)

const (
	// wsTokenProtocol prefixes the WebSocket subprotocol that carries a
	// token, base64url-encoded (with or without padding): subprotocols are
	// HTTP tokens, which base64url's alphabet is.
	wsTokenProtocol = "base64url.bearer.framegate."
	// tokenCookie is the cookie that carries a token on GET and HEAD.
	tokenCookie = "framegate_token"
)

// browserToken finds a token of r outside the Authorization header. found
// is false when r carries none; otherwise tok is the token ("" for one
// that cannot be decoded, or when r carries several) and next is r without
// it, for the handlers after the check.
func browserToken(r *http.Request) (tok string, found bool, next *http.Request) {
	if isWebSocketUpgrade(r) {
		return wsToken(r)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false, r
	}
	var keep, toks []string
	for _, line := range r.Header.Values("Cookie") {
		for c := range strings.SplitSeq(line, ";") {
			if name, v, _ := strings.Cut(strings.TrimSpace(c), "="); name == tokenCookie {
				toks = append(toks, strings.Trim(v, `"`))
			} else if strings.TrimSpace(c) != "" {
				keep = append(keep, strings.TrimSpace(c))
			}
		}
	}
	if len(toks) == 0 {
		return "", false, r
	}
	next = withHeader(r, "Cookie", strings.Join(keep, "; "))
	if len(toks) > 1 {
		return "", true, next
	}
	return toks[0], true, next
}

// wsToken is browserToken for a WebSocket handshake.
func wsToken(r *http.Request) (tok string, found bool, next *http.Request) {
	var keep, toks []string
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(line, ",") {
			p = strings.TrimSpace(p)
			if enc, ok := strings.CutPrefix(p, wsTokenProtocol); ok {
				toks = append(toks, enc)
			} else if p != "" {
				keep = append(keep, p)
			}
		}
	}
	if len(toks) == 0 {
		return "", false, r
	}
	next = withHeader(r, "Sec-WebSocket-Protocol", strings.Join(keep, ", "))
	if len(toks) > 1 {
		return "", true, next
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(toks[0], "="))
	if err != nil {
		return "", true, next
	}
	return string(b), true, next
}

// isWebSocketUpgrade reports whether r asks to become a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "websocket") {
				return true
			}
		}
	}
	return false
}

// withHeader returns a shallow copy of r whose header key is v ("" removes
// it); r's header is left as it was.
func withHeader(r *http.Request, key, v string) *http.Request {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	if v == "" {
		r2.Header.Del(key)
	} else {
		r2.Header.Set(key, v)
	}
	return r2
}
