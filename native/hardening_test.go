package native_test

// Issue 7, hardening. TestHardening throws at a live server, on raw
// connections, the bad input of the issue that badinput_test.go does not
// already cover: truncated payloads, limits set by options, frames out of
// sequence within a call, JSON headers of the wrong shape, call-level
// mistakes on every body kind, prefaces that are not ours, and peers that
// stall in the middle of a frame. Every case checks that the error names
// what was wrong, and that a second, healthy connection to the same server
// still completes a call afterwards; TestMain checks that no goroutine is
// left behind.
//
// The other tests are the faults: a million tiny DATA frames in one request
// stream, a client that stops reading a big response stream, and a client
// that vanishes in the middle of one (a file, sent with sendfile, and a
// plain reader).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// hardServer is a server with the endpoints the hardening cases call:
// Echo.Unary, Blob.Get, Blob.Put, Blob.PutNamed and Blob.Stall, a response
// stream that sends ten bytes and then waits for the end of its call.
func hardServer(t *testing.T, opts ...native.Option) (*native.Server, *logRecorder) {
	t.Helper()
	srv, logs := newServer(t, opts...)
	registerBlobs(t, srv)
	mustRegister(t, srv, "Blob.Stall", func(ctx context.Context, resp *io.Reader) error {
		*resp = &gateReader{ctx: ctx, data: []byte("0123456789"), gate: make(chan struct{})}
		return nil
	})
	return srv, logs
}

// Frames for the hardening cases.

// hHeader is a request HEADER with the given fields.
func hHeader(id uint32, method string, body, accept native.BodyKind) []byte {
	return hHeaderJSON(id, map[string]any{"method": method, "body": body, "accept": accept})
}

// hHeaderJSON is a HEADER frame carrying v as JSON (a string is sent as is).
func hHeaderJSON(id uint32, v any) []byte {
	p, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		p = string(b)
	}
	return frame(native.FrameHeader{Type: native.TypeHeader, Call: id}, []byte(p))
}

func hBody(id uint32, p string, end bool) []byte {
	h := native.FrameHeader{Type: native.TypeBody, Call: id}
	if end {
		h.Flags = native.FlagEnd
	}
	return frame(h, []byte(p))
}

func hData(id uint32, p []byte) []byte {
	return frame(native.FrameHeader{Type: native.TypeData, Call: id}, p)
}

func hTrailer(id uint32, p string) []byte {
	return frame(native.FrameHeader{Type: native.TypeTrailer, Call: id}, []byte(p))
}

func hRST(id uint32, code native.Code, msg string) []byte {
	return frame(native.FrameHeader{Type: native.TypeRST, Call: id}, append(binary.BigEndian.AppendUint32(nil, uint32(code)), msg...))
}

// openRaw dials addr, sends the client's preface and checks the server's.
func openRaw(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	conn := rawConn(t, addr)
	if _, err := conn.Write(clientPreface(native.ProtocolVersion)); err != nil {
		t.Fatal(err)
	}
	readServerPreface(t, conn)
	return conn
}

func readServerPreface(t *testing.T, r io.Reader) {
	t.Helper()
	var sp [native.PrefaceLen]byte
	if _, err := io.ReadFull(r, sp[:]); err != nil || !bytes.Equal(sp[:len(prefaceMagic)+1], clientPreface(native.ProtocolVersion)[:len(prefaceMagic)+1]) {
		t.Fatalf("server preface %q, %v", sp, err)
	}
}

// readUntilReset reads frames until an RST on call 0, skipping the frames
// of calls (a response in flight), and returns its code and message.
func readUntilReset(t *testing.T, r io.Reader) (native.Code, string) {
	t.Helper()
	for {
		h, p := readFrame(t, r)
		if h.Call != 0 {
			continue
		}
		if h.Type != native.TypeRST || len(p) < 4 {
			t.Fatalf("got %v %q before an RST on call 0", h, p)
		}
		return native.Code(binary.BigEndian.Uint32(p)), string(p[4:])
	}
}

// readEOF reads until the server closes the connection, skipping frames;
// the end must be a clean EOF or a reset, never the test's deadline.
func readEOF(t *testing.T, conn net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection: %v", err)
	}
}

