package gateway

// Streams of messages over WebSocket, at an endpoint's own path: client,
// server and bidi streams (native.Receiver, native.Sender) from a browser
// or any WebSocket client.
//
//	GET /<pkg>.<Service>/<Method> with Upgrade: websocket
//
//	the request     an endpoint that takes JSON beside or instead of its
//	                messages reads it from the query parameters, as GET
//	                does, when the URL has a query, else from the first
//	                text message (send {} for the defaults)
//	client's side   one text message per message: the message's JSON, as
//	                the backend reads it; an empty text message ends the
//	                client's stream (a close frame would end both sides)
//	gateway's side  {"result":<message>} per message (a client stream's
//	                one response too); then one final message,
//	                {"status":<status>} (and "trailer":{key:[values]} with
//	                the handler's trailer metadata), code 0 for a clean
//	                end; then a close frame with code 1000
//
// A client may offer the subprotocol WebSocketProtocol, which the gateway
// then selects; it offers nothing else. (A browser that offers a
// subprotocol fails a handshake that selects none: a page that must offer
// one, to carry a token, offers this one beside it.)
//
// <status> is the status JSON the front door answers errors with. Every
// call ends with the final message and a normal close, never a silent
// one, except when the client is gone or a message stalls: a message
// must arrive whole within the body timeout once it began (WithBodyTimeout;
// the first one, when it carries the request, also must begin within it),
// but between messages a client may be silent for as long as the call
// lasts, as on gRPC. A message over WithMaxJSONBody bytes is refused with
// RESOURCE_EXHAUSTED. A ping goes out every WithStreamHeartbeat, for the
// proxies on the way.
//
// Browsers send WebSocket handshakes to any site without asking (no CORS
// preflight), with the page's Origin: the cross-site guard (crosssite.go)
// lets through pages of the gateway's own origin and of the origins
// WithCORSOrigins allows, and refuses the others with 403 before the
// handshake. Call limits count a WebSocket call as any HTTP request: its
// handler runs until the socket ends.
//
// The protocol is github.com/coder/websocket's: RFC 6455's framing,
// masking, fragmentation, control frames interleaved with messages and the
// close handshake are easy to get subtly wrong, and it passes the Autobahn
// test suite.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// ProtocolWebSocket is CallEvent.Protocol for a call over a WebSocket.
const ProtocolWebSocket = "websocket"

// isWebSocket reports whether r asks for a WebSocket (RFC 6455 4.1).
func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// upgradeRequired answers a request that is not a WebSocket handshake to
// an endpoint that takes a stream of messages from the client.
func (s *restServer) upgradeRequired(w http.ResponseWriter, r *http.Request, m *method) {
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Connection", "Upgrade")
	s.restError(r.Context(), w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusUpgradeRequired,
		Err: status.Errorf(codes.FailedPrecondition, "gateway: endpoint %q takes a stream of messages from the client: open a WebSocket at this path", m.endpoint.Name)})
}

// WebSocketProtocol names the gateway's WebSocket messages (this file's
// comment says what they are), as a subprotocol a client may offer.
const WebSocketProtocol = "framegate.v1"

// serveWebSocket serves a call of m over a WebSocket. What can be refused
// before the handshake is refused with an HTTP status.
func (s *restServer) serveWebSocket(w http.ResponseWriter, r *http.Request, m *method, ev *CallEvent) error {
	fail := func(err error) error {
		s.restError(r.Context(), w, r, err)
		return err
	}
	if m.reqMsg == nil && m.respMsg == nil {
		return fail(&runtime.HTTPStatusError{HTTPStatus: http.StatusBadRequest, Err: status.Errorf(codes.InvalidArgument,
			"gateway: endpoint %q has no stream of messages, so a WebSocket cannot reach it; use %s", m.endpoint.Name, strings.Join(allowedMethods(m), ", "))})
	}
	ctx, err := runtime.AnnotateContext(r.Context(), s.mux, r, m.fullMethod, runtime.WithHTTPPathPattern("/{service}/{method}"))
	if err != nil {
		return fail(err)
	}
	var reqJSON []byte
	fromFirst := m.req != nil && r.URL.RawQuery == ""
	switch {
	case m.req != nil && !fromFirst:
		if reqJSON, err = s.queryJSON(r.URL.Query(), m); err != nil {
			return fail(err)
		}
	case m.req == nil && r.URL.RawQuery != "":
		return fail(status.Errorf(codes.InvalidArgument, "gateway: endpoint %q takes no request fields, the query has %s", m.endpoint.Name, clip.Quote(r.URL.RawQuery)))
	}
	// The cross-site guard checked the Origin, allowing the origins of
	// WithCORSOrigins as well as the gateway's own.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{WebSocketProtocol}})
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "gateway: %v", err) // Accept answered
	}
	conn.SetReadLimit(s.g.cfg.maxJSON)
	c := &wsCall{s: s, r: r, m: m, conn: conn, failed: make(chan error, 1), ended: make(chan struct{})}
	c.connCtx, c.connGone = context.WithCancel(context.WithoutCancel(ctx))
	c.callCtx, c.cancelCall = context.WithCancel(ctx)
	err = c.run(reqJSON, fromFirst)
	ev.BytesIn, ev.BytesOut = c.bytesIn.Load(), c.bytesOut
	return err
}

