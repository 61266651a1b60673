package gateway

// Tests of server streams of messages as Server-Sent Events.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// sseEvent is one event of an SSE stream.
type sseEvent struct {
	event, id, data string
}

// readSSE reads events until the stream ends (how: nil for a clean end)
// or stop says to.
func readSSE(r io.Reader, comments *int, stop func(sseEvent) bool) ([]sseEvent, error) {
	var evs []sseEvent
	var ev sseEvent
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		line = strings.TrimSuffix(line, "\n")
		k, v, _ := strings.Cut(line, ": ")
		switch {
		case line == "" && ev == sseEvent{}: // after a comment: no event
		case line == "":
			evs = append(evs, ev)
			if stop != nil && stop(ev) {
				return evs, nil
			}
			ev = sseEvent{}
		case k == "":
			*comments++
		case k == "event":
			ev.event = v
		case k == "id":
			ev.id = v
		case k == "data":
			ev.data = v
		}
	}
}

func TestRESTMessagesSSE(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		resp := e.postStream(t, context.Background(), "Msg.Events", `{"count":3}`, "Accept", "text/event-stream")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("status %d header %v", resp.StatusCode, resp.Header)
		}
		var comments int
		evs, err := readSSE(resp.Body, &comments, nil)
		if err != nil || len(evs) != 4 {
			t.Fatalf("events %+v, %v", evs, err)
		}
		for i, ev := range evs[:3] {
			if want := fmt.Sprintf(`{"id":"e%d","n":%d}`, i+1, i+1); ev.event != "" || ev.id != fmt.Sprint("e", i+1) || ev.data != want {
				t.Errorf("event %d: %+v, want data %s", i, ev, want)
			}
		}
		if end := evs[3]; end.event != "end" || !strings.Contains(end.data, `"code":0`) {
			t.Errorf("last event %+v", end)
		}

		// GET (the endpoint is safe) with Last-Event-ID, as EventSource
		// reconnects: the handler resumes after it.
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/native.Msg/Events?count=5", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", "e3")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		evs, err = readSSE(resp.Body, &comments, nil)
		resp.Body.Close()
		if err != nil || len(evs) != 3 || evs[0].id != "e4" || evs[1].data != `{"id":"e5","n":5,"resumed":"e3"}` || evs[2].event != "end" {
			t.Fatalf("resumed: %+v, %v", evs, err)
		}

		// An error after 2 events: an error event with its code, and a
		// transfer that does not end cleanly.
		resp = e.postStream(t, context.Background(), "Msg.Events", `{"count":9,"fail":2}`, "Accept", "text/event-stream")
		evs, err = readSSE(resp.Body, &comments, nil)
		if err == nil {
			t.Errorf("the failed stream ended cleanly")
		}
		var st struct {
			Code    int
			Message string
		}
		if len(evs) != 3 || evs[2].event != "error" || json.Unmarshal([]byte(evs[2].data), &st) != nil || st.Code != int(native.CodeAborted) || st.Message != "events stopped after 2" {
			t.Fatalf("events %+v", evs)
		}
		if comments != 0 {
			t.Errorf("%d comments with the default heartbeat", comments)
		}
	})
}

// A stream with nothing to say sends heartbeat comments.
func TestRESTMessagesSSEHeartbeat(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := e.postStream(t, ctx, "Msg.Events", `{"count":1,"hold":true}`, "Accept", "text/event-stream")
		var comments, after int // after: the comments before the event
		seen := false
		stop := &stopAfter{r: resp.Body, done: func() bool { return seen && comments-after >= 3 }}
		evs, err := readSSE(stop, &comments, func(ev sseEvent) bool { seen, after = true, comments; return false })
		if comments-after < 3 || len(evs) < 1 || evs[0].id != "e1" {
			t.Fatalf("%d comments, %d after the events %+v, %v", comments, comments-after, evs, err)
		}
	}, WithStreamHeartbeat(time.Millisecond))
}

// stopAfter reads r until done.
type stopAfter struct {
	r    io.Reader
	done func() bool
}

func (s *stopAfter) Read(p []byte) (int, error) {
	if s.done() {
		return 0, io.EOF
	}
	return s.r.Read(p[:min(len(p), 1)]) // a byte at a time: stop right after the comment
}

// A handler that sends nothing, not even its header, for longer than a
// heartbeat gets the gateway's own SSE header and heartbeats meanwhile,
// so that proxies see an answer; what it then sends, or the error it
// returns, follows as after any first message. Without SSE the gateway
// waits for the handler's header, so that a refusal keeps its status.
func TestRESTMessagesSSESilentHandler(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		resp := e.postStream(t, context.Background(), "Msg.Events", `{"count":2,"delay":300}`, "Accept", "text/event-stream")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != sseType {
			t.Fatalf("status %d header %v", resp.StatusCode, resp.Header)
		}
		var comments int
		evs, err := readSSE(resp.Body, &comments, nil)
		if err != nil || len(evs) != 3 || evs[0].id != "e1" || evs[1].id != "e2" || evs[2].event != "end" {
			t.Fatalf("events %+v, %v", evs, err)
		}
		if comments == 0 {
			t.Errorf("no heartbeat while the handler was silent")
		}

		resp = e.postStream(t, context.Background(), "Msg.Events", `{"delay":300,"refuse":true}`, "Accept", "text/event-stream")
		evs, err = readSSE(resp.Body, &comments, nil)
		if resp.StatusCode != 200 || err == nil {
			t.Errorf("a late refusal: status %d, the stream ended cleanly: %v", resp.StatusCode, err == nil)
		}
		var st struct{ Code int }
		if len(evs) != 1 || evs[0].event != "error" || json.Unmarshal([]byte(evs[0].data), &st) != nil || st.Code != int(native.CodeNotFound) {
			t.Errorf("a late refusal: events %+v; want one error event, NOT_FOUND", evs)
		}

		resp = e.postStream(t, context.Background(), "Msg.Events", `{"delay":300,"refuse":true}`)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("a late refusal without SSE: status %d, want 404", resp.StatusCode)
		}
	}, WithStreamHeartbeat(20*time.Millisecond))
}