// callResponse reads the response of call id: its code, message and JSON
// body.
func callResponse(t *testing.T, r io.Reader, id uint32) (native.Code, string, []byte) {
	t.Helper()
	h, p := readFrame(t, r)
	var rh struct {
		Code    native.Code     `json:"code"`
		Message string          `json:"message"`
		Body    native.BodyKind `json:"body"`
	}
	if h.Type != native.TypeHeader || h.Call != id || json.Unmarshal(p, &rh) != nil {
		t.Fatalf("got %v %q, want the response HEADER of call %d", h, p, id)
	}
	var body []byte
	for rh.Body == native.BodyJSON {
		h, p := readFrame(t, r)
		if h.Type != native.TypeBody || h.Call != id {
			t.Fatalf("got %v, want BODY of call %d", h, id)
		}
		body = append(body, p...)
		if h.Flags&native.FlagEnd != 0 {
			break
		}
	}
	return rh.Code, rh.Message, body
}

// wantMsg fails unless msg contains every one of want. A want of the form
// "a|b" is met by either: the request header's decoder is being replaced,
// and the two name a bad field differently (a Go struct field, or an
// offset).
func wantMsg(t *testing.T, what, msg string, want []string) {
	t.Helper()
	for _, w := range want {
		if !containsAny(msg, w) {
			t.Errorf("%s %q does not say %q", what, msg, w)
		}
	}
}

func containsAny(msg, alternatives string) bool {
	for _, a := range strings.Split(alternatives, "|") {
		if strings.Contains(msg, a) {
			return true
		}
	}
	return false
}

// healthy checks that a new connection to addr completes a call.
func healthy(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := native.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("a second connection: %v", err)
	}
	checkEcho(t, cl, 21)
	if err := cl.Close(); err != nil {
		t.Fatalf("closing the second connection: %v", err)
	}
}

// hardCase is one case of TestHardening. Unless run is set, send goes to
// the server after the client's preface (instead of it, with noPreface),
// and the answer is checked: an RST on call 0 (code, want) when call is 0,
// else the error response of call `call`, after which the connection must
// go on.
type hardCase struct {
	name      string
	opts      []native.Option
	send      []byte
	noPreface bool
	halfClose bool // end the write side after send
	code      native.Code
	want      []string // in the RST or error message, and the warning
	handshake bool     // the warning is the handshake's
	call      uint32
	run       func(t *testing.T, srv *native.Server, addr string, logs *logRecorder)
}

