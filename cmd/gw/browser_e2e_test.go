package main

// Tests that drive a real headless Chromium (Debian's package, which
// .ci/run installs) against gw serve, through the DevTools protocol
// (chromedp): what a web page can and cannot do with the gateway.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserPath is Chromium's executable: $CHROMIUM, or chromium on PATH.
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FRAMEGATE_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH: apt-get install -y chromium (.ci/run does)")
	}
	t.Skip("no chromium on PATH: apt-get install -y chromium to run the browser tests (.ci/run does, and requires them)")
	return ""
}

// newBrowser starts a headless Chromium for the test, with the flags that
// keep it off the network (this machine has none beyond loopback) and a
// fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := browserPath(t)
	profile, err := os.MkdirTemp("", "framegate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelT()
		cancelC()
		cancelA()
		// Chromium's child processes may write in the profile for a moment
		// after it stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// page serves a page of its own origin, with the script run gives it;
// requests for other paths go to proxy, if set.
type page struct {
	srv   *httptest.Server
	html  string
	proxy http.Handler
}

func newPage(t *testing.T) *page {
	p := &page{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.proxy != nil && r.URL.Path != "/" {
			p.proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, p.html)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *page) origin() string { return p.srv.URL }

// run opens the page, whose script (inside an async function, with GW the
// gateway's base URL) fills window.results, and decodes window.results
// into out once the script ended; a script that does not end within 30s
// fails the test with the results it had so far.
func (p *page) run(t *testing.T, ctx context.Context, gwBase, script string, out any) {
	t.Helper()
	p.html = "<!doctype html><title>framegate</title><script>\nconst GW = " + jsString(gwBase) + ";\nwindow.results = {};\n" +
		"(async () => {\ntry {\n" + script + "\n} catch (e) { window.results.error = String(e); }\nwindow.done = true;\n})();\n</script>"
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.srv.URL+"/"),
		chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](`window.done === true`, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
			return chromedp.Void{}, err
		}),
	)
	res, rerr := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.results)`))
	if err != nil {
		t.Fatalf("page: %v; results so far: %s (%v)", err, res, rerr)
	}
	if rerr != nil {
		t.Fatalf("page results: %v", rerr)
	}
	if err := json.Unmarshal([]byte(res), out); err != nil {
		t.Fatalf("page results %s: %v", res, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A page of an origin the gateway allows (-cors-origin) calls it from a
// real browser: an upload with PUT (after a CORS preflight), a JSON call,
// a download with its length and entity tag exposed, and Connect calls
// with fetch, as connect-web makes them; a page of another
// origin cannot change anything, even with a request the browser sends
// without a preflight.
func TestBrowserCORS(t *testing.T) {
	ctx := newBrowser(t)
	allowed, other := newPage(t), newPage(t)
	dataDir := t.TempDir()
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "",
		"-data-dir", dataDir, "-cors-origin", allowed.origin())
	base := "http://" + gw.addr("http")
	waitHealthz(t, gw.addr("http"), 200, 5*time.Second)

	var got struct {
		Error                          string
		Write, List, Read              int
		WriteBody, ReadBody            string
		Length, ETag, Entries          string
		Connect, ConnectMissing        int
		ConnectBody, ConnectMissingErr string
	}
	allowed.run(t, ctx, base, `
let r = await fetch(GW + '/native.Store/Write?name=browser.txt', {method: 'PUT', body: 'from a browser\n'});
results.write = r.status; results.writeBody = await r.text();
r = await fetch(GW + '/native.Store/List', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"prefix":""}'});
results.list = r.status; results.entries = JSON.stringify((await r.json()).entries.map(e => e.name));
r = await fetch(GW + '/native.Store/Read?name=browser.txt');
results.read = r.status; results.length = r.headers.get('Content-Length'); results.etag = r.headers.get('ETag'); results.readBody = await r.text();
// The Connect protocol, as connect-web speaks it: a unary call, and an error.
const connect = (name) => fetch(GW + '/native.Store/Stat', {method: 'POST',
  headers: {'Content-Type': 'application/json', 'Connect-Protocol-Version': '1'}, body: JSON.stringify({name})});
