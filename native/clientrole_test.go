package native

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"
)

// TestAnswerBeforeRequestSent: the server answers a call before it has
// read the request, then hangs up, so the request's write fails. The
// caller returns with the write error and never takes the answer; neither
// it nor the reader goroutine, which parks the reading role after an
// answer, may wait forever (FuzzClientConn found such a hang under -race).
func TestAnswerBeforeRequestSent(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		var pre [PrefaceLen]byte
		if _, err := io.ReadFull(b, pre[:]); err != nil {
			return
		}
		b.Write(appendPreface(nil, ProtocolVersion, defaultSettings(MinMaxFramePayload)))
		// One byte of the request: the call is in progress, and the rest
		// of its write waits for a reader that never comes.
		var one [1]byte
		if _, err := io.ReadFull(b, one[:]); err != nil {
			return
		}
		hdr, _ := json.Marshal(&responseHeader{Body: BodyJSON})
		resp := appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, hdr)
		resp = appendFrame(resp, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 1}, []byte(`{"s":"x"}`))
		b.Write(resp)
	}()
	c, err := NewClient(a, WithCloseTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out json.RawMessage
	err = c.Call(ctx, "Echo", map[string]string{"s": "x"}, &out)
	if ctx.Err() != nil {
		t.Fatalf("Call hung: %v", err)
	}
	t.Logf("Call: %v, answer %s", err, out)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung: the reader goroutine did not end")
	}
}

// TestInlineWaitInterrupted: a caller that reads its own answer (the
// reading role was parked) and waits on a server that never answers
// returns when its context ends, not when the abort timeout gives the
// connection up (which it then does).
func TestInlineWaitInterrupted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		var pre [PrefaceLen]byte
		if _, err := io.ReadFull(s, pre[:]); err != nil {
			return
		}
		s.Write(appendPreface(nil, ProtocolVersion, defaultSettings(MinMaxFramePayload)))
		// Answer call 1, then read on without answering anything.
		fr := newFramer(s, newConfig(nil).lim)
		for {
			h, err := fr.readHeader()
			if err != nil {
				return
			}
			if _, err := fr.readPayload(nil, h.Length); err != nil {
				return
			}
			if h.Call == 1 && h.Flags&FlagEnd != 0 {
				hdr, _ := json.Marshal(&responseHeader{Body: BodyJSON})
				resp := appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, hdr)
				resp = appendFrame(resp, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 1}, []byte(`{"s":"x"}`))
				s.Write(resp)
			}
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const abortAfter = time.Second
	c, err := NewClient(conn, WithAbortTimeout(abortAfter))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Call(ctx, "Echo", map[string]string{"s": "x"}, nil); err != nil {
		t.Fatalf("call 1: %v", err)
	}
	// Call 2 takes the role call 1's answer parked, unless the idle timer
	// gave it to the reader goroutine first: either way it must return.
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Call(ctx2, "Echo", map[string]string{"s": "x"}, nil)
	if CodeOf(err) != CodeDeadlineExceeded {
		t.Fatalf("call 2 = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d >= abortAfter {
		t.Fatalf("call 2 returned after %v, with the abort timeout rather than its context", d)
	}
	// The server never ends the aborted call: the next call waits for it,
	// and finds the connection given up.
	err = c.Call(ctx, "Echo", map[string]string{"s": "x"}, nil)
	if CodeOf(err) != CodeUnavailable {
		t.Fatalf("call 3 = %v, want Unavailable", err)
	}
	c.Close()
	<-served
}