func TestHardening(t *testing.T) {
	t.Parallel()
	const (
		none   = native.BodyNone
		js     = native.BodyJSON
		stream = native.BodyStream
		jsst   = native.BodyJSONStream
	)
	pre := clientPreface(native.ProtocolVersion)
	big := strings.Repeat("x", 5000)
	// Short, but not so short that the healthy client's handshake could
	// miss it on a loaded machine (the stalled peer waits this long).
	handshakeTimeout := []native.Option{native.WithHandshakeTimeout(time.Second)}
	cases := []hardCase{
		// Truncated frames: the peer ends its side in the middle of a
		// payload (badinput_test.go covers the frame header).
		{name: "truncated HEADER payload", run: testTruncatedPayload(hHeader(1, "Echo.Unary", js, js))},
		{name: "truncated BODY payload", run: testTruncatedPayload(cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"a long message"}`, true)))},
		{name: "truncated DATA payload", run: testTruncatedData},

		// Lengths over limits set by options.
		{name: "DATA over a configured frame limit", opts: []native.Option{native.WithMaxFramePayload(64 << 10)},
			send: cat(hHeader(1, "Blob.Put", stream, js), rawHeader(byte(native.TypeData), 0, 0, 0, 64<<10+1, 1)),
			code: native.CodeInternal, want: []string{"DATA frame payload of 65537 bytes exceeds the limit of 65536"}},
		{name: "HEADER over a configured header limit", opts: []native.Option{native.WithMaxHeaderSize(4096)},
			send: hHeaderJSON(1, map[string]any{"method": "Echo.Unary", "body": js, "accept": js, "md": map[string][]string{"x-big": {big}}}),
			code: native.CodeInternal, want: []string{"HEADER of 50", "exceeds the limit of 4096"}},
		{name: "TRAILER over the header limit", send: cat(hHeader(1, "Blob.Put", stream, js), rawHeader(byte(native.TypeTrailer), 0, 0, 0, native.DefaultMaxHeaderSize+1, 1)),
			code: native.CodeInternal, want: []string{"TRAILER of 65537 bytes exceeds the limit of 65536"}},
		{name: "RST message over its limit", send: rawHeader(byte(native.TypeRST), 0, 0, 0, 4+4096+1, 1),
			code: native.CodeInternal, want: []string{"RST payload of 4101 bytes, want 4 to 4100"}},

		// Frames out of sequence within a call.
		{name: "DATA for a JSON request", send: cat(hHeader(1, "Echo.Unary", js, js), hData(1, []byte("x"))),
			code: native.CodeInternal, want: []string{"unexpected DATA frame for call 1"}},
		{name: "BODY after the JSON part ended", send: cat(hHeader(1, "Blob.PutNamed", jsst, js), hBody(1, `{"name":"a"}`, true), hBody(1, `{}`, true)),
			code: native.CodeInternal, want: []string{"unexpected BODY frame for call 1"}},
		{name: "TRAILER before the JSON part", send: cat(hHeader(1, "Blob.PutNamed", jsst, js), hTrailer(1, `{"code":0}`)),
			code: native.CodeInternal, want: []string{"unexpected TRAILER frame for call 1"}},
		{name: "BODY for a request without one", send: cat(hHeader(1, "Blob.Put", stream, js), hBody(1, `{}`, true)),
			code: native.CodeInternal, want: []string{"unexpected BODY frame for call 1"}},
		{name: "DATA after the TRAILER", send: cat(hHeader(1, "Blob.Put", stream, js), hData(1, []byte("abc")), hTrailer(1, `{"code":0}`), hData(1, []byte("more"))),
			code: native.CodeInternal, want: []string{"unexpected DATA frame for call 1"}},
		{name: "DATA after the call's RST", send: cat(hHeader(1, "Blob.Put", stream, js), hRST(1, native.CodeCanceled, "gave up"), hData(1, []byte("more"))),
			code: native.CodeInternal, want: []string{"unexpected DATA frame for call 1"}},
		{name: "frame for another call", send: cat(hHeader(1, "Blob.Put", stream, js), hData(2, []byte("x"))),
			code: native.CodeInternal, want: []string{"unexpected DATA frame for call 2"}},

		// JSON headers of the wrong shape.
		{name: "empty request header", send: hHeaderJSON(1, ""),
			code: native.CodeInternal, want: []string{"invalid request header JSON", "unexpected end of JSON input|want a JSON object|empty"}},
		{name: "request header is an array", send: hHeaderJSON(1, `["Echo.Unary"]`),
			code: native.CodeInternal, want: []string{"invalid request header JSON", "cannot unmarshal array|want a JSON object|array"}},
		{name: "request header is null", send: hHeaderJSON(1, `null`),
			code: native.CodeInternal, want: []string{"call 1: request header has no method|invalid request header JSON", "no method|want a JSON object|null"}},
		{name: "request header with trailing data", send: hHeaderJSON(1, `{"method":"Echo.Unary","body":"json","accept":"json"} {}`),
			code: native.CodeInternal, want: []string{"invalid request header JSON", "after top-level value|after the JSON object"}},
		{name: "method is a number", send: hHeaderJSON(1, `{"method":7,"body":"json","accept":"json"}`),
			code: native.CodeInternal, want: []string{"invalid request header JSON", "method|offset 10"}},
		{name: "metadata values not a list", send: hHeaderJSON(1, `{"method":"Echo.Unary","body":"json","accept":"json","md":{"k":"v"}}`),
			code: native.CodeInternal, want: []string{"invalid request header JSON", `requestHeader.md|"k"`}},
		{name: "invalid accept kind", send: hHeader(1, "Echo.Unary", js, "xml"),
			code: native.CodeInternal, want: []string{`call 1: request header has invalid accept kind "xml", want json, stream or messages`}},
		{name: "accept kind missing", send: hHeaderJSON(1, `{"method":"Echo.Unary","body":"json"}`),
			code: native.CodeInternal, want: []string{`request header has invalid accept kind ""`}},
		{name: "negative timeout", send: hHeaderJSON(1, `{"method":"Echo.Unary","body":"json","accept":"json","timeout":-5}`),
			code: native.CodeInternal, want: []string{"request header has negative timeout -5"}},
		{name: "timeout out of range", send: hHeaderJSON(1, `{"method":"Echo.Unary","body":"json","accept":"json","timeout":1e30}`),
			code: native.CodeInternal, want: []string{"invalid request header JSON", "timeout|1e30"}},
		{name: "invalid request trailer", send: cat(hHeader(1, "Blob.Put", stream, js), hData(1, []byte("abc")), hTrailer(1, `{"code":`)),
			code: native.CodeInternal, want: []string{"invalid request trailer JSON"}},
		{name: "request trailer of the wrong shape", send: cat(hHeader(1, "Blob.Put", stream, js), hTrailer(1, `{"code":"OK"}`)),
			code: native.CodeInternal, want: []string{"invalid request trailer JSON"}},

		// Prefaces that are not ours.
		{name: "protocol version 0", send: clientPreface(0), noPreface: true, handshake: true,
			code: native.CodeUnimplemented, want: []string{"protocol version mismatch: peer speaks version 0, this side speaks version 2"}},
		{name: "frame limit below the minimum", noPreface: true, handshake: true,
			send: prefaceWith(native.ProtocolVersion, 1024),
			code: native.CodeInternal, want: []string{"peer announced a frame payload limit of 1024 bytes, want 16384 to 1073741824"}},
		{name: "TLS client hello instead of the preface", noPreface: true, handshake: true,
			send: []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x5e, 0x17},
			code: native.CodeInternal, want: []string{`bad connection preface "\x16\x03\x01`, "is the peer speaking the native protocol?"}},
		{name: "short garbage then EOF", run: testShortGarbage},

		// Peers that stall.
		{name: "stall inside the preface", opts: handshakeTimeout, run: testHandshakeStall([]byte("FGR"))},
		{name: "silent peer", opts: handshakeTimeout, run: testHandshakeStall(nil)},
		{name: "stall inside a frame header", run: testMidFrameStall(cat(pre, hHeader(1, "Echo.Unary", js, js)[:6]), "connection ended in the middle of a frame header")},
		{name: "stall inside a payload", run: testMidFrameStall(cat(pre, hHeader(1, "Echo.Unary", js, js)[:20]), "middle of a frame")},
		{name: "stall inside a request stream", run: testMidFrameStall(cat(pre, hHeader(1, "Blob.Put", stream, js), hData(1, []byte("abc")), hData(1, make([]byte, 100))[:40]), "middle of a frame")},

		// Call-level mistakes: the call fails, the connection goes on.
		{name: "unknown endpoint with a JSON body and a stream", call: 1,
			send: cat(hHeader(1, "No.Such", jsst, js), hBody(1, `{"a":`, false), hBody(1, `1}`, true), hData(1, []byte("abc")), hTrailer(1, `{"code":0}`)),
			code: native.CodeUnimplemented, want: []string{`unknown endpoint "No.Such"`}},
		{name: "unknown endpoint with invalid UTF-8", call: 3, send: hHeader(3, "Echo.\xffUnary", none, js),
			code: native.CodeUnimplemented, want: []string{"unknown endpoint \"Echo.\uFFFDUnary\""}},
		{name: "reserved control name", call: 1, send: hHeader(1, "native.Nope", none, js),
			code: native.CodeUnimplemented, want: []string{`unknown endpoint "native.Nope"`}},
		{name: "stream sent to a JSON endpoint", call: 1,
			send: cat(hHeader(1, "Echo.Unary", stream, js), hData(1, make([]byte, 100<<10)), hData(1, nil), hTrailer(1, `{"code":0}`)),
			code: native.CodeInvalidArgument, want: []string{`endpoint "Echo.Unary" takes a json request, the call sent stream`}},
		{name: "JSON sent to a stream endpoint", call: 1, send: cat(hHeader(1, "Blob.Put", js, js), hBody(1, `{}`, true)),
			code: native.CodeInvalidArgument, want: []string{`endpoint "Blob.Put" takes a stream request, the call sent json`}},
		{name: "JSON without the stream of a JSON+stream endpoint", call: 1, send: cat(hHeader(1, "Blob.PutNamed", js, js), hBody(1, `{"name":"n"}`, true)),
			code: native.CodeInvalidArgument, want: []string{`endpoint "Blob.PutNamed" takes a json+stream request, the call sent json`}},
		{name: "stream accepted from a JSON endpoint", call: 1, send: cat(hHeader(1, "Echo.Unary", js, stream), hBody(1, `{}`, true)),
			code: native.CodeInvalidArgument, want: []string{`endpoint "Echo.Unary" answers json, the caller expects stream`}},
		{name: "JSON accepted from a stream endpoint", call: 1, send: cat(hHeader(1, "Blob.Get", js, js), hBody(1, `{"size":10}`, true)),
			code: native.CodeInvalidArgument, want: []string{`endpoint "Blob.Get" answers stream, the caller expects json`}},
		{name: "request body of the wrong type", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"a","n":"two"}`, true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary": at /n: a string cannot be a Go int`}},
		{name: "request body with an unknown field", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"a","extra":1}`, true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary": unknown field "extra"`}},
		{name: "request body with a field in the wrong case", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"Msg":"a"}`, true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary": unknown field "Msg"`}},
		{name: "request body with a duplicate field", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"a","n":1,"msg":"b"}`, true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary": duplicate field "msg"`}},
		{name: "request body with a lone surrogate", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"\ud800"}`, true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary"`, "surrogate"}},
		{name: "request body that is not UTF-8", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, "{\"msg\":\"\xff\"}", true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary"`, "UTF-8"}},
		{name: "request body not JSON", call: 1, send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":`, true)),
			code: native.CodeInvalidArgument, want: []string{`invalid request body for "Echo.Unary"`}},
		{name: "request body over the limit in many frames", call: 1, opts: []native.Option{native.WithMaxBodySize(1024)},
			send: cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"`+strings.Repeat("y", 1000), false), hBody(1, strings.Repeat("y", 1000), false), hBody(1, `"}`, true)),
			code: native.CodeResourceExhausted, want: []string{`request body of "Echo.Unary" exceeds the limit of 1024 bytes`}},
		{name: "JSON part over the limit before a stream", call: 1, opts: []native.Option{native.WithMaxBodySize(1024)},
			send: cat(hHeader(1, "Blob.PutNamed", jsst, js), hBody(1, `{"name":"`+strings.Repeat("n", 2000)+`"}`, true), hData(1, []byte("abc")), hTrailer(1, `{"code":0}`)),
			code: native.CodeResourceExhausted, want: []string{`request body of "Blob.PutNamed" exceeds the limit of 1024 bytes`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, logs := hardServer(t, c.opts...)
			addr := liveServer(t, srv)
			switch {
			case c.run != nil:
				c.run(t, srv, addr, logs)
			case c.call != 0:
				testCallLevel(t, addr, logs, c)
			default:
				testConnLevel(t, addr, logs, c)
			}
			healthy(t, addr)
		})
	}
}

// testConnLevel sends c.send and expects an RST on call 0 naming the
// problem, then the end of the connection, and one warning.
func testConnLevel(t *testing.T, addr string, logs *logRecorder, c hardCase) {
	conn := rawConn(t, addr)
	send := c.send
	if !c.noPreface {
		send = cat(clientPreface(native.ProtocolVersion), send)
	}
	if _, err := conn.Write(send); err != nil {
		t.Fatal(err)
	}
	if c.halfClose {
		conn.CloseWrite()
	}
	readServerPreface(t, conn)
	code, msg := readUntilReset(t, conn)
	if code != c.code {
		t.Errorf("RST code %v, want %v (message %q)", code, c.code, msg)
	}
	wantMsg(t, "RST message", msg, c.want)
	readEOF(t, conn)
	healthy(t, addr) // before the logs: the warning is written before the connection ends
	checkLogs(t, logs, c.handshake, c.want)
}

// testCallLevel sends c.send and expects the error response of call c.call;
// then the same connection makes a good call and closes cleanly.
func testCallLevel(t *testing.T, addr string, logs *logRecorder, c hardCase) {
	conn := openRaw(t, addr)
	if _, err := conn.Write(c.send); err != nil {
		t.Fatal(err)
	}
	code, msg, _ := callResponse(t, conn, c.call)
	if code != c.code {
		t.Errorf("call %d: code %v, want %v (message %q)", c.call, code, c.code, msg)
	}
	wantMsg(t, "error message", msg, c.want)
	id := c.call + 1
	if _, err := conn.Write(cat(hHeader(id, "Echo.Unary", native.BodyJSON, native.BodyJSON), hBody(id, `{"msg":"again","n":2}`, true))); err != nil {
		t.Fatal(err)
	}
	if code, msg, body := callResponse(t, conn, id); code != native.CodeOK || string(body) != `{"msg":"again","n":4}` {
		t.Fatalf("the next call on the same connection: %v %q %s", code, msg, body)
	}
	if _, err := conn.Write(frame(native.FrameHeader{Type: native.TypeClose}, binary.BigEndian.AppendUint32(nil, id))); err != nil {
		t.Fatal(err)
	}
	if h, _ := readFrame(t, conn); h.Type != native.TypeCloseAck {
		t.Fatalf("got %v, want CLOSE_ACK", h)
	}
	readEOF(t, conn)
	if recs := append(logs.atLevel(slog.LevelWarn), logs.atLevel(slog.LevelError)...); len(recs) > 0 {
		t.Errorf("a call-level failure was logged as %v", recs)
	}
}

// testTruncatedPayload sends a frame whose payload stops short, then ends
// the write side: the server must say the frame was cut, not merely that the
// connection ended.
func testTruncatedPayload(frames []byte) func(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
	return func(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
		c, s, err := tcpConns(t)
		if err != nil {
			t.Fatal(err)
		}
		serveErr := startServeConn(t, srv, s)
		if _, err := c.Write(cat(clientPreface(native.ProtocolVersion), frames[:len(frames)-5])); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		readServerPreface(t, c)
		readEOF(t, c)
		err = serveErr(t)
		if err == nil {
			t.Fatal("ServeConn = nil for a connection cut in the middle of a frame")
		}
		healthy(t, addr)
		if !strings.Contains(err.Error(), "middle of a frame") {
			t.Errorf("a payload cut short by the peer ends ServeConn with %q (%T), not an error naming the cut frame as a cut frame header does", err, err)
		}
	}
}

// testTruncatedData cuts a request stream in the middle of a DATA payload:
// the handler's reader fails with ErrTruncated, never a clean end.
func testTruncatedData(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
	got := make(chan error, 1)
	mustRegister(t, srv, "Hard.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
		n, err := io.Copy(io.Discard, body)
		resp.N = n
		got <- err
		return err
	})
	conn := openRaw(t, addr)
	data := hData(1, make([]byte, 100))
	if _, err := conn.Write(cat(hHeader(1, "Hard.Put", native.BodyStream, native.BodyJSON), hData(1, []byte("abc")), data[:len(data)-30])); err != nil {
		t.Fatal(err)
	}
	conn.CloseWrite()
	err := waitFor(t, got, 10*time.Second, "the handler's read to end")
	if !errors.Is(err, native.ErrTruncated) || native.CodeOf(err) != native.CodeUnavailable {
		t.Fatalf("the handler read %v (code %v), want ErrTruncated with code Unavailable", err, native.CodeOf(err))
	}
	readEOF(t, conn)
}

// testShortGarbage sends fewer bytes than a preface and ends the write
// side: the handshake fails, and says so.
func testShortGarbage(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
	c, s, err := tcpConns(t)
	if err != nil {
		t.Fatal(err)
	}
	serveErr := startServeConn(t, srv, s)
	c.Write([]byte("hi\n"))
	c.(*net.TCPConn).CloseWrite()
	readEOF(t, c)
	err = serveErr(t)
	if native.CodeOf(err) != native.CodeUnavailable || !strings.Contains(err.Error(), "handshake failed") {
		t.Fatalf("ServeConn = %v (code %v), want a failed handshake", err, native.CodeOf(err))
	}
}

// testHandshakeStall sends part of a preface (or nothing) and stalls: the
// server's handshake timeout (configured short) closes the connection,
// without answering, and logs why.
func testHandshakeStall(part []byte) func(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
	return func(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
		c, s, err := tcpConns(t)
		if err != nil {
			t.Fatal(err)
		}
		serveErr := startServeConn(t, srv, s)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if len(part) > 0 {
			c.Write(part)
		}
		n, err := io.Copy(io.Discard, c)
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the handshake timeout did not close a stalled connection")
		}
		if n != 0 {
			t.Errorf("the server sent %d bytes to a peer that never completed its preface", n)
		}
		err = serveErr(t)
		if native.CodeOf(err) != native.CodeDeadlineExceeded || !strings.Contains(err.Error(), "handshake timed out") {
			t.Fatalf("ServeConn = %v (code %v), want the handshake timeout", err, native.CodeOf(err))
		}
		healthy(t, addr)
		warns := logs.atLevel(slog.LevelWarn)
		if len(warns) != 1 || warns[0].msg != "native: handshake failed" || !strings.Contains(warns[0].attrs["err"], "handshake timed out") {
			t.Fatalf("warnings %v, want one saying the handshake timed out", warns)
		}
	}
}

// testMidFrameStall sends send and stalls after the handshake, in the
// middle of a frame. There is no read or idle timeout once the handshake is
// done (options.go has none), so the connection and its reader stay until
// the peer goes; meanwhile other connections are served. When the peer
// closes, ServeConn ends with an error naming the cut.
func testMidFrameStall(send []byte, want string) func(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
	return func(t *testing.T, srv *native.Server, addr string, logs *logRecorder) {
		c, s, err := tcpConns(t)
		if err != nil {
			t.Fatal(err)
		}
		serveErr := startServeConn(t, srv, s)
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		readServerPreface(t, c)
		healthy(t, addr) // while the stalled connection waits
		c.Close()
		err = serveErr(t)
		if err == nil {
			t.Fatal("ServeConn = nil for a peer that left in the middle of a frame")
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("a peer that leaves in the middle of a frame payload ends ServeConn with %q, which does not say %q", err, want)
		}
	}
}

// TestHardeningMillionTinyFrames sends one request stream of a million DATA
// frames, every other one empty and the rest one byte long: the server must
// serve it whole, and its heap must not grow with the number of frames. It
// is not parallel, so that nothing else allocates while it measures.
func TestHardeningMillionTinyFrames(t *testing.T) {
	const frames = 1_000_000
	srv, _ := newServer(t)
	var base, mid runtime.MemStats
	mustRegister(t, srv, "Tiny.Put", func(ctx context.Context, body io.Reader, resp *putResp) error {
		h := sha256.New()
		buf := make([]byte, 64)
		measured := false
		for {
			n, err := body.Read(buf)
			h.Write(buf[:n])
			resp.N += int64(n)
			if !measured && resp.N >= frames/4 {
				// Half-way through the frames: what the server holds now.
				runtime.GC()
				runtime.ReadMemStats(&mid)
				measured = true
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		resp.Sum = h.Sum(nil)
		return nil
	})
	addr := liveServer(t, srv)
	conn := openRaw(t, addr)
	conn.SetDeadline(time.Now().Add(5 * time.Minute)) // a guard against a hang, not a measure
	want := sha256.New()
	for i := 1; i < frames; i += 2 {
		want.Write([]byte{byte(i)})
	}
	runtime.GC()
	runtime.ReadMemStats(&base)
	written := make(chan error, 1)
	go func() {
		buf := make([]byte, 0, 64<<10)
		buf = append(buf, hHeader(1, "Tiny.Put", native.BodyStream, native.BodyJSON)...)
		var one [1]byte
		for i := range frames {
			p := one[:0]
			if i%2 == 1 {
				one[0] = byte(i)
				p = one[:]
			}
			var h [native.FrameHeaderLen]byte
			h[0] = byte(native.TypeData)
			binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
			binary.BigEndian.PutUint32(h[8:], 1)
			buf = append(append(buf, h[:]...), p...)
			if len(buf) > 60<<10 {
				if _, err := conn.Write(buf); err != nil {
					written <- err
					return
				}
				buf = buf[:0]
			}
		}
		_, err := conn.Write(append(buf, hTrailer(1, `{"code":0}`)...))
		written <- err
	}()
	code, msg, body := callResponse(t, conn, 1)
	if err := <-written; err != nil {
		t.Fatalf("writing the frames: %v", err)
	}
	var r putResp
	if code != native.CodeOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("a million tiny frames: %v %q %s", code, msg, body)
	}
	if r.N != frames/2 || !bytes.Equal(r.Sum, want.Sum(nil)) {
		t.Fatalf("the server read %d bytes (want %d), sha256 equal %v", r.N, frames/2, bytes.Equal(r.Sum, want.Sum(nil)))
	}
	const bound = 16 << 20
	if grew := int64(mid.HeapAlloc) - int64(base.HeapAlloc); grew > bound {
		t.Fatalf("the live heap grew by %d bytes half-way through %d frames, more than %d: the server keeps something per frame", grew, frames, bound)
	}
	t.Logf("live heap: %d bytes before, %d half-way through the frames", base.HeapAlloc, mid.HeapAlloc)
	healthy(t, addr)
}

// bigFile writes n deterministic bytes to a file and returns its path.
func bigFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, payload(n, 77), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// streamProbe is what a fault test's handler reports: the cause of its
// context's end, and the end of its response stream (Close of a reader, or
// the file, which the test watches).
type streamProbe struct {
	cause  <-chan error
	closed <-chan struct{} // nil for a file
	file   *os.File
}

// waitStreamEnd waits for the handler's ctx to be cancelled and its stream
// to be closed.
func (p streamProbe) waitStreamEnd(t *testing.T) {
	t.Helper()
	waitFor(t, p.cause, 10*time.Second, "the handler's ctx to be cancelled")
	if p.file != nil {
		waitClosed(t, p.file)
	} else {
		waitFor(t, p.closed, 10*time.Second, "the handler's stream to be closed")
	}
}

// registerFaultStream registers Fault.Get: a response stream that is the
// file at path (sent with sendfile on TCP), or with no path a reader that
// never ends. Each call's probe goes to the returned channel.
func registerFaultStream(t *testing.T, srv *native.Server, path string) <-chan streamProbe {
	probes := make(chan streamProbe, 1)
	mustRegister(t, srv, "Fault.Get", func(ctx context.Context, resp *io.ReadCloser) error {
		p := streamProbe{cause: ctxWatch(ctx)}
		if path != "" {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			p.file, *resp = f, f
		} else {
			cr := newCloseRecorder(endlessReader{ctx})
			p.closed, *resp = cr.closed, cr
		}
		probes <- p
		return nil
	})
	return probes
}

// readStreamBytes reads the frames of a response stream on a raw
// connection until at least n bytes of DATA came.
func readStreamBytes(t *testing.T, r io.Reader, id uint32, n int) {
	t.Helper()
	if code, msg, _ := callResponse(t, r, id); code != native.CodeOK {
		t.Fatalf("response %v %q", code, msg)
	}
	for got := 0; got < n; {
		h, p := readFrame(t, r)
		if h.Type != native.TypeData || h.Call != id {
			t.Fatalf("got %v, want DATA of call %d", h, id)
		}
		got += len(p)
	}
}

// TestHardeningStalledReader has a client that stops reading a big response
// stream. Nothing on the server times out a peer that stops reading (there
// is no write or idle timeout), so the call holds its handler until the
// client closes the connection, or Shutdown gives up waiting: either way the
// handler's ctx is cancelled, its stream is closed, ServeConn returns an
// error and nothing is left behind. Other connections are served
// meanwhile.
func TestHardeningStalledReader(t *testing.T) {
	t.Parallel()
	// Larger than what the socket buffers of both ends can hold (the
	// receive buffer may grow to 32 MiB here), so the sender stalls.
	file := bigFile(t, 64<<20)
	for _, src := range []string{"file", "reader"} {
		for _, end := range []string{"client closes", "shutdown gives up"} {
			t.Run(src+"/"+end, func(t *testing.T) {
				t.Parallel()
				srv, _ := newServer(t)
				path := ""
				if src == "file" {
					path = file
				}
				probes := registerFaultStream(t, srv, path)
				addr := liveServer(t, srv)
				c, s, err := tcpConns(t)
				if err != nil {
					t.Fatal(err)
				}
				serveErr := startServeConn(t, srv, s)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(cat(clientPreface(native.ProtocolVersion), hHeader(1, "Fault.Get", native.BodyNone, native.BodyStream))); err != nil {
					t.Fatal(err)
				}
				readServerPreface(t, c)
				readStreamBytes(t, c, 1, 1<<20)
				p := <-probes
				// The client reads no more.
				healthy(t, addr)
				select {
				case err := <-p.cause:
					t.Fatalf("the handler's ctx ended (%v) while its client was merely slow", err)
				default:
				}
				if end == "client closes" {
					c.Close()
				} else {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
						t.Errorf("Shutdown with a stalled call = %v, want context.Canceled", err)
					}
				}
				p.waitStreamEnd(t)
				if err := serveErr(t); err == nil {
					t.Fatal("ServeConn = nil for a connection that ended in the middle of a response stream")
				}
			})
		}
	}
}

// TestHardeningClientGone has the client vanish in the middle of a response
// stream, without RST or CLOSE: a raw connection that is closed, and a
// native client whose socket is closed under it. The handler's ctx is
// cancelled and its stream (a file, or a reader) is closed; a native client
// reads an error after the bytes it got, never a clean end, and the bytes
// before it are those sent.
func TestHardeningClientGone(t *testing.T) {
	t.Parallel()
	file := bigFile(t, 64<<20)
	for _, src := range []string{"file", "reader"} {
		for _, client := range []string{"raw", "native"} {
			t.Run(src+"/"+client, func(t *testing.T) {
				t.Parallel()
				srv, _ := newServer(t)
				path := ""
				if src == "file" {
					path = file
				}
				probes := registerFaultStream(t, srv, path)
				addr := liveServer(t, srv)
				if client == "raw" {
					conn := openRaw(t, addr)
					if _, err := conn.Write(hHeader(1, "Fault.Get", native.BodyNone, native.BodyStream)); err != nil {
						t.Fatal(err)
					}
					readStreamBytes(t, conn, 1, 1<<20)
					conn.Close()
				} else {
					nc, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					cl, err := native.NewClient(nc)
					if err != nil {
						t.Fatal(err)
					}
					var rc io.ReadCloser
					if err := cl.Call(context.Background(), "Fault.Get", nil, &rc); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, 1<<20)
					if _, err := io.ReadFull(rc, got); err != nil {
						t.Fatal(err)
					}
					nc.Close() // the socket dies under the client
					rest, err := io.ReadAll(rc)
					if err == nil {
						t.Fatalf("a stream whose connection died read to a clean end (%d more bytes)", len(rest))
					}
					got = append(got, rest...)
					if src == "file" && !bytes.Equal(got, payload(len(got), 77)) {
						t.Fatal("the bytes before the error differ from the file's")
					}
					rc.Close()
					cl.Close()
				}
				(<-probes).waitStreamEnd(t)
				healthy(t, addr)
			})
		}
	}
}
