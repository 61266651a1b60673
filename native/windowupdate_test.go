package native

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// await returns the writes once there are n, failing the test if they do
// not come.
func (o *fullAfter) await(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		got := len(o.writes)
		o.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // a write too many would show now
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.writes) != n {
		t.Fatalf("%d writes, want %d: %x", len(o.writes), n, o.writes)
	}
	return slices.Clone(o.writes)
}

func windowFrame(call uint32, inc uint32) []byte {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], inc)
	return appendFrame(nil, FrameHeader{Type: TypeWindow, Call: call}, p[:])
}

// TestWindowUpdatesShareAWrite: each write of WINDOW_UPDATEs wakes the
// sender's reader, so a stream's update and the connection's, due at the
// same read, go out in one write; either alone goes in a write of its own.
func TestWindowUpdatesShareAWrite(t *testing.T) {
	out := &fullAfter{room: 1 << 30} // takes every write whole
	var w wire
	w.init(out, limits{maxFramePayload: 1 << 10})
	w.tw = out
	w.mine = settings{streamWindow: 8 << 10, connWindow: 16 << 10}
	s := &streamReader{w: &w, call: 3}

	w.consumed(7 << 10) // the connection's update is due at 8 KiB
	s.credit(1<<10, 4<<10)
	writes := out.await(t, 1)
	if want := append(windowFrame(3, 4<<10), windowFrame(0, 8<<10)...); !bytes.Equal(writes[0], want) {
		t.Fatalf("both updates due: wrote %x, want %x in one write", writes[0], want)
	}

	s.credit(1<<10, 4<<10) // the stream's alone
	writes = out.await(t, 2)
	if want := windowFrame(3, 4<<10); !bytes.Equal(writes[1], want) {
		t.Fatalf("the stream's update: wrote %x, want %x", writes[1], want)
	}

	s.credit(1<<10, 0)  // none due
	w.consumed(6 << 10) // the connection's alone, at 8 KiB again
	writes = out.await(t, 3)
	if want := windowFrame(0, 8<<10); !bytes.Equal(writes[2], want) {
		t.Fatalf("the connection's update: wrote %x, want %x", writes[2], want)
	}
}
