package native

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
)

// chunkedConn is a transport that delivers its bytes in reads of the sizes
// in steps (cycled), into one buffer or several, as a socket delivers what
// arrived.
type chunkedConn struct {
	data  []byte
	steps []int
	i     int
}

func (c *chunkedConn) next() int {
	n := 1
	if len(c.steps) > 0 {
		n = max(1, c.steps[c.i%len(c.steps)])
		c.i++
	}
	return min(n, len(c.data))
}

func (c *chunkedConn) Read(p []byte) (int, error) {
	return c.readVec([][]byte{p})
}

func (c *chunkedConn) readVec(bufs [][]byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n, got := c.next(), 0
	for _, b := range bufs {
		m := copy(b, c.data[:n-got])
		c.data, got = c.data[m:], got+m
		if got == n {
			break
		}
	}
	return got, nil
}

func (c *chunkedConn) Write(p []byte) (int, error) { return len(p), nil }

// frameScript turns script into well-formed frames: per frame, a kind byte
// (DATA of call 1, the consumer's; DATA of call 3; a PING; a TRAILER of call
// 1) and a length byte. It returns the wire bytes, call 1's payload, and the
// other frames in order.
func frameScript(script []byte) (wire, mine []byte, others []string) {
	var n byte
	for i := 0; i+1 < len(script); i += 2 {
		length := int(script[i+1]) * 7
		payload := make([]byte, length)
		for j := range payload {
			n++
			payload[j] = n
		}
		var h FrameHeader
		switch script[i] % 4 {
		case 0, 1:
			h = FrameHeader{Type: TypeData, Call: 1}
			mine = append(mine, payload...)
		case 2:
			h = FrameHeader{Type: TypeData, Call: 3}
		case 3:
			h, payload = FrameHeader{Type: TypePing}, []byte("pingpong")
		}
		if h.Call != 1 {
			others = append(others, string(appendFrame(nil, h, payload)))
		}
		wire = appendFrame(wire, h, payload)
	}
	return wire, mine, others
}

// consumeWithTails reads the frames of wire as a stream's consumer and the
// reading role do: call 1's payloads with readTail into buffers of the sizes
// in bufSizes (cycled), taking the bytes read ahead as readRole.ownData
// does, the other frames whole. across is readTail's.
func consumeWithTails(t *testing.T, fr *framer, bufSizes []int, across bool) (mine []byte, others []string) {
	t.Helper()
	k := 0
	for {
		h, err := fr.readHeader()
		if err == io.EOF {
			return mine, others
		}
		if err != nil {
			t.Fatalf("readHeader: %v", err)
		}
		if h.Type != TypeData || h.Call != 1 {
			if fr.inHand != 0 {
				t.Fatalf("%v: %d bytes in hand for another frame", h, fr.inHand)
			}
			p, err := fr.readPayload(nil, h.Length)
			if err != nil {
				t.Fatalf("payload of %v: %v", h, err)
			}
			others = append(others, string(appendFrame(nil, h, p)))
			continue
		}
		have := fr.takeInHand()
		if have > h.Length {
			t.Fatalf("%v: %d bytes in hand", h, have)
		}
		for pend := h.Length - have; pend > 0; {
			p := make([]byte, max(1, bufSizes[k%len(bufSizes)]))
			k++
			m, ahead, err := fr.readTail(p, pend, 1, across)
			if err != nil {
				t.Fatalf("readTail: %v", err)
			}
			if m > int(pend) || (ahead > 0 && (m != int(pend) || !across)) {
				t.Fatalf("readTail of %d bytes: m %d, ahead %d", pend, m, ahead)
			}
			mine = append(mine, p[:m+ahead]...)
			pend -= uint32(m)
		}
	}
}

