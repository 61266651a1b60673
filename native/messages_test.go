package native

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// byteSource is a msgSource over a reader, recording an abort and the size
// of every read asked of it.
type byteSource struct {
	r       io.Reader
	aborted error
	got     int   // bytes read so far
	asks    []int // len(p) of each Read, with got before it
	before  []int
}

func (s *byteSource) Read(p []byte) (int, error) {
	s.asks, s.before = append(s.asks, len(p)), append(s.before, s.got)
	n, err := s.r.Read(p)
	s.got += n
	return n, err
}

func (s *byteSource) abort(reason error) { s.aborted = reason }

// goldenPayload is the payload of a golden frame, by name.
func goldenPayload(t testing.TB, name string) []byte {
	for _, g := range goldenFrames {
		if g.name == name {
			return g.bytes()[FrameHeaderLen:]
		}
	}
	t.Fatalf("no golden frame %q", name)
	return nil
}

// nextAll reads r's messages until io.EOF.
func nextAll(t *testing.T, r *msgRecv) []string {
	t.Helper()
	var got []string
	for {
		m, err := r.next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		got = append(got, string(m))
	}
}

// TestMessageStreamDecode reads the golden DATA payloads back as messages,
// however the bytes are split, and checks how a stream ends.
func TestMessageStreamDecode(t *testing.T) {
	stream := append(goldenPayload(t, "DATA of one message"), goldenPayload(t, "DATA of two messages")...)
	for _, split := range []struct {
		name string
		r    func([]byte) io.Reader
	}{
		{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"one byte at a time", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	} {
		t.Run(split.name, func(t *testing.T) {
			got := nextAll(t, &msgRecv{src: &byteSource{r: split.r(stream)}, limit: 1024})
			if want := `{"seq":1}|{}|"x"`; strings.Join(got, "|") != want {
				t.Fatalf("messages %q, want %s", got, want)
			}
		})
	}
	for _, c := range []struct {
		name, hex string
		code      Code
		msg       string
		aborted   bool
	}{
		{"cut in the length", "000000", CodeDataLoss, "after 3 of the 4 bytes of its length", false},
		{"cut in the message", "00000005 7b7d", CodeDataLoss, "after 2 of the 5 bytes of its bytes", false},
		{"over the limit", "00000401 7b7d", CodeResourceExhausted, "message of 1025 bytes is over the limit of 1024 bytes (WithMaxMessageSize)", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := hex.DecodeString(strings.ReplaceAll(c.hex, " ", ""))
			src := &byteSource{r: bytes.NewReader(b)}
			r := &msgRecv{src: src, limit: 1024}
			_, err := r.next()
			var e *Error
			if !errors.As(err, &e) || e.Code() != c.code || !strings.Contains(e.Message(), c.msg) {
				t.Fatalf("next() = %v, want code %v saying %q", err, c.code, c.msg)
			}
			if (src.aborted != nil) != c.aborted {
				t.Fatalf("sender told to stop: %v, want %v", src.aborted, c.aborted)
			}
			if c.aborted && len(src.asks) != 1 {
				t.Fatalf("%d reads for a message over the limit, want only the one that brought its length", len(src.asks))
			}
			if _, again := r.next(); again != err {
				t.Fatalf("the error is not sticky: %v", again)
			}
		})
	}
}

// TestMessageMemoryFollowsBytes checks that a peer claiming a large message
// and sending little of it makes the receiver ask for little memory: every
// read is at most what arrived so far, or 16 KiB.
func TestMessageMemoryFollowsBytes(t *testing.T) {
	const claimed, sent = 4 << 20, 100 << 10
	b := appendMsg(nil, make([]byte, claimed))[:4+sent]
	src := &byteSource{r: bytes.NewReader(b)}
	r := &msgRecv{src: src, limit: claimed}
	_, err := r.next()
	if CodeOf(err) != CodeDataLoss {
		t.Fatalf("next() = %v, want DataLoss", err)
	}
	for i, ask := range src.asks {
		if body := src.before[i] - 4; ask > max(body, msgReadStep) {
			t.Fatalf("read %d asked for %d bytes after %d bytes of the message arrived", i, ask, body)
		}
	}
}

// TestMessageReadAheadFollowsBytes checks the read-ahead buffer of a
// stream of small messages: it grows only after a Read filled it (the
// stream had that much waiting), never past msgReadAhead, and a stream
// that trickles keeps the first size.
func TestMessageReadAheadFollowsBytes(t *testing.T) {
	msg := appendMsg(nil, []byte(`{"seq":1}`))
	many := bytes.Repeat(msg, 3*msgReadAhead/len(msg))
	for _, c := range []struct {
		name     string
		r        io.Reader
		maxAsk   int
		messages int
	}{
		{"backlog", bytes.NewReader(many), msgReadAhead, len(many) / len(msg)},
		{"trickle", iotest.HalfReader(bytes.NewReader(msg)), msgReadStep, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &byteSource{r: c.r}
			got := nextAll(t, &msgRecv{src: src, limit: 1024})
			if len(got) != c.messages || got[0] != `{"seq":1}` || got[len(got)-1] != got[0] {
				t.Fatalf("%d messages, want %d of {\"seq\":1}", len(got), c.messages)
			}
			largest := 0
			for i, ask := range src.asks {
				largest = max(largest, ask)
				if i > 0 && ask > msgReadStep && ask > 2*src.before[i] {
					t.Fatalf("read %d asked for %d bytes after %d arrived", i, ask, src.before[i])
				}
			}
			if largest != c.maxAsk {
				t.Fatalf("largest read %d bytes, want %d", largest, c.maxAsk)
			}
		})
	}
}

// FuzzMessageStream feeds arbitrary bytes to a Receiver's decoder: it ends
// with io.EOF or a coded error, and returns no message over the limit.
func FuzzMessageStream(f *testing.F) {
	f.Add(goldenPayload(f, "DATA of one message"))
	f.Add(goldenPayload(f, "DATA of two messages"))
	f.Add([]byte{0, 0, 4, 1, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &msgRecv{src: &byteSource{r: bytes.NewReader(b)}, limit: 1024}
		for range len(b) + 1 {
			m, err := r.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if c := CodeOf(err); c != CodeDataLoss && c != CodeResourceExhausted {
					t.Fatalf("error %v with code %v", err, c)
				}
				return
			}
			if len(m) > 1024 {
				t.Fatalf("message of %d bytes over the limit", len(m))
			}
		}
		t.Fatal("more messages than bytes")
	})
}
