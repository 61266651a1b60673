package native_test

// Memory grows with the bytes a peer sends, never with the lengths it
// claims; the server's request bodies stay within WithMaxBodyMemory.

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// claimConns is how many connections each claim a frame of claimLen bytes
// and send a few of them.
const (
	claimConns = 32
	claimLen   = native.DefaultMaxFramePayload
	// perConnAlloc bounds what one such connection may cost: its buffers
	// and goroutines, a small fraction of what it claims.
	perConnAlloc = 256 << 10
)

func totalAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// TestClaimedLengthCostsNothing opens connections that each announce a
// 4 MiB frame, send ten bytes of it and stall: what the process allocates
// meanwhile must be proportional to the bytes sent, not to those claimed.
// Each stall is reached for sure: on a net.Pipe a Write returns only when
// the reader took every byte, so a second one-byte Write returns only once
// the receiver reads inside the payload.
func TestClaimedLengthCostsNothing(t *testing.T) {
	js := native.BodyJSON
	claim := func(typ native.FrameType) []byte { return rawHeader(byte(typ), 0, 0, 0, claimLen, 1) }
	for _, tc := range []struct {
		name string
		opts []native.Option
		send []byte
	}{
		{"request BODY", nil, cat(clientPreface(native.ProtocolVersion), hHeader(1, "Echo.Unary", js, js), claim(native.TypeBody), []byte(`{"msg":"ab`))},
		{"request HEADER", []native.Option{native.WithMaxHeaderSize(claimLen)}, cat(clientPreface(native.ProtocolVersion), claim(native.TypeHeader), []byte(`{"method":`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t, tc.opts...)
			before := totalAlloc()
			var ends []func()
			for range claimConns {
				c, s := net.Pipe()
				serveErr := startServeConn(t, srv, s)
				drained := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(drained) }()
				if _, err := c.Write(tc.send); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
				ends = append(ends, func() { c.Close(); serveErr(t); <-drained })
			}
			grew := totalAlloc() - before
			for _, end := range ends {
				end()
			}
			if grew > claimConns*perConnAlloc {
				t.Errorf("%d connections that each claimed %d bytes and sent %d: %d bytes allocated, want under %d", claimConns, claimLen, len(tc.send)+1, grew, claimConns*perConnAlloc)
			}
			if n := native.BodyMemoryInUse(srv); n != 0 {
				t.Errorf("%d bytes of request bodies still held after the connections ended", n)
			}
		})
	}

	t.Run("response BODY", func(t *testing.T) {
		before := totalAlloc()
		var ends []func()
		for range claimConns {
			c, s := net.Pipe()
			stalled := make(chan struct{})
			served := make(chan struct{})
			go func() {
				defer close(served)
				claimingServer(s, stalled)
			}()
			client, err := native.NewClient(c)
			if err != nil {
				t.Fatal(err)
			}
			called := make(chan error, 1)
			go func() { called <- client.Call(context.Background(), "Echo.Unary", &echoReq{Msg: "m"}, &echoResp{}) }()
			select {
			case <-stalled:
			case <-time.After(10 * time.Second):
				t.Fatal("the response never reached its stall")
			}
			ends = append(ends, func() {
				s.Close()
				if err := <-called; native.CodeOf(err) != native.CodeUnavailable {
					t.Errorf("call on a connection that broke mid-response: %v", err)
				}
				client.Close()
				<-served
			})
		}
		grew := totalAlloc() - before
		for _, end := range ends {
			end()
		}
		if grew > claimConns*perConnAlloc {
			t.Errorf("%d clients whose response claimed %d bytes and sent 11: %d bytes allocated, want under %d", claimConns, claimLen, grew, claimConns*perConnAlloc)
		}
	})
}

