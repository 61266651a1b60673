package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

type msEvent struct {
	ID      string `json:"id"`
	N       int    `json:"n"`
	Resumed string `json:"resumed,omitempty"`
}

type msEvents struct {
	Count int  `json:"count"`
	Fail  int  `json:"fail"` // fail after this many, if > 0
	Hold  bool `json:"hold"` // after the events, wait for the caller to go
	// Refuse fails the call before any event, as a watch refuses a
	// malformed Last-Event-ID.
	Refuse bool `json:"refuse"`
	// Delay waits this many milliseconds before anything (a refusal too),
	// without native.SendHeader, as a handler waiting for its first event.
	Delay int `json:"delay"`
}

type msFlood struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Size  int    `json:"size"`
}

// floods are the Msg.Flood calls, by name.
var floods sync.Map // name -> *flood

type flood struct {
	sent atomic.Int64  // messages
	done chan struct{} // closed when the handler returned
}

// registerRESTMessageStreams adds the endpoints the REST and WebSocket
// tests need to registerMessageStreams' server.
func registerRESTMessageStreams(t testing.TB, srv *native.Server) {
	t.Helper()
	// Events e1, e2, ... resuming after the caller's last-event-id.
	if err := srv.Register("Msg.Events", func(ctx context.Context, req *msEvents, out *native.Sender[msEvent]) error {
		last := native.IncomingMetadata(ctx).Get("last-event-id")
		select {
		case <-time.After(time.Duration(req.Delay) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if req.Refuse {
			return native.Errorf(native.CodeNotFound, "no events after %q", last)
		}
		start := 1
		if n, err := strconv.Atoi(strings.TrimPrefix(last, "e")); err == nil {
			start = n + 1
		}
		for i := start; i <= req.Count; i++ {
			if req.Fail > 0 && i-start == req.Fail {
				return native.Errorf(native.CodeAborted, "events stopped after %d", req.Fail)
			}
			if err := out.Send(&msEvent{ID: fmt.Sprint("e", i), N: i, Resumed: last}); err != nil {
				return err
			}
		}
		if req.Hold {
			// Subscribed: the caller learns it now, not at a first event.
			if err := native.SendHeader(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}, native.Safe()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("Msg.Flood", func(ctx context.Context, req *msFlood, out *native.Sender[msTick]) error {
		v, _ := floods.LoadOrStore(req.Name, &flood{done: make(chan struct{})})
		f := v.(*flood)
		defer close(f.done)
		text := strings.Repeat("f", req.Size)
		for i := range req.Count {
			if err := out.Send(&msTick{Seq: int64(i), Text: text}); err != nil {
				return err
			}
			f.sent.Add(1)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// postStream POSTs body to the REST path of endpoint name ("Msg.Watch")
// with the given headers.
func (e *msEnv) postStream(t *testing.T, ctx context.Context, name, body string, hdr ...string) *http.Response {
	t.Helper()
	path := "/native." + strings.Replace(name, ".", "/", 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// ndjsonLine is one line of a newline-delimited JSON stream.
type ndjsonLine struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// readNDJSON reads a response's lines to its end, returning them and how
// the body ended (nil: a clean end).
func readNDJSON(t *testing.T, resp *http.Response) ([]ndjsonLine, error) {
	t.Helper()
	var lines []ndjsonLine
	br := bufio.NewReader(resp.Body)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			var l ndjsonLine
			if jerr := json.Unmarshal(b, &l); jerr != nil || b[len(b)-1] != '\n' {
				t.Fatalf("line %d %q: %v", len(lines), b, jerr)
			}
			lines = append(lines, l)
		}
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
	}
}

func TestRESTMessagesNDJSON(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		resp := e.postStream(t, context.Background(), "Msg.Watch", `{"count":5,"name":"a"}`)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || resp.Header.Get("X-Accel-Buffering") != "no" {
			t.Fatalf("status %d header %v", resp.StatusCode, resp.Header)
		}
		lines, err := readNDJSON(t, resp)
		if err != nil || len(lines) != 5 {
			t.Fatalf("%d lines, %v", len(lines), err)
		}
		for i, l := range lines {
			if want := fmt.Sprintf(`{"seq":%d,"text":"a"}`, i); string(l.Result) != want || l.Error != nil {
				t.Errorf("line %d: %s %v, want %s", i, l.Result, l.Error, want)
			}
		}
		if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Metadata-X-Sent") != "5" {
			t.Errorf("trailer %v", resp.Trailer)
		}

		// An error after 7 messages: the 7, the error line with its code,
		// and a transfer that does not end cleanly.
		resp = e.postStream(t, context.Background(), "Msg.Watch", `{"count":50,"fail":7,"name":"b"}`)
		lines, err = readNDJSON(t, resp)
		if err == nil {
			t.Errorf("the failed stream ended cleanly")
		}
		if len(lines) != 8 || lines[7].Error == nil || lines[7].Error.Code != int(native.CodeAborted) || !strings.Contains(lines[7].Error.Message, "watch b stopped after 7 ticks") {
			t.Fatalf("got %d lines, last %+v", len(lines), lines[len(lines)-1])
		}

		// Refused before the stream: the status under its HTTP status.
		resp = e.postStream(t, context.Background(), "Msg.Watch", `{"count":1,"nosuch":1}`)
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 400 || !strings.Contains(string(b), "nosuch") {
			t.Errorf("unknown field: %d %s", resp.StatusCode, b)
		}
		// A stream from the client needs a WebSocket.
		resp = e.postStream(t, context.Background(), "Msg.Echo", `{}`)
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" || !strings.Contains(string(b), "WebSocket") {
			t.Errorf("POST to a bidi stream: %d %v %s", resp.StatusCode, resp.Header, b)
		}
	})
}

// A stream whose handler fails before its first message is refused as any
// call is, with the status of its code under the mapped HTTP status, over
// NDJSON and SSE, by POST and by GET: never a 200 stream that began and
// failed (which an EventSource would retry forever).
func TestRESTMessagesRefusedBeforeFirst(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		for _, tc := range []struct{ method, accept string }{
			{http.MethodPost, ""},
			{http.MethodPost, sseType},
			{http.MethodGet, ""},
			{http.MethodGet, sseType},
		} {
			what := tc.method + " Accept " + strconv.Quote(tc.accept)
			var body io.Reader
			url := e.http.URL + "/native.Msg/Events"
			if tc.method == http.MethodPost {
				body = strings.NewReader(`{"count":3,"refuse":true}`)
			} else {
				url += "?count=3&refuse=true"
			}
			req, _ := http.NewRequest(tc.method, url, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Last-Event-ID", "e9")
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var st struct {
				Code    int
				Message string
			}
			if resp.StatusCode != http.StatusNotFound || strings.Contains(resp.Header.Get("Content-Type"), sseType) || strings.Contains(resp.Header.Get("Content-Type"), ndjsonType) {
				t.Errorf("%s: %d %v %s, want 404 with a status", what, resp.StatusCode, resp.Header, b)
				continue
			}
			if json.Unmarshal(b, &st) != nil || st.Code != int(native.CodeNotFound) || st.Message != `no events after "e9"` {
				t.Errorf("%s: body %s", what, b)
			}
		}
	})
}

// A client that reads nothing holds the backend's stream back: the
// gateway keeps no more than the transports' windows, and the handler's
// Send fails once the client is gone.
func TestRESTMessagesSlowReader(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		testSlowConsumer(t, e, func(ctx context.Context, req string) func() {
			resp := e.postStream(t, ctx, "Msg.Flood", req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			return func() { resp.Body.Close() }
		})
	})
}

// testSlowConsumer checks that a client which reads nothing holds
// Msg.Flood's Send back, rather than have the gateway buffer 256 MiB, and
// that the handler ends once the client goes. start makes the call with
// request JSON req and returns how to end it.
func testSlowConsumer(t *testing.T, e *msEnv, start func(ctx context.Context, req string) (end func())) {
	const size, count = 64 << 10, 4096                       // 256 MiB if nothing held it back
	name := fmt.Sprint(t.Name(), "-", time.Now().UnixNano()) // unique with -count
	ctx, cancel := context.WithCancel(context.Background())
	end := start(ctx, fmt.Sprintf(`{"name":%q,"count":%d,"size":%d}`, name, count, size))
	var f *flood
	for f == nil {
		if v, ok := floods.Load(name); ok {
			f = v.(*flood)
		}
		time.Sleep(time.Millisecond)
	}
	sent := &f.sent
	// Wait until the handler stops sending (or, if nothing held it
	// back, sends everything).
	last, still := int64(-1), 0
	for still < 50 {
		n := sent.Load()
		if n == count {
			t.Fatalf("the handler sent all %d messages (%d MiB) to a client that reads nothing", count, count*size>>20)
		}
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The sockets' buffers (loopback's grow to 32 MiB here), and a
	// remote backend's client window.
	bound := int64(32 << 20)
	if e.name == "remote" {
		bound += native.DefaultClientStreamWindow
	}
	if held := last * size; held > bound {
		t.Errorf("%d MiB sent before the handler was held back, want at most %d", held>>20, bound>>20)
	}
	t.Logf("held back after %d messages (%d KiB)", last, last*size>>10)
	// The client goes: the handler's Send fails, and it returns.
	cancel()
	end()
	wait(t, f.done, "the handler's end after its client went")
	if n := sent.Load(); n == count {
		t.Errorf("the handler sent all its messages")
	}
}

// A stream that has sent nothing yet has its header answered at once, as
// NDJSON and as SSE, for a client that takes compression too (browsers
// and Go's client ask for gzip): an EventSource's open event does not wait
// for the first event, and no heartbeat is needed to get it.
func TestRESTMessagesHeaderFirst(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		tr := &http.Transport{DisableCompression: true} // sends Accept-Encoding as given
		defer tr.CloseIdleConnections()
		for _, tc := range []struct{ accept, encoding, ct string }{
			{"", "", ndjsonType},
			{"", "gzip, zstd", ndjsonType},
			{sseType, "", sseType},
			{sseType, "gzip, deflate, br, zstd", sseType},
		} {
			what := fmt.Sprintf("Accept %q, Accept-Encoding %q", tc.accept, tc.encoding)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel) // before the server's Close, which waits for the call
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/native.Msg/Events?count=0&hold=true", nil)
			for k, v := range map[string]string{"Accept": tc.accept, "Accept-Encoding": tc.encoding} {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			answered := make(chan struct{})
			var resp *http.Response
			var err error
			go func() {
				defer close(answered)
				resp, err = tr.RoundTrip(req)
			}()
			wait(t, answered, "the header of a stream without messages yet, "+what)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ct || resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: %d %v", what, resp.StatusCode, resp.Header)
			}
			cancel()
			resp.Body.Close()
		}
	}, WithStreamHeartbeat(0))
}