r = await connect('browser.txt');
results.connect = r.status; results.connectBody = await r.text();
r = await connect('missing.txt');
results.connectMissing = r.status; results.connectMissingErr = (await r.json()).code;
`, &got)
	if got.Error != "" || got.Write != 200 || got.List != 200 || got.Read != 200 {
		t.Fatalf("calls from the allowed origin: %+v", got)
	}
	if got.ReadBody != "from a browser\n" || got.Entries != `["browser.txt"]` || got.Length != "15" || got.ETag == "" {
		t.Errorf("from the allowed origin: %+v", got)
	}
	if got.Connect != 200 || !strings.Contains(got.ConnectBody, `"name":"browser.txt"`) || got.ConnectMissing != 404 || got.ConnectMissingErr != "not_found" {
		t.Errorf("Connect calls from the allowed origin: %d %s, %d %s", got.Connect, got.ConnectBody, got.ConnectMissing, got.ConnectMissingErr)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "browser.txt")); err != nil || string(b) != "from a browser\n" {
		t.Errorf("the file the page wrote: %q %v", b, err)
	}

	var refused struct {
		Error          string
		Simple, Delete string
	}
	other.run(t, ctx, base, `
// A "simple" request: the browser sends it without a preflight, and only
// hides the answer from the page.
try { await fetch(GW + '/native.Store/Write?name=browser.txt', {method: 'POST', headers: {'Content-Type': 'text/plain'}, body: 'overwritten'}); results.simple = 'answered'; }
catch (e) { results.simple = 'refused: ' + e; }
try { await fetch(GW + '/native.Store/Delete', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"name":"browser.txt"}'}); results.delete = 'answered'; }
catch (e) { results.delete = 'refused: ' + e; }
`, &refused)
	if !strings.HasPrefix(refused.Simple, "refused") || !strings.HasPrefix(refused.Delete, "refused") {
		t.Errorf("a page of another origin was answered: %+v", refused)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "browser.txt")); err != nil || string(b) != "from a browser\n" {
		t.Errorf("after another origin's requests the file holds %q (%v)", b, err)
	}
}

// A page of an allowed origin uses the demo's streams of messages as web
// pages do: Store.Watch with EventSource (Server-Sent Events), sees the
// change a write makes, with its id, and resumes after an earlier id with
// Last-Event-ID (through fetch: EventSource sends it only on its own
// reconnects); and Echo.Chat over a WebSocket, both ways, to its final
// status and a normal close. A page of another origin cannot open the
// WebSocket (the gateway answers the handshake 403) nor read the events.
func TestBrowserStreams(t *testing.T) {
	ctx := newBrowser(t)
	allowed, other := newPage(t), newPage(t)
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "",
		"-data-dir", t.TempDir(), "-cors-origin", allowed.origin())
	base := "http://" + gw.addr("http")
	waitHealthz(t, gw.addr("http"), 200, 5*time.Second)

	// How the WebSocket handshakes went, which a page cannot see: the
	// status of an answered one, the browser's error for a refused one.
	var (
		mu         sync.Mutex
		handshakes []string
	)
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventWebSocketHandshakeResponseReceived:
			handshakes = append(handshakes, strconv.FormatInt(ev.Response.Status, 10))
		case *network.EventWebSocketFrameError:
			handshakes = append(handshakes, ev.ErrorMessage)
		}
	}); err != nil {
		t.Fatal(err)
	}

	type event struct {
		ID, Kind, Name string
		Size           int64
	}
	var got struct {
		Error       string
		Written     map[string]int64 // name: size
		Event       event
		LastEventID string
		Resumed     string // the first event of the resumed stream, as sent
		Chat        []string
		Close       int
		Clean       bool
	}
	allowed.run(t, ctx, base, `
// Store.Watch as Server-Sent Events: EventSource asks with Accept:
// text/event-stream. It reconnects after any end, so the page closes it.
const es = new EventSource(GW + '/native.Store/Watch?prefix=watched/');
let first;
const received = new Promise((resolve, reject) => {
  es.onmessage = (e) => { if (!first) { first = e; resolve(); } };
  es.onerror = () => { results.eventSourceErrors = (results.eventSourceErrors || 0) + 1; if (es.readyState === EventSource.CLOSED) reject(new Error('EventSource failed')); };
});
await new Promise((resolve, reject) => { es.onopen = resolve; received.catch(reject); });
// The stream is open once the watch started, but its subscription may
// come a moment later: write new files until one is seen.
results.written = {};
for (let n = 1; !first; n++) {
  if (n > 200) throw new Error('no event after 200 writes');
  const name = 'watched/' + n + '.txt', body = 'x'.repeat(n);
  const r = await fetch(GW + '/native.Store/Write?name=' + name, {method: 'PUT', body});
  if (r.status !== 200) throw new Error('write ' + name + ': ' + r.status + ' ' + await r.text());
  results.written[name] = n;
  if (es.readyState === EventSource.CLOSED) throw new Error('EventSource failed');
}
es.close();
results.event = JSON.parse(first.data);
results.lastEventId = first.lastEventId;

// Resuming after the event before it sends it again. Last-Event-ID is not
// a header a page may send without a preflight, which the gateway answers.
const abort = new AbortController();
const r = await fetch(GW + '/native.Store/Watch?prefix=watched/', {signal: abort.signal,
  headers: {'Accept': 'text/event-stream', 'Last-Event-ID': String(BigInt(first.lastEventId) - 1n)}});
const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
let text = '';
while (!text.includes('\n\n')) {
  const {value, done} = await reader.read();
  if (done) break;
  text += value;
}
abort.abort();
const end = text.indexOf('\n\n');
results.resumed = end < 0 ? text : text.slice(0, end + 2);

// Echo.Chat over a WebSocket: one JSON text message per message, an empty
// one ends the page's side; the gateway sends each result, then the final
// status, then closes.
const ws = new WebSocket(GW.replace(/^http/, 'ws') + '/native.Echo/Chat');
results.chat = [];
const closed = new Promise((resolve) => { ws.onclose = resolve; });
ws.onmessage = (e) => {
  results.chat.push(e.data);
  if (results.chat.length === 2) ws.send('');
};
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed')); });
ws.send(JSON.stringify({text: 'hello'}));
ws.send(JSON.stringify({text: 'from a browser'}));
const c = await closed;
results.close = c.code; results.clean = c.wasClean;
`, &got)
	if got.Error != "" {
		t.Fatalf("page: %+v", got)
	}
	ev := got.Event
	t.Logf("the watch saw %s after %d writes", ev.Name, len(got.Written))
	if ev.Kind != "created" || got.Written[ev.Name] == 0 || ev.Size != got.Written[ev.Name] {
		t.Errorf("the page's first event %+v; it wrote %v", ev, got.Written)
	}
	if _, err := strconv.ParseUint(ev.ID, 10, 64); err != nil || got.LastEventID != ev.ID {
		t.Errorf("event id %q, lastEventId %q: want the same decimal number", ev.ID, got.LastEventID)
	}
	if want := "id: " + ev.ID + "\ndata: "; !strings.HasPrefix(got.Resumed, want) || !strings.Contains(got.Resumed, `"name":"`+ev.Name+`"`) {
		t.Errorf("resumed before event %s, the stream began %q; want the same event", ev.ID, got.Resumed)
	}
	wantChat := []string{
		`{"result":{"seq":1,"text":"hello"}}`,
		`{"result":{"seq":2,"text":"from a browser"}}`,
	}
	if len(got.Chat) != 3 || got.Chat[0] != wantChat[0] || got.Chat[1] != wantChat[1] {
		t.Errorf("Echo.Chat over a WebSocket: %q, want %q then the status", got.Chat, wantChat)
	} else {
		var end struct {
			Status  *struct{ Code int }
			Trailer map[string][]string
		}
		if err := json.Unmarshal([]byte(got.Chat[2]), &end); err != nil || end.Status == nil || end.Status.Code != 0 {
			t.Errorf("Echo.Chat's final message %s: want status code 0 (%v)", got.Chat[2], err)
		}
	}
	if got.Close != 1000 || !got.Clean {
		t.Errorf("Echo.Chat's WebSocket closed with %d (clean %v), want 1000", got.Close, got.Clean)
	}

	var refused struct {
		Error, WebSocket, EventSource string
	}
	other.run(t, ctx, base, `
const ws = new WebSocket(GW.replace(/^http/, 'ws') + '/native.Echo/Chat');
results.webSocket = await new Promise((resolve) => {
  ws.onopen = () => { resolve('opened'); ws.close(); };
  ws.onclose = (e) => resolve('closed ' + e.code);
});
// A GET the browser sends, but whose answer it hides from the page: no
// Access-Control-Allow-Origin for this origin. EventSource gives up.
const es = new EventSource(GW + '/native.Store/Watch?prefix=watched/');
results.eventSource = await new Promise((resolve) => {
  es.onopen = () => resolve('opened');
  es.onmessage = () => resolve('message');
  es.onerror = () => resolve('error, readyState ' + es.readyState);
});
es.close();
`, &refused)
	if refused.Error != "" || refused.WebSocket != "closed 1006" || refused.EventSource != "error, readyState 2" {
		t.Errorf("a page of another origin: %+v; want its WebSocket refused (1006) and its EventSource failed (CLOSED)", refused)
	}
	// The browser reports the handshakes on its own schedule: wait for
	// both.
	var seen []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		seen = slices.Clone(handshakes)
		mu.Unlock()
		if len(seen) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(seen) != 2 || seen[0] != "101" || !strings.Contains(seen[1], "response code: 403") {
		t.Errorf("WebSocket handshakes %q, want the allowed origin's answered (101), then the other's refused (403)", seen)
	}
}
