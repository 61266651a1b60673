package native_test

// Small messages of many calls share writes: a server answers the requests
// it has already received in one write (serverConn.batchable), and a
// client's caller, or a server's handler, that finds the write lock held
// leaves its request or answer to the holder (wire.queueEnd), with the call
// ids still in order.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// writeLog records the frames of each Write on a transport.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes [][]native.FrameHeader
}

func (l *writeLog) Write(p []byte) (int, error) {
	hs, _ := parseFramesPayloads(append(clientPreface(native.ProtocolVersion), p...))
	l.mu.Lock()
	l.writes = append(l.writes, hs)
	l.mu.Unlock()
	return l.Conn.Write(p)
}

// TestServerBatchesResponses: requests that arrive together are answered
// together, in one write, each with its own HEADER and END.
func TestServerBatchesResponses(t *testing.T) {
	srv, _ := newServer(t)
	a, b := net.Pipe()
	b.SetDeadline(time.Now().Add(10 * time.Second))
	log := &writeLog{Conn: a}
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(log) }()
	defer func() {
		b.Close()
		<-served
	}()
	if _, err := b.Write(clientPreface(native.ProtocolVersion)); err != nil {
		t.Fatal(err)
	}
	readPreface(t, b)

	const n = 8
	var reqs []byte
	for id := uint32(1); id <= n; id++ {
		reqs = append(reqs, hdr(id, "Echo.Unary", native.BodyJSON, native.BodyJSON)...)
		reqs = append(reqs, frame(native.FrameHeader{Type: native.TypeBody, Flags: native.FlagEnd, Call: id}, fmt.Appendf(nil, `{"msg":"m%d","n":%d}`, id, id))...)
	}
	if _, err := b.Write(reqs); err != nil {
		t.Fatal(err)
	}
	ends := map[uint32]string{}
	for len(ends) < n {
		h, p := readFrame(t, b)
		if h.Type == native.TypeBody && h.Flags&native.FlagEnd != 0 {
			ends[h.Call] = string(p)
		}
	}
	for id := uint32(1); id <= n; id++ {
		if want := fmt.Sprintf(`{"msg":"m%d","n":%d}`, id, 2*id); ends[id] != want {
			t.Errorf("call %d answered %s, want %s", id, ends[id], want)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	// The preface, then the answers: in one write, unless a slow moment
	// had the batch written early (the lending period); in n without
	// batching.
	if len(log.writes)-1 >= n {
		t.Errorf("%d requests received together were answered in %d writes: %v", n, len(log.writes)-1, log.writes)
	}
}

// TestAnswersBesideStreamGoWithItsLetGo: answers ready while a stream's
// DATA frame is being written wait for it in the queue, not for the write
// lock: once the frame is written, its writer writes them together.
func TestAnswersBesideStreamGoWithItsLetGo(t *testing.T) {
	srv, _ := newServer(t)
	mustRegister(t, srv, "Big.Stream", func(req *echoReq, resp *io.Reader) error {
		*resp = bytes.NewReader(make([]byte, 4<<20))
		return nil
	})
	handled := make(chan int, 8)
	mustRegister(t, srv, "Note.Echo", func(req *echoReq, resp *echoResp) error {
		resp.Msg, resp.N = req.Msg, req.N
		handled <- req.N
		return nil
	})
	a, b := net.Pipe()
	gw := &gatedWrites{writeLog: writeLog{Conn: a}, held: make(chan struct{}), gate: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(gw) }()
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, b); close(drained) }()
	defer func() {
		b.Close()
		<-served
		<-drained
	}()
	reqs := cat(clientPreface(native.ProtocolVersion), hdr(1, "Big.Stream", native.BodyJSON, native.BodyStream),
		frame(native.FrameHeader{Type: native.TypeBody, Flags: native.FlagEnd, Call: 1}, []byte(`{}`)))
	if _, err := b.Write(reqs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gw.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's first DATA frame was not written")
	}
	// One request at a time, each once the last was handled: none is
	// answered with the requests read after it (serverConn.batchable).
	const calls = 6
	for id := uint32(2); id < 2+calls; id++ {
		req := cat(hdr(id, "Note.Echo", native.BodyJSON, native.BodyJSON),
			frame(native.FrameHeader{Type: native.TypeBody, Flags: native.FlagEnd, Call: id}, fmt.Appendf(nil, `{"n":%d}`, id)))
		if _, err := b.Write(req); err != nil {
			t.Fatal(err)
		}
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d was not handled while the DATA frame was being written", id)
		}
	}
	close(gw.gate)
	// The answers, in the writes after the DATA frame held: all in one
	// write, or a few later if their handlers answered (a handler's
	// answer follows its note) as the frame's writer let go; one write
	// each if they waited for the lock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		gw.mu.Lock()
		var after [][]native.FrameHeader
		if len(gw.writes) > gw.heldAt {
			after = slices.Clone(gw.writes[gw.heldAt+1:])
		}
		gw.mu.Unlock()
		writes, ends := 0, 0
		for _, w := range after {
			n := 0
			for _, h := range w {
				if h.Type == native.TypeBody && h.Flags&native.FlagEnd != 0 {
					n++
				}
			}
			if n > 0 {
				writes++
				ends += n
			}
		}
		if ends == calls {
			if writes >= calls {
				t.Errorf("%d answers ready while a DATA frame was written went out in %d writes, want fewer: %v", calls, writes, after)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d answers written after the DATA frame held", ends, calls)
		}
		time.Sleep(time.Millisecond)
	}
}

