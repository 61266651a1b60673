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
	"strings"
	"testing"
	"time"

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

// runPage serves html (with {{GW}} replaced by the gateway's base URL) from
// a server of its own, opens it, waits for the page to set window.done, and
// returns window.results decoded into out. The page's origin is the
// returned one; start serves it.
type page struct {
	srv  *httptest.Server
	html string
}

func newPage(t *testing.T) *page {
	p := &page{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, p.html)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *page) origin() string { return p.srv.URL }

// run opens the page in the browser and decodes window.results once
// window.done is set.
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
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.results)`))
	if err != nil {
		t.Fatalf("page results: %v", err)
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
