package native_test

// Large JSON bodies take turns: a body larger than a DATA chunk goes out one
// chunk per turn of the write lock, so other calls' frames pass between its
// chunks, in both directions, as they do between a stream's DATA frames.

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

var turnCases = []suiteCase{
	{name: "LargeJSONTakesTurns", remote: true, run: testLargeJSONTakesTurns},
	{name: "StreamBesideCallsTakesSmallerFrames", remote: true, run: testStreamBesideCalls},
}

// testStreamBesideCalls checks the size of a stream's DATA frames: whole
// 1 MiB chunks while the stream is alone on its connection, at most
// native.SharedQuantum once a call started beside it, so that small calls
// wait for less of it.
func testStreamBesideCalls(t *testing.T, mk factory) {
	const size = 3 << 20
	srv, _ := newServer(t, native.WithSharedFor(time.Hour))
	entered := make(chan struct{}, 1)
	gate := make(chan struct{})
	mustRegister(t, srv, "Big.Stream", func(ctx context.Context, req *echoReq, resp *io.Reader) error {
		if req.N == 1 {
			entered <- struct{}{}
			<-gate
		}
		*resp = bytes.NewReader(make([]byte, size))
		return nil
	})
	var cl, sl *frameLog
	f := mk(t, srv, logConns(&cl, &sl))
	get := func(n int) {
		t.Helper()
		var rc io.ReadCloser
		if err := f.caller.Call(context.Background(), "Big.Stream", &echoReq{N: n}, &rc); err != nil {
			t.Errorf("Big.Stream: %v", err)
			return
		}
		defer rc.Close()
		if got, err := io.Copy(io.Discard, rc); got != size || err != nil {
			t.Errorf("Big.Stream: %d bytes, %v; want %d", got, err, size)
		}
	}
	largest := func() map[uint32]uint32 {
		_, wrote := sl.frames()
		m := map[uint32]uint32{}
		for _, h := range wrote {
			if h.Type == native.TypeData {
				m[h.Call] = max(m[h.Call], h.Length)
			}
		}
		return m
	}
	get(0) // alone: call 1
	if got := largest()[1]; got != native.DefaultStreamChunkSize {
		t.Errorf("a stream alone: DATA frames of at most %d bytes, want whole chunks of %d", got, native.DefaultStreamChunkSize)
	}
	done := make(chan struct{})
	go func() { defer close(done); get(1) }() // call 2, beside call 3
	<-entered
	checkEcho(t, f.caller, 3)
	close(gate)
	<-done
	if got := largest()[2]; got == 0 || got > native.SharedQuantum {
		t.Errorf("a stream beside another call: DATA frames of at most %d bytes, want at most %d", got, native.SharedQuantum)
	}
}

func testLargeJSONTakesTurns(t *testing.T, mk factory) {
	// Chunks of 256 KiB: a 4 MiB body takes 16 turns each way.
	chunk := native.WithStreamChunkSize(256 << 10)
	srv, _ := newServer(t, chunk)
	var cl, sl *frameLog
	f := mk(t, srv, logConns(&cl, &sl), clientOptions(chunk))
	// Small calls run all along, from two callers, before the large one
	// starts and until it ends.
	var stop atomic.Bool
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for i := range 2 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				checkEcho(t, f.caller, i*1_000_000+n)
				if n == 0 {
					started <- struct{}{}
				}
			}
		})
	}
	<-started
	<-started
	// Whether another call's frame falls between two chunks depends on
	// the scheduler (on a loaded machine a whole body may pass while the
	// small callers wait to run): the large call is made again, up to 5
	// times, until both directions showed one.
	big := strings.Repeat("z", 4<<20)
	sides := []struct {
		name string
		log  **frameLog
		seen bool
	}{{"request, as the server read it", &sl, false}, {"response, as the client read it", &cl, false}}
	for try := 0; try < 5 && !(sides[0].seen && sides[1].seen); try++ {
		var r echoResp
		if err := f.caller.Call(context.Background(), "Echo.Unary", &echoReq{Msg: big}, &r); err != nil || r.Msg != big {
			t.Fatalf("4 MiB JSON: %d bytes back, %v", len(r.Msg), err)
		}
		for i := range sides {
			sides[i].seen = sides[i].seen || interleaved(readFrames(*sides[i].log)) > 0
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, side := range sides {
		if !side.seen {
			t.Errorf("4 MiB %s: no frame of another call between its BODY frames, in 5 calls", side.name)
		}
	}
}

func readFrames(l *frameLog) []native.FrameHeader {
	read, _ := l.frames()
	return read
}

// interleaved counts the frames of other calls between the first and the
// last BODY frame of a call, for the call where they are most.
func interleaved(frames []native.FrameHeader) int {
	span := map[uint32][2]int{} // call -> index of its first and last BODY frame
	for i, h := range frames {
		if h.Type != native.TypeBody {
			continue
		}
		if sp, ok := span[h.Call]; ok {
			span[h.Call] = [2]int{sp[0], i}
		} else {
			span[h.Call] = [2]int{i, i}
		}
	}
	most := 0
	for call, sp := range span {
		n := 0
		for _, h := range frames[sp[0] : sp[1]+1] {
			if h.Call != call && h.Call != 0 {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}
