package gateway

// A response stream of messages (native.Sender) on the REST front door,
// over plain HTTP: POST with the JSON request (GET with the query, for safe
// endpoints) answers
//
//	newline-delimited JSON (Content-Type application/x-ndjson), by default,
//	in grpc-gateway's form:
//	    {"result":<message>}          one line per message, as it arrives
//	    {"error":<status>}            a final line when the call fails after
//	                                  the stream began; then the transfer is
//	                                  aborted (never a clean end)
//	    a clean end is the end of the body, with trailer Grpc-Status: 0
//
//	Server-Sent Events (Content-Type text/event-stream) when the request's
//	Accept says text/event-stream:
//	    id: <id>                      when the message has a top-level "id"
//	    data: <message>               member, a string or a number
//	                                  (a blank line ends each event)
//	    : ping                        a comment every heartbeat
//	                                  (WithStreamHeartbeat) without events
//	    event: end                    the clean end: EventSource reconnects
//	    data: <status, code 0>        after any end, so a page closes its
//	                                  EventSource on this event
//	    event: error                  the call failed after the stream began;
//	    data: <status>                then the transfer is aborted
//
// <status> is the status JSON the front door answers errors with
// ({"code":5,"message":"...","details":[]}). An error before the stream
// began (the backend refused the call) is that JSON under its HTTP status,
// as for any call. The request's Last-Event-ID header (EventSource sends
// it when it reconnects) reaches the handler as request metadata
// last-event-id, so a handler that keeps its events can resume after it.
//
// The header goes out as soon as the backend's handler sent its own: with
// its first message, or at native.SendHeader (a handler that waits for
// events calls it once it is subscribed), before the first message (an
// EventSource fires its open event then), whatever the client's
// Accept-Encoding. A handler that fails before that (a watch refusing a
// malformed Last-Event-ID) is refused like any call, under the HTTP status
// of its code: an EventSource does not reconnect after it. An SSE stream
// whose handler sends nothing, not even its header, for a heartbeat gets
// the gateway's own header and heartbeats meanwhile, so that proxies see
// an answer: what the handler does then follows as after a first message
// (an error is an error event), and its header metadata is lost. Each
// message is written, and flushed unless the next one is there, before the
// next is received: a client that reads slowly holds the backend's Send
// back through the native stream's flow control, and the gateway holds
// one message at a time.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// DefaultStreamHeartbeat is the default of WithStreamHeartbeat: under the
// 30 to 60 seconds after which proxies (nginx's proxy_read_timeout is 60)
// and load balancers drop a silent response.
const DefaultStreamHeartbeat = 15 * time.Second

// WithStreamHeartbeat sets how often a stream of messages that has nothing
// to send says it is alive: an SSE comment (": ping") on the REST front
// door, a ping frame on a WebSocket (default DefaultStreamHeartbeat; 0 sends
// none).
func WithStreamHeartbeat(d time.Duration) Option {
	return optionFunc(func(c *config) { c.heartbeat = max(d, 0) })
}

// The media types of a response stream of messages.
const (
	ndjsonType = "application/x-ndjson"
	sseType    = "text/event-stream"
)

// lastEventIDKey is the request metadata key that carries Last-Event-ID.
const lastEventIDKey = "last-event-id"

// wantsSSE reports whether r's Accept names text/event-stream.
func wantsSSE(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == sseType {
				return true
			}
		}
	}
	return false
}

// lastEventID adds the request's Last-Event-ID header, if any, to a call's
// options as request metadata.
func lastEventID(r *http.Request, opts []native.CallOption) []native.CallOption {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		opts = append(opts, native.WithMetadata(native.Metadata{lastEventIDKey: {clip.Text(id, 1024)}}))
	}
	return opts
}

