package native_test

// A live server fed hand-built bytes on a raw connection: every
// connection-level mistake is answered with an RST on call 0 naming it,
// then the connection ends; the server logs a warning (never an error) and
// goes on serving other connections.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// liveServer serves srv on a loopback listener until the test ends.
func liveServer(t *testing.T, srv *native.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, native.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	return l.Addr().String()
}

// rawConn dials addr; every read and write is bounded by a deadline.
func rawConn(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

// hdr is a request HEADER frame for call id.
func hdr(id uint32, method string, body, accept native.BodyKind) []byte {
	p, _ := json.Marshal(map[string]any{"method": method, "body": body, "accept": accept})
	return frame(native.FrameHeader{Type: native.TypeHeader, Call: id}, p)
}

// rawHeader is a frame header with every byte chosen by the caller.
func rawHeader(typ, flags, r1, r2 byte, length, call uint32) []byte {
	b := []byte{typ, flags, r1, r2}
	b = binary.BigEndian.AppendUint32(b, length)
	return binary.BigEndian.AppendUint32(b, call)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBadInput(t *testing.T) {
	t.Parallel()
	pre := clientPreface(native.ProtocolVersion)
	cases := []struct {
		name      string
		send      []byte
		halfClose bool        // end the write side after send
		code      native.Code // of the RST
		want      []string    // in the RST message and the warning
		handshake bool        // the preface is wrong: the handshake fails
	}{
		{name: "truncated frame header", send: cat(pre, rawHeader(1, 0, 0, 0, 10, 1)[:5]), halfClose: true,
			code: native.CodeInternal, want: []string{"connection ended in the middle of a frame header"}},
		{name: "frame over the size limit", send: cat(pre, rawHeader(byte(native.TypeData), 0, 0, 0, native.DefaultMaxFramePayload+1, 1)),
			code: native.CodeInternal, want: []string{"DATA frame payload of 4194305 bytes exceeds the limit of 4194304"}},
		{name: "unknown frame type", send: cat(pre, rawHeader(0xa, 0, 0, 0, 0, 1)),
			code: native.CodeInternal, want: []string{"unknown frame type 0xa"}},
		{name: "frame type zero", send: cat(pre, rawHeader(0, 0, 0, 0, 0, 1)),
			code: native.CodeInternal, want: []string{"unknown frame type 0x0"}},
		{name: "non-zero reserved bytes", send: cat(pre, rawHeader(byte(native.TypeHeader), 0, 0, 7, 2, 1), []byte("{}")),
			code: native.CodeInternal, want: []string{"HEADER frame has non-zero reserved bytes"}},
		{name: "unknown flags", send: cat(pre, rawHeader(byte(native.TypeHeader), 0x4, 0, 0, 2, 1), []byte("{}")),
			code: native.CodeInternal, want: []string{"HEADER frame has unknown flags 0x4"}},
		{name: "DATA before any HEADER", send: cat(pre, frame(native.FrameHeader{Type: native.TypeData, Call: 1}, []byte("data"))),
			code: native.CodeInternal, want: []string{"unexpected DATA frame for call 1"}},
		{name: "BODY for a call not in progress", send: cat(pre, hdr(1, "No.Such", native.BodyNone, native.BodyJSON),
			frame(native.FrameHeader{Type: native.TypeBody, Flags: native.FlagEnd, Call: 2}, []byte("{}"))),
			code: native.CodeInternal, want: []string{"unexpected BODY frame for call 2"}},
		{name: "call id not increasing", send: cat(pre, hdr(5, "No.Such", native.BodyNone, native.BodyJSON),
			hdr(3, "No.Such", native.BodyNone, native.BodyJSON)),
			code: native.CodeInternal, want: []string{"HEADER for call 3, not above the previous call 5"}},
		{name: "invalid JSON header", send: cat(pre, frame(native.FrameHeader{Type: native.TypeHeader, Call: 1}, []byte(`{"method":`))),
			code: native.CodeInternal, want: []string{"invalid request header JSON"}},
		{name: "invalid body kind", send: cat(pre, hdr(1, "Echo.Unary", "xml", native.BodyJSON)),
			code: native.CodeInternal, want: []string{`call 1: request header has invalid body kind "xml"`}},
		{name: "header over its limit", send: cat(pre, rawHeader(byte(native.TypeHeader), 0, 0, 0, native.DefaultMaxHeaderSize+1, 1)),
			code: native.CodeInternal, want: []string{"HEADER of 65537 bytes exceeds the limit of 65536"}},
		{name: "CLOSE during a call", send: cat(pre, hdr(1, "Echo.Unary", native.BodyJSON, native.BodyJSON),
			frame(native.FrameHeader{Type: native.TypeClose}, []byte{0, 0, 0, 1})),
			code: native.CodeInternal, want: []string{"CLOSE while 1 calls are in progress"}},
		{name: "TRAILER for a JSON request", send: cat(pre, hdr(1, "Echo.Unary", native.BodyJSON, native.BodyJSON),
			frame(native.FrameHeader{Type: native.TypeTrailer, Call: 1}, []byte(`{"code":0}`))),
			code: native.CodeInternal, want: []string{"unexpected TRAILER frame for call 1"}},
		{name: "CLOSE_ACK without CLOSE", send: cat(pre, frame(native.FrameHeader{Type: native.TypeCloseAck}, nil)),
			code: native.CodeInternal, want: []string{"CLOSE_ACK without a CLOSE"}},
		{name: "RST for no call", send: cat(pre, frame(native.FrameHeader{Type: native.TypeRST, Call: 4}, []byte{0, 0, 0, 1})),
			code: native.CodeInternal, want: []string{"RST for call 4, which was never made"}},
		{name: "wrong protocol version", send: clientPreface(native.ProtocolVersion + 1), handshake: true,
			code: native.CodeUnimplemented, want: []string{"protocol version mismatch", "peer speaks version 3", "this side speaks version 2"}},
		{name: "garbage instead of the preface", send: []byte("GET / HTTP/1.1\r\n"), handshake: true,
			code: native.CodeInternal, want: []string{"bad connection preface", `"GET / HTTP/1"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, logs := newServer(t)
			addr := liveServer(t, srv)
			conn := rawConn(t, addr)
			if _, err := conn.Write(c.send); err != nil {
				t.Fatal(err)
			}
			if c.halfClose {
				conn.CloseWrite()
			}
			var sp [native.PrefaceLen]byte
			if _, err := io.ReadFull(conn, sp[:]); err != nil || !bytes.Equal(sp[:], clientPreface(native.ProtocolVersion)) {
				t.Fatalf("server preface %q, %v", sp, err)
			}
			code, msg := readReset(t, conn)
			if code != c.code {
				t.Errorf("RST code %v, want %v", code, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("RST message %q does not say %q", msg, w)
				}
			}
			if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("after the RST: %d bytes, %v; want EOF", n, err)
			}
			// The server still serves a client on another connection.
			cl, err := native.Dial(context.Background(), "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			checkEcho(t, cl, 1)
			if err := cl.Close(); err != nil {
				t.Fatal(err)
			}
			checkLogs(t, logs, c.handshake, c.want)
		})
	}
}

// readReset reads frames until an RST on call 0 and returns its code and
// message; the frames before it must be answers to calls.
func readReset(t *testing.T, r io.Reader) (native.Code, string) {
	t.Helper()
	for {
		h, p := readFrame(t, r)
		if h.Type == native.TypeRST && h.Call == 0 {
			if len(p) < 4 {
				t.Fatalf("RST payload %q", p)
			}
			return native.Code(binary.BigEndian.Uint32(p)), string(p[4:])
		}
		if h.Call == 0 || h.Type != native.TypeHeader && h.Type != native.TypeBody {
			t.Fatalf("got %v before the RST", h)
		}
	}
}

// checkLogs checks the server logged the problem as a warning, and nothing
// as an error. Each of want may list alternatives separated by "|".
func checkLogs(t *testing.T, logs *logRecorder, handshake bool, want []string) {
	t.Helper()
	if errs := logs.atLevel(slog.LevelError); len(errs) > 0 {
		t.Errorf("logged at Error level: %v", errs)
	}
	warns := logs.atLevel(slog.LevelWarn)
	wantLog := "native: closing connection after a protocol error"
	if handshake {
		wantLog = "native: handshake failed"
	}
	if len(warns) != 1 || warns[0].msg != wantLog {
		t.Fatalf("warnings %v, want one %q", warns, wantLog)
	}
	wantMsg(t, "warning", warns[0].attrs["err"], want)
}

// TestBadInputCallLevel sends calls that fail on their own: the answer is
// an error response and the connection goes on.
func TestBadInputCallLevel(t *testing.T) {
	t.Parallel()
	srv, logs := newServer(t)
	conn := rawConn(t, liveServer(t, srv))
	send := func(b ...[]byte) {
		t.Helper()
		if _, err := conn.Write(cat(b...)); err != nil {
			t.Fatal(err)
		}
	}
	response := func(id uint32) (code native.Code, msg string, body []byte) {
		t.Helper()
		h, p := readFrame(t, conn)
		var rh struct {
			Code    native.Code     `json:"code"`
			Message string          `json:"message"`
			Body    native.BodyKind `json:"body"`
		}
		if h.Type != native.TypeHeader || h.Call != id || json.Unmarshal(p, &rh) != nil {
			t.Fatalf("got %v %q, want the response HEADER of call %d", h, p, id)
		}
		for rh.Body == native.BodyJSON {
			h, p := readFrame(t, conn)
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
	send(clientPreface(native.ProtocolVersion), hdr(1, "No.Such", native.BodyNone, native.BodyJSON))
	var sp [native.PrefaceLen]byte
	if _, err := io.ReadFull(conn, sp[:]); err != nil {
		t.Fatal(err)
	}
	if code, msg, _ := response(1); code != native.CodeUnimplemented || !strings.Contains(msg, `unknown endpoint "No.Such"`) {
		t.Fatalf("unknown endpoint: %v %q", code, msg)
	}
	// The same connection makes more calls: a wrong body kind (its JSON
	// body is read and dropped), then a good one.
	send(hdr(2, "Echo.Unary", native.BodyNone, native.BodyJSON))
	if code, msg, _ := response(2); code != native.CodeInvalidArgument || !strings.Contains(msg, "takes a json request") {
		t.Fatalf("wrong body kind: %v %q", code, msg)
	}
	send(hdr(3, "No.Such", native.BodyJSON, native.BodyJSON), frame(native.FrameHeader{Type: native.TypeBody, Flags: native.FlagEnd, Call: 3}, []byte(`{}`)))
	if code, _, _ := response(3); code != native.CodeUnimplemented {
		t.Fatalf("unknown endpoint with a body: %v", code)
	}
	send(hdr(7, "Echo.Unary", native.BodyJSON, native.BodyJSON), frame(native.FrameHeader{Type: native.TypeBody, Flags: native.FlagEnd, Call: 7}, []byte(`{"msg":"hi","n":4}`)))
	code, msg, body := response(7)
	if code != native.CodeOK || string(body) != `{"msg":"hi","n":8}` {
		t.Fatalf("good call: %v %q %s", code, msg, body)
	}
	// PING is echoed.
	send(frame(native.FrameHeader{Type: native.TypePing}, []byte("12345678")))
	if h, p := readFrame(t, conn); h.Type != native.TypePing || h.Flags != native.FlagAck || string(p) != "12345678" {
		t.Fatalf("got %v %q, want the PING echoed with ACK", h, p)
	}
	// And closes cleanly.
	send(frame(native.FrameHeader{Type: native.TypeClose}, []byte{0, 0, 0, 7}))
	if h, _ := readFrame(t, conn); h.Type != native.TypeCloseAck {
		t.Fatalf("got %v, want CLOSE_ACK", h)
	}
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after CLOSE_ACK: %d bytes, %v; want EOF", n, err)
	}
	if recs := logs.records(); len(recs) > 0 {
		t.Fatalf("call-level failures logged %v", recs)
	}
}