// claimingServer answers the handshake and the first call on s with a JSON
// response whose BODY frame claims claimLen bytes and carries ten, then
// stalls (stalled is closed once the client reads inside the payload) until
// s is closed.
func claimingServer(s net.Conn, stalled chan<- struct{}) {
	if serverHandshake(s) != nil {
		return
	}
	if skipRequest(s) != nil {
		return
	}
	resp := frame(native.FrameHeader{Type: native.TypeHeader, Call: 1}, []byte(`{"code":0,"body":"json"}`))
	resp = cat(resp, rawHeader(byte(native.TypeBody), 0, 0, 0, claimLen, 1), []byte(`{"msg":"ab`))
	if _, err := s.Write(resp); err != nil {
		return
	}
	if _, err := s.Write([]byte("x")); err != nil {
		return
	}
	close(stalled)
	io.Copy(io.Discard, s)
}

// WithMaxBodyMemory bounds the request bodies of all connections together:
// a call whose body does not fit fails with RESOURCE_EXHAUSTED while others
// go on, the server never holds more, and the bytes come back when a body is
// decoded or its connection ends.
func TestBodyMemoryBudget(t *testing.T) {
	const budget = 1 << 20
	srv, _ := newServer(t, native.WithMaxBodyMemory(budget))
	addr := liveServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := native.BodyJSON
	held := func(what string, ok func(n int64) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n := native.BodyMemoryInUse(srv); !ok(n); n = native.BodyMemoryInUse(srv) {
			if n > budget {
				t.Fatalf("the server holds %d bytes of request bodies, over its budget of %d", n, budget)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the server holds %d bytes of request bodies", what, n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	// A holds 300 KiB of a body it has not finished.
	a := openRaw(t, addr)
	part := `{"msg":"` + strings.Repeat("a", 300<<10)
	if _, err := a.Write(cat(hHeader(1, "Echo.Unary", js, js), hBody(1, part, false))); err != nil {
		t.Fatal(err)
	}
	held("A's partial body", func(n int64) bool { return n >= 300<<10 })

	b, err := native.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	big := &echoReq{Msg: strings.Repeat("b", 800<<10)}
	err = b.Call(ctx, "Echo.Unary", big, &echoResp{})
	wantCode(t, err, native.CodeResourceExhausted, "memory for the request bodies of all connections (1048576 bytes) is in use")
	held("after the refused call", func(n int64) bool { return n <= budget })
	checkEcho(t, b, 1) // a small body still fits

	// A finishes: its call succeeds and its bytes come back.
	if _, err := a.Write(hBody(1, `"}`, true)); err != nil {
		t.Fatal(err)
	}
	if code, msg, body := callResponse(t, a, 1); code != native.CodeOK || len(body) < 300<<10 {
		t.Fatalf("A's call: %v %q, %d bytes", code, msg, len(body))
	}
	held("after A's call", func(n int64) bool { return n == 0 })
	var r echoResp
	if err := b.Call(ctx, "Echo.Unary", big, &r); err != nil || len(r.Msg) != len(big.Msg) {
		t.Fatalf("the large call once the budget is free: %d bytes, %v", len(r.Msg), err)
	}

	// A connection that ends in the middle of a body gives its bytes back.
	if _, err := a.Write(cat(hHeader(2, "Echo.Unary", js, js), hBody(2, part, false))); err != nil {
		t.Fatal(err)
	}
	held("A's second partial body", func(n int64) bool { return n >= 300<<10 })
	a.Close()
	held("after A's connection ended", func(n int64) bool { return n == 0 })

	// So does a call aborted in the middle of its body.
	c := openRaw(t, addr)
	if _, err := c.Write(cat(hHeader(1, "Echo.Unary", js, js), hBody(1, part, false))); err != nil {
		t.Fatal(err)
	}
	held("C's partial body", func(n int64) bool { return n >= 300<<10 })
	if _, err := c.Write(hRST(1, native.CodeCanceled, "gave up")); err != nil {
		t.Fatal(err)
	}
	held("after C's RST", func(n int64) bool { return n == 0 })
}

// skipRequest reads a JSON request's frames: its HEADER, then BODY frames up
// to the one flagged END.
func skipRequest(r io.Reader) error {
	for {
		var h [native.FrameHeaderLen]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(h[4:]))); err != nil {
			return err
		}
		if native.FrameType(h[0]) == native.TypeBody && native.Flags(h[1])&native.FlagEnd != 0 {
			return nil
		}
	}
}