// wsCall is one call over a WebSocket. The handler's goroutine calls the
// backend and writes; a reader goroutine reads the client's messages and
// sends them to the backend; another sends the pings.
type wsCall struct {
	s    *restServer
	r    *http.Request
	m    *method
	conn *websocket.Conn

	callCtx    context.Context // the backend call's
	cancelCall context.CancelFunc
	connCtx    context.Context // the socket's, ended when the client is gone
	connGone   context.CancelFunc

	tx       *native.Sender[json.RawMessage] // nil: the client sends no messages
	failed   chan error                      // the reader's error, which aborted the call
	ended    chan struct{}                   // closed when a client stream ended (or the backend stopped reading)
	bytesIn  atomic.Int64
	bytesOut int64
}

func (c *wsCall) run(reqJSON []byte, fromFirst bool) error {
	defer c.cancelCall()
	defer c.connGone()
	m := c.m
	if fromFirst {
		b, err := c.readMessage(c.s.g.cfg.bodyTimeout)
		if err == nil && b == nil {
			err = status.Errorf(codes.InvalidArgument, "gateway: endpoint %q: the first message must carry the request (send {} for the defaults), or the URL its query", m.endpoint.Name)
		}
		if err == nil {
			reqJSON, err = checkRequestJSON(b, m)
		}
		if err != nil {
			return c.finish(err, nil)
		}
	}
	var req any
	if reqJSON != nil {
		req = json.RawMessage(reqJSON)
	}
	if m.reqMsg != nil {
		c.tx = new(native.Sender[json.RawMessage])
		if req != nil {
			req = native.StreamRequest{JSON: req, Messages: c.tx}
		} else {
			req = c.tx
		}
	}
	md, _ := metadata.FromOutgoingContext(c.callCtx)
	var hdr, trl native.Metadata
	opts := c.s.g.callOptions(md, &hdr, &trl)

	var rx *native.Receiver[json.RawMessage]
	var out json.RawMessage
	var err error
	if m.respMsg != nil {
		rx = new(native.Receiver[json.RawMessage])
		err = c.s.g.backend.Call(c.callCtx, m.endpoint.Name, req, rx, lastEventID(c.r, opts)...)
	} else {
		err = c.s.g.backend.Call(c.callCtx, m.endpoint.Name, req, &out, opts...)
	}
	if err != nil {
		return c.finish(err, c.trailer(err, &trl))
	}
	readerDone, pingDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readerDone)
		c.readLoop(rx)
	}()
	go func() {
		defer close(pingDone)
		c.ping(c.s.g.cfg.heartbeat)
	}()
	defer func() {
		// The reader may wait in Send, the pinger for a pong.
		c.connGone()
		c.cancelCall()
		<-readerDone
		<-pingDone
	}()

	if rx == nil {
		// A client stream: its messages, then its one response.
		select {
		case <-c.ended:
			if err = c.tx.Close(); err == nil {
				if err = c.write(out); err != nil {
					return err
				}
			}
		case err = <-c.failed:
		}
		return c.finish(err, c.trailer(err, &trl))
	}
	defer rx.Close()
	for {
		data, rerr := rx.Recv()
		if rerr == io.EOF {
			return c.finish(nil, c.trailer(nil, &trl))
		}
		if rerr != nil {
			select {
			case err := <-c.failed:
				return c.finish(err, nil)
			default:
			}
			return c.finish(rerr, c.trailer(rerr, &trl))
		}
		if err := c.write(*data); err != nil {
			return err
		}
	}
}

// trailer is the trailer metadata to report for a call that ended with
// err, when it may be read (see settled).
func (c *wsCall) trailer(err error, trl *native.Metadata) native.Metadata {
	if !settled(c.callCtx, err) {
		return nil
	}
	return *trl
}

// write sends one message of the response as {"result":...}. A client
// that reads slowly holds it back, and the backend's stream with it.
func (c *wsCall) write(data []byte) error {
	b := append(append(append(make([]byte, 0, len(data)+11), `{"result":`...), data...), '}')
	if err := c.conn.Write(c.connCtx, websocket.MessageText, b); err != nil {
		return native.Errorf(native.CodeCanceled, "gateway: writing to the WebSocket: %v", err)
	}
	c.bytesOut += int64(len(data))
	return nil
}

