package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/framegate/framegate/native"
)

// wsFinal is the gateway's final message on a WebSocket.
type wsFinal struct {
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Trailer map[string][]string `json:"trailer"`
}

// wsDial opens a WebSocket to endpoint name's path plus query.
func (e *msEnv) wsDial(t *testing.T, name, query string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(context.Background(), e.wsURL(name, query), opts)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", name, err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func (e *msEnv) wsURL(name, query string) string {
	u := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/native." + strings.Replace(name, ".", "/", 1)
	if query != "" {
		u += "?" + query
	}
	return u
}

func wsSend(t *testing.T, c *websocket.Conn, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := c.Write(context.Background(), websocket.MessageText, []byte(m)); err != nil {
			t.Fatalf("send %q: %v", m, err)
		}
	}
}

// wsRecv reads the gateway's messages up to its final one, returning the
// results, the final message, and checking that a normal close follows.
func wsRecv(t *testing.T, c *websocket.Conn) ([]string, wsFinal) {
	t.Helper()
	var results []string
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("after %d results: %v, before the final message", len(results), err)
		}
		var m struct {
			Result json.RawMessage `json:"result"`
			Status json.RawMessage `json:"status"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("message %q: %v", b, err)
		}
		if m.Status != nil {
			var f wsFinal
			json.Unmarshal(b, &f)
			_, _, err := c.Read(context.Background())
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("after the final message: %v, want a normal close", err)
			}
			return results, f
		}
		results = append(results, string(m.Result))
	}
}

func wantFinal(t *testing.T, f wsFinal, code native.Code, msg string) {
	t.Helper()
	if f.Status.Code != int(code) || !strings.Contains(f.Status.Message, msg) {
		t.Errorf("final status %+v, want code %v with %q", f.Status, code, msg)
	}
}

func TestWebSocketBidiPingPong(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		c := e.wsDial(t, "Msg.Echo", "", nil)
		for i := range 20 {
			wsSend(t, c, fmt.Sprintf(`{"seq":%d,"text":"ping"}`, i))
			_, b, err := c.Read(context.Background())
			if want := fmt.Sprintf(`{"result":{"seq":%d,"text":"ping"}}`, i); err != nil || string(b) != want {
				t.Fatalf("reply %d: %s %v, want %s", i, b, err, want)
			}
		}
		wsSend(t, c, "") // the end of the client's stream
		results, f := wsRecv(t, c)
		if len(results) != 0 {
			t.Errorf("results after the end: %v", results)
		}
		wantFinal(t, f, native.CodeOK, "")

		// The handler's error after N messages: the N, then the error
		// with its code, then a normal close.
		c = e.wsDial(t, "Msg.Echo", "", nil)
		wsSend(t, c, `{"seq":1}`, `{"seq":2,"text":"fail"}`)
		results, f = wsRecv(t, c)
		if len(results) != 1 || results[0] != `{"seq":1}` {
			t.Errorf("results %v", results)
		}
		wantFinal(t, f, native.CodeFailedPrecondition, `echo refuses "fail" after seq 2`)

		// Messages the backend cannot read are its error.
		c = e.wsDial(t, "Msg.Echo", "", nil)
		wsSend(t, c, `{"seq":"x"}`)
		_, f = wsRecv(t, c)
		wantFinal(t, f, native.CodeInvalidArgument, "seq")
		c = e.wsDial(t, "Msg.Echo", "", nil)
		wsSend(t, c, `{"seq":`)
		_, f = wsRecv(t, c)
		wantFinal(t, f, native.CodeInvalidArgument, "message 1 is not JSON")
	})
}

func TestWebSocketClientStream(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		c := e.wsDial(t, "Msg.Sum", "", nil)
		for i := range 10 {
			wsSend(t, c, fmt.Sprintf(`{"seq":%d}`, i+1))
		}
		wsSend(t, c, "")
		results, f := wsRecv(t, c)
		if len(results) != 1 || results[0] != `{"n":10,"sum":55,"log":""}` {
			t.Errorf("results %v", results)
		}
		wantFinal(t, f, native.CodeOK, "")

		// json+messages: the request from the query, or the first message.
		c = e.wsDial(t, "Msg.Append", "log=Q", nil)
		wsSend(t, c, `{"seq":5}`, `{"seq":6}`, "")
		if results, f := wsRecv(t, c); len(results) != 1 || results[0] != `{"n":2,"sum":11,"log":"Q"}` || f.Status.Code != 0 {
			t.Errorf("from the query: %v %+v", results, f)
		}
		c = e.wsDial(t, "Msg.Append", "", nil)
		wsSend(t, c, `{"log":"M"}`, `{"seq":7}`, "")
		if results, f := wsRecv(t, c); len(results) != 1 || results[0] != `{"n":1,"sum":7,"log":"M"}` || f.Status.Code != 0 {
			t.Errorf("from the first message: %v %+v", results, f)
		}
		c = e.wsDial(t, "Msg.Append", "", nil)
		wsSend(t, c, `{"log":"M","nosuch":1}`)
		_, f = wsRecv(t, c)
		wantFinal(t, f, native.CodeInvalidArgument, "nosuch")

	})
}

func TestWebSocketServerStream(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		// The request as the first message, and from the query.
		c := e.wsDial(t, "Msg.Watch", "", nil)
		wsSend(t, c, `{"count":3,"name":"w"}`)
		results, f := wsRecv(t, c)
		if len(results) != 3 || results[2] != `{"seq":2,"text":"w"}` {
			t.Errorf("results %v", results)
		}
		wantFinal(t, f, native.CodeOK, "")
		if got := f.Trailer["x-sent"]; len(got) != 1 || got[0] != "3" {
			t.Errorf("trailer %v", f.Trailer)
		}
		c = e.wsDial(t, "Msg.Watch", "count=2&name=q", nil)
		if results, f := wsRecv(t, c); len(results) != 2 || f.Status.Code != 0 {
			t.Errorf("from the query: %v %+v", results, f)
		}

		// An error after N messages.
		c = e.wsDial(t, "Msg.Watch", "count=50&fail=7&name=b", nil)
		results, f = wsRecv(t, c)
		if len(results) != 7 {
			t.Errorf("%d results before the error", len(results))
		}
		wantFinal(t, f, native.CodeAborted, "watch b stopped after 7 ticks")

		// A server stream takes no messages after its request.
		c = e.wsDial(t, "Msg.Watch", "name=forever", nil)
		wsSend(t, c, `{"seq":1}`)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				t.Fatalf("before the final message: %v", err)
			}
			if strings.HasPrefix(string(b), `{"status"`) {
				if !strings.Contains(string(b), "takes no messages from the client") {
					t.Errorf("final %s", b)
				}
				break
			}
		}
		if name := <-e.canceled; name != "forever" {
			t.Errorf("canceled %q", name)
		}

		// A client that closes the socket cancels the call.
		c = e.wsDial(t, "Msg.Watch", "name=closed", nil)
		if _, _, err := c.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.CloseNow()
		if name := <-e.canceled; name != "closed" {
			t.Errorf("canceled %q", name)
		}
	})
}

// A message over the JSON body limit is refused, with the limit in the
// final message.
func TestWebSocketOversizedMessage(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		c := e.wsDial(t, "Msg.Echo", "", nil)
		wsSend(t, c, `{"seq":1,"text":"`+strings.Repeat("x", 1000)+`"}`)
		_, b, err := c.Read(context.Background())
		if err != nil || !strings.HasPrefix(string(b), `{"result":{"seq":1`) {
			t.Fatalf("under the limit: %.40s %v", b, err)
		}
		wsSend(t, c, `{"seq":2,"text":"`+strings.Repeat("x", 1100)+`"}`)
		_, f := wsRecv(t, c)
		wantFinal(t, f, native.CodeResourceExhausted, "a message over 1100 bytes")
	}, WithMaxJSONBody(1100))
}

// Browsers open WebSockets to any site without asking: a page of another
// origin is refused before the handshake; the gateway's own origin, the
// allowed ones and clients without an Origin are let through.
func TestWebSocketCrossOrigin(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		for _, tc := range []struct {
			origin string
			ok     bool
		}{
			{"", true},
			{e.http.URL, true},
			{"https://app.example", true},
			{"https://evil.example", false},
			{"null", false},
		} {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := websocket.Dial(context.Background(), e.wsURL("Msg.Watch", "count=1"), &websocket.DialOptions{HTTPHeader: h})
			if !tc.ok {
				var body []byte
				if resp != nil {
					body, _ = io.ReadAll(resp.Body)
				}
				if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "-cors-origin") {
					t.Errorf("origin %q: %v %s", tc.origin, err, body)
				}
				if c != nil {
					c.CloseNow()
				}
				continue
			}
			if err != nil {
				t.Errorf("origin %q: %v", tc.origin, err)
				continue
			}
			if results, f := wsRecv(t, c); len(results) != 1 || f.Status.Code != 0 {
				t.Errorf("origin %q: %v %+v", tc.origin, results, f)
			}
		}
	}, WithCORSOrigins("https://app.example"))
}

// The gateway selects WebSocketProtocol when the client offers it, beside
// others it does not know, and no subprotocol when the client offers
// none of its own: the call works either way.
func TestWebSocketSubprotocol(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		for _, tc := range []struct {
			offer []string
			want  string
		}{
			{nil, ""},
			{[]string{"chat.example", WebSocketProtocol}, WebSocketProtocol},
			{[]string{"chat.example"}, ""},
		} {
			c := e.wsDial(t, "Msg.Echo", "", &websocket.DialOptions{Subprotocols: tc.offer})
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("offered %q: the gateway selected %q, want %q", tc.offer, got, tc.want)
			}
			wsSend(t, c, `{"seq":1}`, "")
			results, f := wsRecv(t, c)
			if len(results) != 1 {
				t.Errorf("offered %q: results %v", tc.offer, results)
			}
			wantFinal(t, f, native.CodeOK, "")
		}
	})
}
