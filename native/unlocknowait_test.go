package native

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// fullAfter is a transport whose writes that do not wait (tryWrite) take
// room bytes in all, then find it full; its Write takes the rest. It keeps
// what each write took apart too (writes).
type fullAfter struct {
	mu     sync.Mutex
	room   int
	out    bytes.Buffer
	writes [][]byte
}

func (f *fullAfter) tryWrite(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(b), f.room)
	f.room -= n
	return f.take(b[:n])
}

func (f *fullAfter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.take(p)
}

// take records one write's bytes; f.mu is held.
func (f *fullAfter) take(b []byte) (int, error) {
	if len(b) > 0 {
		f.writes = append(f.writes, bytes.Clone(b))
	}
	return f.out.Write(b)
}

func (f *fullAfter) Read(p []byte) (int, error) { select {} }
func (f *fullAfter) Close() error               { return nil }

// written is what the transport took so far.
func (f *fullAfter) written() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.out.Bytes())
}

// TestControlFramesWithoutWaiting queues control frames as a connection's
// reader does: what the transport takes at once is written on the spot,
// the rest by a goroutine that waits for room, in order, and the write lock
// is free once all are out.
func TestControlFramesWithoutWaiting(t *testing.T) {
	for _, room := range []int{1 << 20, 20, 0} {
		out := &fullAfter{room: room}
		var w wire
		w.init(out, limits{maxFramePayload: 1 << 10})
		w.tw = out
		var want []byte
		for i := range 3 {
			h := FrameHeader{Type: TypeWindow, Call: uint32(i + 1)}
			p := []byte{0, 0, 0, byte(i + 1)}
			want = appendFrame(want, h, p)
			w.writeControl(h, p)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !bytes.Equal(out.written(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("room %d: the transport got %x, want %x", room, out.written(), want)
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