// gatedWrites is a writeLog whose first write of a DATA frame waits for
// gate, after closing held; heldAt is that write's index.
type gatedWrites struct {
	writeLog
	held, gate chan struct{}
	heldAt     int
	once       sync.Once
}

func (g *gatedWrites) Write(p []byte) (int, error) {
	if len(p) >= native.FrameHeaderLen && native.FrameType(p[0]) == native.TypeData {
		g.once.Do(func() {
			g.mu.Lock()
			g.heldAt = len(g.writes)
			g.mu.Unlock()
			close(g.held)
			<-g.gate
		})
	}
	return g.writeLog.Write(p)
}

// readPreface reads the server's preface.
func readPreface(t *testing.T, r net.Conn) {
	t.Helper()
	p := make([]byte, native.PrefaceLen)
	if _, err := r.Read(p); err != nil {
		t.Fatal(err)
	}
}

// TestClientQueuedRequestsInOrder: many callers on one Client whose
// requests are often left to the write lock's holder. The server refuses
// a call id not above the last one as a protocol error, so every call
// succeeding shows the ids went out in order; the client's writes show
// requests of several calls went out together.
func TestClientQueuedRequestsInOrder(t *testing.T) {
	var log *writeLog
	c, closeAll := pipeClient(t, func(c net.Conn) net.Conn { log = &writeLog{Conn: c}; return log })
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for j := range 50 {
				checkEcho(t, c, i*1000+j)
			}
		})
	}
	wg.Wait()
	closeAll()
	log.mu.Lock()
	defer log.mu.Unlock()
	most := 0
	for _, w := range log.writes {
		calls := map[uint32]bool{}
		for _, h := range w {
			if h.Type == native.TypeHeader {
				calls[h.Call] = true
			}
		}
		most = max(most, len(calls))
	}
	if most < 2 {
		t.Errorf("no write carried the requests of more than %d call (%d writes for 1,600 calls)", most, len(log.writes))
	}
}

// A caller gives up before its queued request was written: the call
// still fails with its context's error and the connection goes on.
func TestQueuedRequestCanceled(t *testing.T) {
	c, closeAll := pipeClient(t, func(c net.Conn) net.Conn { return c })
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 40 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(j%5)*20*time.Microsecond)
				var r echoResp
				err := c.Call(ctx, "Echo.Unary", &echoReq{Msg: "x", N: i}, &r)
				cancel()
				if err != nil && native.CodeOf(err) != native.CodeDeadlineExceeded {
					t.Errorf("call: %v", err)
				}
			}
		})
	}
	wg.Wait()
	checkEcho(t, c, 7)
	closeAll()
}

// pipeClient connects a Client, over wrap of its end of a net.Pipe, to a
// newServer serving the other end. closeAll closes the client, waits for
// the server's end, and fails t on an error of either.
func pipeClient(t *testing.T, wrap func(net.Conn) net.Conn) (c *native.Client, closeAll func()) {
	t.Helper()
	srv, _ := newServer(t)
	a, b := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(a) }()
	c, err := native.NewClient(wrap(b))
	if err != nil {
		t.Fatal(err)
	}
	return c, func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("ServeConn: %v", err)
		}
	}
}