// sendMessages calls endpoint m, whose response is a stream of messages,
// and writes the stream as newline-delimited JSON or SSE.
func (s *restServer) sendMessages(ctx context.Context, w http.ResponseWriter, r *http.Request, m *method, req any, opts []native.CallOption, hdr, trl *native.Metadata, ev *CallEvent) error {
	sse := wantsSSE(r)
	h := w.Header()
	var rcl *http.ResponseController // set once the header is sent
	writeHeader := func() {
		s.g.plainStream(h)
		if sse {
			h.Set("Content-Type", sseType)
		} else {
			h.Set("Content-Type", ndjsonType)
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
		h.Set("Trailer", "Grpc-Status, Grpc-Message")
		rcl = sendHeader(w, http.StatusOK)
	}
	ping := func() error {
		_, err := io.WriteString(w, ": ping\n\n")
		if err == nil {
			err = rcl.Flush()
		}
		return err
	}
	var heartbeat time.Duration
	if sse {
		heartbeat = s.g.cfg.heartbeat
	}
	rx := new(native.Receiver[json.RawMessage])
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	err := s.callBeating(ctx, cancel, m, req, rx, lastEventID(r, opts), heartbeat, func() error {
		if rcl == nil {
			writeHeader()
		}
		return ping()
	})
	switch {
	case err != nil && rcl == nil:
		s.restError(withServerMD(ctx, err, hdr, trl), w, r, err)
		return err
	case err != nil: // after an early header: as an error after N messages
		return s.endMessages(w, r, rcl, sse, nil, err, trl)
	}
	defer rx.Close()
	if rcl == nil {
		setMetadataHeaders(h, "", *hdr)
		writeHeader()
	}

	// A goroutine receives the messages, so that a message is flushed
	// only when the next one is not there yet (many small messages share
	// a write), and heartbeats go out while none comes.
	var tick <-chan time.Time
	if heartbeat > 0 {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		tick = t.C
	}
	p := startMessagePump(rx)
	defer p.stop()
	next := p.next(tick, ping)
	var buf []byte
	var ready *received // taken from the pump before the last flush
	for {
		var data *json.RawMessage
		var rerr error
		if ready != nil {
			data, rerr, ready = ready.data, ready.err, nil
		} else {
			data, rerr = next()
		}
		if rerr != nil {
			return s.endMessages(w, r, rcl, sse, buf, rerr, trl)
		}
		msg := oneLine(*data)
		if sse {
			buf = appendSSE(buf[:0], "", topLevelID(msg), msg)
		} else {
			buf = append(append(append(buf[:0], `{"result":`...), msg...), "}\n"...)
		}
		if _, err := w.Write(buf); err != nil {
			return native.Errorf(native.CodeCanceled, "gateway: writing the response stream: %v", err)
		}
		ev.BytesOut += int64(len(*data))
		if ready = p.ready(); ready != nil {
			continue
		}
		if err := rcl.Flush(); err != nil {
			return native.Errorf(native.CodeCanceled, "gateway: writing the response stream: %v", err)
		}
	}
}

// callBeating calls endpoint m for a response stream of messages into rx.
// The call returns once the handler sent its header (its first message, or
// native.SendHeader); with heartbeat > 0, if that takes longer than
// heartbeat, beat sends the gateway's own header and a heartbeat, and again
// every heartbeat until the call returns, so that proxies on the way see
// an answer and bytes (a handler that waits for its first event without
// SendHeader). Its metadata then comes too late for the header: only the
// trailer's is sent. A failed beat (the client is gone) ends the call
// through cancel, ctx's.
func (s *restServer) callBeating(ctx context.Context, cancel context.CancelCauseFunc, m *method, req any, rx *native.Receiver[json.RawMessage], opts []native.CallOption, heartbeat time.Duration, beat func() error) error {
	if heartbeat <= 0 {
		return s.g.backend.Call(ctx, m.endpoint.Name, req, rx, opts...)
	}
	done := make(chan error, 1)
	go func() { done <- s.g.backend.Call(ctx, m.endpoint.Name, req, rx, opts...) }()
	t := time.NewTimer(heartbeat)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			if err := beat(); err != nil {
				err = native.Errorf(native.CodeCanceled, "gateway: writing the response stream: %v", err)
				cancel(err)
				<-done
				return err
			}
			t.Reset(heartbeat)
		}
	}
}

