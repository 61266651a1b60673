package native_test

// The client against a hand-driven server on a net.Pipe, in a synctest
// bubble so that the client's timeouts pass in fake time: a server that
// ignores an abort, one that never acknowledges CLOSE, and servers that
// break the protocol.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/framegate/framegate/native"
)

type rawFrame struct {
	h native.FrameHeader
	p []byte
}

// fakeServer answers the handshake on a pipe and returns a client for it,
// the server's end, and every frame the client sends.
func fakeServer(t *testing.T, opts ...native.Option) (*native.Client, net.Conn, <-chan rawFrame) {
	t.Helper()
	c, s := net.Pipe()
	go serverHandshake(s)
	cl, err := native.NewClient(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan rawFrame, 64)
	go func() {
		defer close(frames)
		for {
			var b [native.FrameHeaderLen]byte
			if _, err := io.ReadFull(s, b[:]); err != nil {
				return
			}
			h := native.FrameHeader{Type: native.FrameType(b[0]), Flags: native.Flags(b[1]),
				Length: binary.BigEndian.Uint32(b[4:]), Call: binary.BigEndian.Uint32(b[8:])}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(s, p); err != nil {
				return
			}
			frames <- rawFrame{h, p}
		}
	}()
	t.Cleanup(func() { cl.Close(); s.Close() })
	return cl, s, frames
}

// serverHandshake plays a server's part of the handshake on s: it reads the
// client's preface and answers with one of this version.
func serverHandshake(s io.ReadWriter) error {
	var p [native.PrefaceLen]byte
	if _, err := io.ReadFull(s, p[:]); err != nil {
		return err
	}
	_, err := s.Write(clientPreface(native.ProtocolVersion))
	return err
}

// next returns the next frame the client sent, failing on anything else
// than typ.
func next(t *testing.T, frames <-chan rawFrame, typ native.FrameType) rawFrame {
	t.Helper()
	f, ok := <-frames
	if !ok || f.h.Type != typ {
		t.Fatalf("client sent %v (open %v), want %v", f.h, ok, typ)
	}
	return f
}

func TestClientAbortTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cl, _, frames := fakeServer(t, native.WithAbortTimeout(3*time.Second))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- cl.Call(ctx, "Svc.Slow", nil, nil) }()
		next(t, frames, native.TypeHeader)
		cancel()
		wantCode(t, <-errc, native.CodeCanceled)
		if f := next(t, frames, native.TypeRST); f.h.Call != 1 || native.Code(binary.BigEndian.Uint32(f.p)) != native.CodeCanceled {
			t.Fatalf("abort sent %v %x, want RST for call 1 with code Canceled", f.h, f.p)
		}
		// The server never ends the call: the next call goes out beside
		// it, and fails with the connection, given up at the abort timeout.
		start := time.Now()
		err := cl.Call(context.Background(), "Svc.Other", nil, nil)
		wantCode(t, err, native.CodeUnavailable, "did not end aborted call 1 within 3s")
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("gave up after %v, want the 3s abort timeout", d)
		}
		if f := next(t, frames, native.TypeHeader); f.h.Call != 2 {
			t.Fatalf("sent %v, want the HEADER of call 2", f.h)
		}
		if f, ok := <-frames; ok {
			t.Fatalf("client sent %v after giving up the connection", f.h)
		}
	})
}

func TestClientAnswersPing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, s, frames := fakeServer(t)
		go s.Write(frame(native.FrameHeader{Type: native.TypePing}, []byte("abcdefgh")))
		if f := next(t, frames, native.TypePing); f.h.Flags != native.FlagAck || string(f.p) != "abcdefgh" {
			t.Fatalf("client answered %v %q, want the PING echoed with ACK", f.h, f.p)
		}
	})
}

func TestClientCloseTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cl, _, frames := fakeServer(t, native.WithCloseTimeout(2*time.Second))
		start := time.Now()
		err := cl.Close()
		wantCode(t, err, native.CodeDeadlineExceeded, "no CLOSE_ACK")
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Close returned after %v, want the 2s close timeout", d)
		}
		if f := next(t, frames, native.TypeClose); binary.BigEndian.Uint32(f.p) != 0 {
			t.Fatalf("CLOSE payload %x, want call id 0", f.p)
		}
		if _, ok := <-frames; ok {
			t.Fatal("transport still open after Close")
		}
	})
}

// TestClientBadServer has the server break the protocol in several ways:
// the client resets the connection with a message naming the problem (or
// reports the server's reset), and the call in progress and later calls
// fail.
func TestClientBadServer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reply func(id uint32) []byte
		want  string // the client's RST message, or "" when it sends none
		code  native.Code
		err   string // in the call's error
	}{
		{"answer for another call", func(id uint32) []byte {
			return frame(native.FrameHeader{Type: native.TypeHeader, Call: id + 1}, []byte(`{"code":0,"body":"json"}`))
		}, "HEADER frame for call 2, which is not in progress", native.CodeInternal, "protocol error"},
		{"body kind not accepted", func(id uint32) []byte {
			return frame(native.FrameHeader{Type: native.TypeHeader, Call: id}, []byte(`{"code":0,"body":"stream"}`))
		}, "call 1: response body stream, the call accepts json", native.CodeInternal, "protocol error"},
		{"error with a body", func(id uint32) []byte {
			return frame(native.FrameHeader{Type: native.TypeHeader, Call: id}, []byte(`{"code":5,"body":"json"}`))
		}, `announces body "json", want none`, native.CodeInternal, "protocol error"},
		{"invalid JSON", func(id uint32) []byte {
			return frame(native.FrameHeader{Type: native.TypeHeader, Call: id}, []byte(`nope`))
		}, "invalid response header JSON", native.CodeInternal, "protocol error"},
		{"CLOSE_ACK without CLOSE", func(id uint32) []byte {
			return frame(native.FrameHeader{Type: native.TypeCloseAck}, nil)
		}, "CLOSE_ACK without a CLOSE", native.CodeInternal, "protocol error"},
		{"server resets the connection", func(id uint32) []byte {
			return frame(native.FrameHeader{Type: native.TypeRST}, append([]byte{0, 0, 0, 14}, "maintenance"...))
		}, "", native.CodeUnavailable, "connection reset by the server: Unavailable: maintenance"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				logs := &logRecorder{}
				cl, s, frames := fakeServer(t, native.WithLogger(slog.New(logs)))
				errc := make(chan error, 1)
				go func() { errc <- cl.Call(context.Background(), "Svc.M", nil, &echoResp{}) }()
				h := next(t, frames, native.TypeHeader)
				go s.Write(c.reply(h.h.Call))
				err := <-errc
				wantCode(t, err, c.code, c.err)
				if c.want != "" {
					if !errors.Is(err, native.ErrProtocol) {
						t.Fatalf("call error %v is not ErrProtocol", err)
					}
					f := next(t, frames, native.TypeRST)
					if f.h.Call != 0 || !strings.Contains(string(f.p[4:]), c.want) {
						t.Fatalf("client sent %v %q, want RST on call 0 saying %q", f.h, f.p, c.want)
					}
					if w := logs.atLevel(slog.LevelWarn); len(w) != 1 || !strings.Contains(w[0].attrs["err"], c.want) {
						t.Fatalf("client warnings %v", w)
					}
				}
				if _, ok := <-frames; ok {
					t.Fatal("transport still open after the connection failed")
				}
				if err := cl.Call(context.Background(), "Svc.M", nil, nil); native.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("next call: %v, want the connection's error", err)
				}
				if err := cl.Close(); err != nil {
					t.Fatalf("Close of a failed client = %v", err)
				}
			})
		})
	}
}