// FuzzReadTail checks that reading a stream's payload tails together with
// what follows them yields the stream and every other frame exactly as
// reading frame by frame does, however the transport cuts the bytes and
// whatever the consumer's buffers.
func FuzzReadTail(f *testing.F) {
	// Reads of 12 bytes (a header), then 56 KiB: each tail is read with
	// all that follows it (across), or with the next header only.
	f.Add([]byte{0, 10, 0, 10, 2, 3, 3, 0, 1, 200}, []byte{12, 255}, []byte{255}, true)
	f.Add([]byte{0, 255, 1, 255, 0, 1}, []byte{12, 255}, []byte{255}, true)   // DATA after DATA
	f.Add([]byte{0, 20, 2, 20, 0, 20}, []byte{12, 255}, []byte{255}, true)    // another call's DATA after the tail
	f.Add([]byte{0, 20, 3, 0, 0, 20}, []byte{12, 255}, []byte{255}, true)     // a PING after the tail
	f.Add([]byte{0, 20, 0, 20}, []byte{12, 145, 5, 255}, []byte{255}, true)   // a header cut short
	f.Add([]byte{0, 1, 0, 1, 0, 1, 0, 1}, []byte{12, 255}, []byte{255}, true) // short frames: what follows is given back
	f.Add([]byte{0, 200, 1, 100, 2, 50, 0, 30}, []byte{7, 100, 3}, []byte{40, 1, 250}, true)
	f.Add([]byte{0, 20, 0, 20, 2, 20, 0, 20}, []byte{12, 255}, []byte{255}, false) // tail and header only
	lim := limits{maxFramePayload: 4 << 10, maxHeaderSize: 1 << 10}
	f.Fuzz(func(t *testing.T, script, steps, bufs []byte, across bool) {
		script = script[:min(len(script), 128)]
		wire, mine, others := frameScript(script)
		var stepSizes, bufSizes []int
		for _, s := range steps {
			stepSizes = append(stepSizes, chunkSize(s))
		}
		for _, b := range bufs {
			bufSizes = append(bufSizes, chunkSize(b))
		}
		if len(bufSizes) == 0 {
			bufSizes = []int{1 << 10}
		}
		conn := &chunkedConn{data: wire, steps: stepSizes}
		fr := newFramer(conn, lim)
		fr.vec = conn
		gotMine, gotOthers := consumeWithTails(t, fr, bufSizes, across)
		if !bytes.Equal(gotMine, mine) {
			t.Fatalf("the stream read %d bytes, want %d (first difference at %d)", len(gotMine), len(mine), firstDiff(gotMine, mine))
		}
		if !slices.Equal(gotOthers, others) {
			t.Fatalf("other frames differ: got %d, want %d", len(gotOthers), len(others))
		}
	})
}

// chunkSize maps a fuzzed byte to a read or buffer size: 1 to 199 bytes,
// or 1 to 56 KiB.
func chunkSize(b byte) int {
	if b < 200 {
		return max(1, int(b))
	}
	return (int(b) - 199) << 10
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestReadTailTakesTheNextData pins what one read past a tail does: the
// next DATA frame of the same call arrives in the buffer after the tail,
// and its header, given back, is read next; another frame is given back
// whole.
func TestReadTailTakesTheNextData(t *testing.T) {
	a := bytes.Repeat([]byte{'a'}, 100)
	b := bytes.Repeat([]byte{'b'}, 50)
	var wire []byte
	wire = appendFrame(wire, FrameHeader{Type: TypeData, Call: 1}, a)
	wire = appendFrame(wire, FrameHeader{Type: TypeData, Call: 1}, b)
	wire = appendFrame(wire, FrameHeader{Type: TypeData, Call: 3}, []byte("other"))
	conn := &chunkedConn{data: wire, steps: []int{FrameHeaderLen, len(wire)}}
	fr := newFramer(conn, limits{maxFramePayload: 1 << 10, maxHeaderSize: 1 << 10})
	fr.vec = conn
	if h, err := fr.readHeader(); err != nil || h.Length != 100 {
		t.Fatalf("first header: %v %v", h, err)
	}
	p := make([]byte, 1000)
	m, ahead, err := fr.readTail(p, 100, 1, true)
	if err != nil || m != 100 || ahead != 50 {
		t.Fatalf("readTail = %d, %d, %v; want 100, 50, nil", m, ahead, err)
	}
	if !bytes.Equal(p[:150], append(slices.Clone(a), b...)) {
		t.Fatalf("buffer holds %q", p[:150])
	}
	if h, err := fr.readHeader(); err != nil || h.Call != 1 || h.Length != 50 || fr.takeInHand() != 50 {
		t.Fatalf("second header: %v %v", h, err)
	}
	h, err := fr.readHeader()
	if err != nil || h.Call != 3 {
		t.Fatalf("third header: %v %v", h, err)
	}
	if p, err := fr.readPayload(nil, h.Length); err != nil || string(p) != "other" {
		t.Fatalf("third payload: %q %v", p, err)
	}
	if _, err := fr.readHeader(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the frames: %v, want EOF", err)
	}
}
