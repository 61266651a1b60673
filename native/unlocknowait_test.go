package native

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// fullAfter is a transport's non-waiting writer that takes room bytes in
// all, then is full; the transport's Write takes the rest.
type fullAfter struct {
	room int
	out  *lockedBuffer
}

func (f *fullAfter) tryWrite(b []byte) (int, error) {
	n := min(len(b), f.room)
	f.room -= n
	f.out.Write(b[:n])
	return n, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Read(p []byte) (int, error) { select {} }
func (l *lockedBuffer) Close() error               { return nil }

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// TestControlFramesWithoutWaiting queues control frames as a connection's
// reader does: what the transport takes at once is written on the spot,
// the rest by a goroutine that waits for room, in order, and the write lock
// is free once all are out.
func TestControlFramesWithoutWaiting(t *testing.T) {
	for _, room := range []int{1 << 20, 20, 0} {
		out := &lockedBuffer{}
		var w wire
		w.init(out, limits{maxFramePayload: 1 << 10})
		w.tw = &fullAfter{room: room, out: out}
		var want []byte
		for i := range 3 {
			h := FrameHeader{Type: TypeWindow, Call: uint32(i + 1)}
			p := []byte{0, 0, 0, byte(i + 1)}
			want = appendFrame(want, h, p)
			w.writeControl(h, p)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !bytes.Equal(out.bytes(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("room %d: the transport got %x, want %x", room, out.bytes(), want)
			}
			time.Sleep(time.Millisecond)
		}
		for !w.wl.tryLock() {
			if time.Now().After(deadline) {
				t.Fatalf("room %d: the write lock is still held", room)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
