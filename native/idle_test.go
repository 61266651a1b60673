package native_test

// Idle connections are closed through the close handshake; clients and
// pools cope.

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/framegate/framegate/native"
)

const idleFor = time.Minute

// pipeDialer dials srv over net.Pipe, serving each connection in a
// goroutine; wait waits for those to end.
func pipeDialer(srv *native.Server) (dial func(context.Context) (*native.Client, error), wait func()) {
	done := make(chan error, 16)
	n := 0
	dial = func(context.Context) (*native.Client, error) {
		c, s := net.Pipe()
		n++
		go func() { done <- srv.ServeConn(s) }()
		return native.NewClient(c)
	}
	wait = func() {
		for range n {
			<-done
		}
	}
	return dial, wait
}

// A connection with no call in flight for the idle timeout is closed
// through CLOSE: the client sees the server go away, the server ends the
// connection cleanly. A call just before the timeout keeps it open.
func TestIdleTimeoutClosesConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := newServer(t, native.WithIdleTimeout(idleFor))
		dial, wait := pipeDialer(srv)
		c, err := dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkEcho(t, c, 1)
		time.Sleep(idleFor - time.Second)
		checkEcho(t, c, 2) // still open, and idle from now on
		time.Sleep(idleFor - time.Second)
		synctest.Wait()
		checkEcho(t, c, 3)
		time.Sleep(idleFor + time.Second)
		synctest.Wait()
		err = c.Call(context.Background(), "Echo.Unary", &echoReq{}, &echoResp{})
		wantCode(t, err, native.CodeUnavailable, "the server went away")
		c.Close()
		wait()
	})
}

// What a raw client sees: the server's CLOSE, after the idle timeout, with
// the last call it processed; a call that crossed the CLOSE is refused as
// not processed; and a client that never acknowledges loses the connection
// after the close timeout.
func TestIdleTimeoutOnTheWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No heartbeat: the raw client would have to answer its PINGs.
		srv, _ := newServer(t, native.WithIdleTimeout(idleFor), native.WithHeartbeat(0, 0))
		c, s := net.Pipe()
		served := make(chan error, 1)
		go func() { served <- srv.ServeConn(s) }()
		defer c.Close()
		go c.Write(clientPreface(native.ProtocolVersion))
		readServerPreface(t, c)
		js := native.BodyJSON
		go c.Write(cat(hHeader(1, "Echo.Unary", js, js), hBody(1, `{"msg":"a"}`, true)))
		if code, msg, _ := callResponse(t, c, 1); code != native.CodeOK {
			t.Fatalf("call 1: %v %s", code, msg)
		}
		start := time.Now()
		h, p := readFrame(t, c)
		if h.Type != native.TypeClose || binary.BigEndian.Uint32(p) != 1 {
			t.Fatalf("got %v %x, want CLOSE with last call 1", h, p)
		}
		if waited := time.Since(start); waited != idleFor {
			t.Errorf("CLOSE after %v idle, want %v", waited, idleFor)
		}
		// A call sent before the client read the CLOSE.
		go c.Write(cat(hHeader(2, "Echo.Unary", js, js), hBody(2, `{"msg":"b"}`, true)))
		code, msg, _ := callResponse(t, c, 2)
		if code != native.CodeUnavailable || !strings.Contains(msg, "idle; the call was not processed") {
			t.Errorf("call 2 after CLOSE: %v %q, want UNAVAILABLE, not processed", code, msg)
		}
		// No CLOSE_ACK: the server gives up after the close timeout.
		start = time.Now()
		io.Copy(io.Discard, c)
		if waited := time.Since(start); waited != native.DefaultCloseTimeout {
			t.Errorf("the server closed after %v without CLOSE_ACK, want %v", waited, native.DefaultCloseTimeout)
		}
		<-served
	})
}

// A Pool whose connection was closed as idle dials a new one.
func TestPoolAfterIdleClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := newServer(t, native.WithIdleTimeout(idleFor))
		dial, wait := pipeDialer(srv)
		p := native.NewPool(dial, 2)
		checkEcho(t, p, 1)
		time.Sleep(2 * idleFor)
		synctest.Wait()
		checkEcho(t, p, 2)
		if st := p.Stats(); st.Dials != 2 {
			t.Errorf("%d dials, want 2: one before and one after the idle close", st.Dials)
		}
		p.Close()
		wait()
	})
}

// A call that crosses the server's CLOSE is refused unprocessed: a Pool makes
// it again on a new connection; a lone Client reports it, as UNAVAILABLE.
func TestPoolRetriesCallCrossingClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := newServer(t)
		real, wait := pipeDialer(srv)
		crossing := func(context.Context) (*native.Client, error) {
			c, s := net.Pipe()
			go crossingServer(s)
			return native.NewClient(c)
		}
		dials := 0
		p := native.NewPool(func(ctx context.Context) (*native.Client, error) {
			if dials++; dials == 1 {
				return crossing(ctx)
			}
			return real(ctx)
		}, 1)
		checkEcho(t, p, 1) // call 1, answered by the crossing server
		checkEcho(t, p, 2) // refused there, made again on a new connection
		if st := p.Stats(); st.Dials != 2 {
			t.Errorf("%d dials, want 2", st.Dials)
		}
		p.Close()
		wait()

		c, err := crossing(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkEcho(t, c, 1)
		err = c.Call(context.Background(), "Echo.Unary", &echoReq{}, &echoResp{})
		wantCode(t, err, native.CodeUnavailable, "not processed")
		c.Close()
	})
}

// crossingServer answers call 1, then answers the next HEADER as a server
// whose idle CLOSE crossed it: CLOSE with last call 1, then UNAVAILABLE.
func crossingServer(s net.Conn) {
	defer s.Close()
	if serverHandshake(s) != nil {
		return
	}
	for call := uint32(1); ; call++ {
		if skipRequest(s) != nil {
			return
		}
		var out []byte
		if call == 1 {
			out = cat(frame(native.FrameHeader{Type: native.TypeHeader, Call: 1}, []byte(`{"code":0,"body":"json"}`)),
				hBody(1, `{"msg":"m1","n":2}`, true))
		} else {
			out = cat(frame(native.FrameHeader{Type: native.TypeClose}, binary.BigEndian.AppendUint32(nil, 1)),
				frame(native.FrameHeader{Type: native.TypeHeader, Call: call}, []byte(`{"code":14,"message":"idle; the call was not processed","body":"none"}`)))
		}
		if _, err := s.Write(out); err != nil {
			return
		}
		if call > 1 {
			io.Copy(io.Discard, s) // CLOSE_ACK, then the end
			return
		}
	}
}