// endMessages ends a response stream of messages that began: with the
// clean end's trailer (err io.EOF), else with an error line or event and an
// aborted transfer.
func (s *restServer) endMessages(w http.ResponseWriter, r *http.Request, rcl *http.ResponseController, sse bool, buf []byte, err error, trl *native.Metadata) error {
	h := w.Header()
	if err == io.EOF {
		if sse {
			buf = appendSSE(buf[:0], "end", "", s.statusJSON(r, status.New(codes.OK, "")))
			w.Write(buf)
		}
		setMetadataHeaders(h, http.TrailerPrefix, *trl)
		h.Set("Grpc-Status", "0")
		return nil
	}
	st := grpcStatus(err)
	if sse {
		buf = appendSSE(buf[:0], "error", "", s.statusJSON(r, st))
	} else {
		buf = append(append(append(buf[:0], `{"error":`...), s.statusJSON(r, st)...), "}\n"...)
	}
	w.Write(buf)
	if !abortStream(r, rcl, st) {
		return streamReset{err}
	}
	return err
}

// statusJSON is st as the front door writes error statuses.
func (s *restServer) statusJSON(r *http.Request, st *status.Status) []byte {
	_, out := runtime.MarshalerForRequest(s.mux, r)
	b, err := out.Marshal(validUTF8(st).Proto())
	if err != nil {
		return []byte(`{"code":13,"message":"gateway: cannot write the status"}`)
	}
	return oneLine(b)
}

// appendSSE appends one event: its type (none for a message), id and data,
// which holds no line break (oneLine).
func appendSSE(b []byte, event, id string, data []byte) []byte {
	if event != "" {
		b = append(append(append(b, "event: "...), event...), '\n')
	}
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	return append(append(append(b, "data: "...), data...), "\n\n"...)
}

// oneLine returns JSON b without line breaks: as it is (the native JSON of
// Go handlers has none), or compacted (a line break inside a JSON string
// is escaped). JSON that cannot be compacted is returned as it is.
func oneLine(b []byte) []byte {
	if bytes.IndexAny(b, "\r\n") < 0 {
		return b
	}
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return []byte(strings.NewReplacer("\r", " ", "\n", " ").Replace(string(b)))
	}
	return out.Bytes()
}

// topLevelID is the value of the top-level member "id" of message JSON
// b, when it is a string (one an SSE id line can carry) or a number, else
// "".
func topLevelID(b []byte) string {
	if !bytes.Contains(b, []byte(`"id"`)) {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		if k != "id" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return ""
			}
			continue
		}
		switch v, _ := dec.Token(); v := v.(type) {
		case string:
			if strings.ContainsAny(v, "\r\n\x00") || len(v) > 1024 {
				return ""
			}
			return v
		case json.Number:
			return v.String()
		}
		return ""
	}
	return ""
}

// messagePump receives a stream's messages on a goroutine of its own, one
// at a time, so that the writer can wait for the next message and a
// heartbeat at once, and see whether the next message is there before it
// flushes; it holds one message while the writer holds another.
type messagePump struct {
	ch   chan received
	done chan struct{}
	exit chan struct{}
	rx   *native.Receiver[json.RawMessage]
}

type received struct {
	data *json.RawMessage
	err  error
}

func startMessagePump(rx *native.Receiver[json.RawMessage]) *messagePump {
	p := &messagePump{ch: make(chan received), done: make(chan struct{}), exit: make(chan struct{}), rx: rx}
	go func() {
		defer close(p.exit)
		for {
			data, err := rx.Recv()
			select {
			case p.ch <- received{data, err}:
			case <-p.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// next returns a function that waits for the next message, calling beat
// at each tick meanwhile; beat's error ends the stream.
func (p *messagePump) next(tick <-chan time.Time, beat func() error) func() (*json.RawMessage, error) {
	return func() (*json.RawMessage, error) {
		for {
			select {
			case r := <-p.ch:
				return r.data, r.err
			case <-tick:
				if err := beat(); err != nil {
					return nil, native.Errorf(native.CodeCanceled, "gateway: writing the response stream: %v", err)
				}
			}
		}
	}
}

// ready returns what the goroutine has received already, without waiting;
// nil when it has nothing yet.
func (p *messagePump) ready() *received {
	select {
	case r := <-p.ch:
		return &r
	default:
		return nil
	}
}

// stop aborts the stream and waits for the goroutine.
func (p *messagePump) stop() {
	close(p.done)
	p.rx.Close()
	<-p.exit
}
