package native_test

// Large JSON bodies take turns: a body larger than a DATA chunk goes out one
// chunk per turn of the write lock, so other calls' frames pass between its
// chunks, in both directions, as they do between a stream's DATA frames.

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/framegate/framegate/native"
)

var turnCases = []suiteCase{
	{name: "LargeJSONTakesTurns", remote: true, run: testLargeJSONTakesTurns},
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
	big := strings.Repeat("z", 4<<20)
	var r echoResp
	if err := f.caller.Call(context.Background(), "Echo.Unary", &echoReq{Msg: big}, &r); err != nil || r.Msg != big {
		t.Fatalf("4 MiB JSON: %d bytes back, %v", len(r.Msg), err)
	}
	stop.Store(true)
	wg.Wait()
	for _, side := range []struct {
		name   string
		frames []native.FrameHeader
	}{{"request, as the server read it", readFrames(sl)}, {"response, as the client read it", readFrames(cl)}} {
		if n := interleaved(side.frames); n == 0 {
			t.Errorf("4 MiB %s: no frame of another call between its BODY frames", side.name)
		}
	}
}

func readFrames(l *frameLog) []native.FrameHeader {
	read, _ := l.frames()
	return read
}

// interleaved counts the frames of other calls between the first and the
// last BODY frame of the call with the most BODY frames.
func interleaved(frames []native.FrameHeader) int {
	bodies := map[uint32]int{}
	var big uint32
	for _, h := range frames {
		if h.Type == native.TypeBody {
			if bodies[h.Call]++; bodies[h.Call] > bodies[big] {
				big = h.Call
			}
		}
	}
	first, last := -1, -1
	for i, h := range frames {
		if h.Type == native.TypeBody && h.Call == big {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	n := 0
	for _, h := range frames[max(first, 0) : last+1] {
		if h.Call != big && h.Call != 0 {
			n++
		}
	}
	return n
}