// finish ends the call with err (nil: a clean end): it sends the final
// status message and closes the socket with a normal closure. It returns
// err.
func (c *wsCall) finish(err error, trl native.Metadata) error {
	st := status.New(codes.OK, "")
	if err != nil {
		st = grpcStatus(err)
	}
	final := struct {
		Status  json.RawMessage     `json:"status"`
		Trailer map[string][]string `json:"trailer,omitempty"`
	}{Status: c.s.statusJSON(c.r, st), Trailer: trl}
	b, _ := json.Marshal(final)
	if werr := c.conn.Write(c.connCtx, websocket.MessageText, b); werr != nil {
		c.conn.CloseNow()
		return err
	}
	c.conn.Close(websocket.StatusNormalClosure, "")
	return err
}

// abort fails the call with err, the client's fault or its going away.
func (c *wsCall) abort(err error) {
	select {
	case c.failed <- err:
	default:
	}
	c.cancelCall()
}

// readLoop reads the client's messages until the socket ends or a message
// is refused, and sends them to the backend; rx is the response stream,
// nil for a client stream.
func (c *wsCall) readLoop(rx *native.Receiver[json.RawMessage]) {
	ended, backendDone := false, false
	for n := 1; ; n++ {
		b, err := c.readMessage(0)
		if err != nil {
			if c.connCtx.Err() == nil {
				c.abort(err)
			}
			return
		}
		switch {
		case b == nil && ended:
			c.abort(status.Errorf(codes.InvalidArgument, "gateway: endpoint %q: message %d: the stream already ended", c.m.endpoint.Name, n))
			return
		case b == nil:
			ended = true
			if c.tx == nil {
				continue // a server stream: the client had nothing to end
			}
			if rx == nil {
				close(c.ended) // the handler's goroutine waits for the response
				continue
			}
			if err := c.tx.Close(); err != nil && err != io.EOF {
				c.abort(err)
				return
			}
		case c.tx == nil || ended:
			c.abort(status.Errorf(codes.InvalidArgument, "gateway: endpoint %q takes no messages%s; message %d is %s", c.m.endpoint.Name,
				map[bool]string{true: " after the end of the client's stream", false: " from the client"}[ended], n, clip.Quote(string(b))))
			return
		case backendDone:
			// The call ended on the backend's side: its outcome is on
			// its way, and the client's messages go nowhere.
		case !json.Valid(b):
			c.abort(status.Errorf(codes.InvalidArgument, "gateway: endpoint %q: message %d is not JSON: %s", c.m.endpoint.Name, n, clip.Quote(string(b))))
			return
		default:
			raw := json.RawMessage(b)
			if err := c.tx.Send(&raw); err != nil {
				if err != io.EOF {
					c.abort(err)
					return
				}
				backendDone = true
				if rx == nil {
					ended = true
					close(c.ended)
				}
				continue
			}
			c.bytesIn.Add(int64(len(b)))
		}
	}
}

// readMessage reads one text message whole: nil for an empty one (the end
// of the client's stream). Once a message began it must arrive within the
// body timeout; wait, if not 0, bounds the wait for it to begin too.
func (c *wsCall) readMessage(wait time.Duration) ([]byte, error) {
	d := c.s.g.cfg.bodyTimeout
	ctx, cancel := context.WithCancel(c.connCtx)
	defer cancel()
	var stalled atomic.Bool
	var t *time.Timer
	arm := func() {
		if d > 0 {
			t = time.AfterFunc(d, func() { stalled.Store(true); cancel() })
		}
	}
	if wait > 0 {
		arm()
	}
	typ, rd, err := c.conn.Reader(ctx)
	if err == nil && t == nil {
		arm()
	}
	var b []byte
	if err == nil {
		if typ != websocket.MessageText {
			err = status.Errorf(codes.InvalidArgument, "gateway: endpoint %q takes JSON in text messages, not binary ones", c.m.endpoint.Name)
		} else {
			limit := c.s.g.cfg.maxJSON
			b, err = io.ReadAll(io.LimitReader(rd, limit+1))
			if err == nil && int64(len(b)) > limit {
				err = status.Errorf(codes.ResourceExhausted, "gateway: endpoint %q: a message over %d bytes", c.m.endpoint.Name, limit)
			}
		}
	}
	if t != nil {
		t.Stop()
	}
	if _, refused := status.FromError(err); err != nil && !refused {
		// The client is gone, broke the protocol or stalled: the
		// socket is spent.
		c.connGone()
		if stalled.Load() {
			return nil, errBodyStalled(d)
		}
		return nil, native.Errorf(native.CodeCanceled, "gateway: reading the WebSocket: %v", err)
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// ping sends a ping every d until the socket ends; it waits for each pong
// before the next, however long it takes (a client that reads nothing
// while its messages wait for the backend does not answer at once).
func (c *wsCall) ping(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.connCtx.Done():
			return
		case <-t.C:
			if c.conn.Ping(c.connCtx) != nil {
				return
			}
		}
	}
}
