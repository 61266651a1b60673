package main

import (
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A page in a real browser reaches a gateway that requires a token
// (-auth-token-file) where it cannot send an Authorization header: an
// EventSource with the token's cookie, through a reverse proxy that puts
// the gateway at the page's own origin (as a web app's server does), and a
// WebSocket straight to the gateway with the token as a subprotocol. Without
// the token, both are refused.
func TestBrowserAuth(t *testing.T) {
	ctx := newBrowser(t)
	tok := randomWord("browser-token-")
	tokens := writeTokens(t, tok+"\n")
	pg := newPage(t)
	gw := startGW(t, "gw serve", []string{"GW_AUTH_TOKEN_FILE=" + tokens}, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-native-addr", "", "-data-dir", t.TempDir(), "-cors-origin", pg.origin())
	target := &url.URL{Scheme: "http", Host: gw.addr("http")}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	pg.proxy = proxy
	waitHealthz(t, gw.addr("http"), 200, 5*time.Second)

	var got struct {
		Error         string
		NoCookie      string
		Event         struct{ Kind, Name string }
		NoToken       string
		Protocol      string
		Chat          []string
		Close         int
		WrongProtocol string
	}
	pg.run(t, ctx, "http://"+gw.addr("http"), `
const TOKEN = `+jsString(tok)+`;
const watch = () => new EventSource('/native.Store/Watch?prefix=authed/');
// Without the cookie: 401, and EventSource gives up.
let es = watch();
results.noCookie = await new Promise((resolve) => {
  es.onopen = () => resolve('opened');
  es.onerror = () => resolve('error, readyState ' + es.readyState);
});
es.close();

// With it, the watch runs; the writes that make its events carry the
// token in a header, as fetch can.
document.cookie = 'framegate_token=' + TOKEN + '; path=/; SameSite=Strict';
es = watch();
let first;
const received = new Promise((resolve, reject) => {
  es.onmessage = (e) => { if (!first) { first = e; resolve(); } };
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) reject(new Error('EventSource failed with the cookie')); };
});
await new Promise((resolve, reject) => { es.onopen = resolve; received.catch(reject); });
for (let n = 1; !first; n++) {
  if (n > 200) throw new Error('no event after 200 writes');
  const r = await fetch('/native.Store/Write?name=authed/' + n + '.txt', {method: 'PUT', body: 'x', headers: {'Authorization': 'Bearer ' + TOKEN}});
  if (r.status !== 200) throw new Error('write: ' + r.status + ' ' + await r.text());
  if (es.readyState === EventSource.CLOSED) throw new Error('EventSource failed');
}
es.close();
results.event = JSON.parse(first.data);
document.cookie = 'framegate_token=; path=/; max-age=0';

// A WebSocket to the gateway itself (another origin, which -cors-origin
// allows): no token, then the token as a subprotocol.
const WS = GW.replace(/^http/, 'ws') + '/native.Echo/Chat';
const b64url = (s) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
let ws = new WebSocket(WS, ['framegate.v1']);
results.noToken = await new Promise((resolve) => {
  ws.onopen = () => { resolve('opened'); ws.close(); };
  ws.onclose = (e) => resolve('closed ' + e.code);
});
ws = new WebSocket(WS, ['framegate.v1', 'base64url.bearer.framegate.' + b64url(TOKEN + 'x')]);
results.wrongProtocol = await new Promise((resolve) => {
  ws.onopen = () => { resolve('opened'); ws.close(); };
  ws.onclose = (e) => resolve('closed ' + e.code);
});
ws = new WebSocket(WS, ['framegate.v1', 'base64url.bearer.framegate.' + b64url(TOKEN)]);
results.chat = [];
const closed = new Promise((resolve) => { ws.onclose = resolve; });
ws.onmessage = (e) => { results.chat.push(e.data); if (results.chat.length === 1) ws.send(''); };
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed with the token')); });
results.protocol = ws.protocol;
ws.send(JSON.stringify({text: 'with a token'}));
results.close = (await closed).code;
`, &got)
	if got.Error != "" {
		t.Fatalf("page: %+v", got)
	}
	if got.NoCookie != "error, readyState 2" {
		t.Errorf("EventSource without the cookie: %s; want it refused (CLOSED)", got.NoCookie)
	}
	if got.Event.Kind != "created" || !strings.HasPrefix(got.Event.Name, "authed/") {
		t.Errorf("EventSource with the cookie saw %+v, want a created file under authed/", got.Event)
	}
	if got.NoToken != "closed 1006" || got.WrongProtocol != "closed 1006" {
		t.Errorf("WebSockets without a token: %s, with a wrong one: %s; want both refused (1006)", got.NoToken, got.WrongProtocol)
	}
	if got.Protocol != "framegate.v1" || len(got.Chat) != 2 || got.Chat[0] != `{"result":{"seq":1,"text":"with a token"}}` || got.Close != 1000 {
		t.Errorf("a WebSocket with the token: protocol %q, messages %q, close %d; want framegate.v1, the echo and a status, 1000", got.Protocol, got.Chat, got.Close)
	}
}
