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
// answer was handed to a caller that returns with the write error; the
// reader goroutine, which waits for the caller to take an answer before it
// reads on, must not wait forever (FuzzClientConn found this under -race).
func TestAnswerBeforeRequestSent(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		var pre [PrefaceLen]byte
		if _, err := io.ReadFull(b, pre[:]); err != nil {
			return
		}
		b.Write(appendPreface(nil, ProtocolVersion, MinMaxFramePayload))
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
