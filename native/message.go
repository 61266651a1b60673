package native

// The message layer. A message (a request or a response) is a HEADER frame,
// then the body parts the header announces: a JSON body as BODY frames (the
// last one flagged END), a byte stream as DATA frames ended by a TRAILER.
// Either side may end its message early with RST.
//
// Reading: each connection has one reader goroutine that owns the read side.
// It reads HEADER, BODY and TRAILER payloads itself. A DATA frame it hands
// to the stream's consumer (streamReader): the consumer reads the payload
// straight from the connection into its own buffer, and then reads the next
// frame header itself: the stream's next DATA frame it keeps reading, any
// other frame (TRAILER, RST, PING, CLOSE, ...) it hands back, with the read
// side, to the reader goroutine. So a stream's bytes are copied once, from
// the socket into the caller's buffer, and one goroutine reads a stream's
// frames back to back: handing each frame over and back cost two goroutine
// wakeups per frame, half of the CPU per streamed GiB on a unix socket.
//
// Writing: one mutex per connection serialises writes; every frame goes out
// in one Write. A stream is cut into DATA frames in pooled buffers that keep
// room for the frame header in front of the payload.

import (
	"errors"
	"io"
	"sync"

	"github.com/framegate/framegate/internal/bufpool"
)

// streamEvent is what the reader goroutine hands a stream's consumer.
type streamEvent struct {
	n   uint32 // DATA payload length; the consumer reads it from the framer
	end bool   // the stream ended; err says how
	err error  // io.EOF for a complete stream
}

// release is the consumer's answer to a DATA event: the payload has been
// read up to left unread bytes (to be discarded), or the connection failed
// while reading it.
type release struct {
	left uint32
	err  error
}

// errStreamClosed is returned by Read after Close.
var errStreamClosed = &Error{code: CodeCanceled, msg: "read from a closed stream"}

// streamReader is the receiving end of a stream. Read and WriteTo may be
// called by one goroutine at a time; Close may be called concurrently with
// them.
type streamReader struct {
	fr       *framer
	call     uint32           // the call whose DATA frames this stream reads
	events   chan streamEvent // capacity 1
	releases chan release     // capacity 1
	closedCh chan struct{}
	// onAbort runs once when the consumer gives up before the end.
	onAbort func(error)

	// consumer-owned while inRead, else guarded by mu.
	holding   bool
	remaining uint32
	// received is the payload bytes of the stream's DATA frames so far,
	// counted by whichever goroutine holds the read side (the reader
	// goroutine's deliverData, the consumer's nextFrame); the hand-offs
	// order the counts.
	received int64

	mu     sync.Mutex
	inRead bool
	closed bool
	err    error // sticky: io.EOF or the stream's error
}

func newStreamReader(fr *framer, call uint32, onAbort func(error)) *streamReader {
	return &streamReader{
		fr:       fr,
		call:     call,
		events:   make(chan streamEvent, 1),
		releases: make(chan release, 1),
		closedCh: make(chan struct{}),
		onAbort:  onAbort,
	}
}

// deliverData is called by the reader goroutine for each DATA frame of the
// stream: the consumer reads the payload, then the framer comes back. It
// returns an error only if the connection failed.
func (s *streamReader) deliverData(n uint32) error {
	s.received += int64(n)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.fr.discard(n)
	}
	s.events <- streamEvent{n: n}
	s.mu.Unlock()
	r := <-s.releases
	if r.err != nil {
		return r.err
	}
	if r.left > 0 {
		return s.fr.discard(r.left)
	}
	return nil
}

// end is called by the reader goroutine when the stream ends: err is io.EOF
// for a complete stream.
func (s *streamReader) end(err error) {
	s.events <- streamEvent{end: true, err: err}
}

// Read reads the stream. It returns io.EOF only after the sender's trailer
// said the stream is complete; any other end is an error.
func (s *streamReader) Read(p []byte) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	n, err := s.read(p)
	return n, s.leave(err)
}

// WriteTo writes the rest of the stream to w, reading each payload straight
// into one buffer. io.Copy uses it.
func (s *streamReader) WriteTo(w io.Writer) (int64, error) {
	if err := s.enter(); err != nil {
		if err == io.EOF {
			err = nil
		}
		return 0, err
	}
	bp := bufpool.Get(min(int(s.fr.lim.maxFramePayload), DefaultStreamChunkSize))
	defer bufpool.Put(bp)
	buf := *bp
	var total int64
	var err error
	for {
		var n int
		n, err = s.read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				s.leave(nil)
				s.Close()
				return total, werr
			}
		}
		if err != nil {
			break
		}
	}
	err = s.leave(err)
	if err == io.EOF {
		err = nil
	}
	return total, err
}

func (s *streamReader) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return errStreamClosed
	}
	s.inRead = true
	return nil
}

func (s *streamReader) leave(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inRead = false
	if err != nil && s.err == nil {
		s.err = err
	}
	if s.closed {
		s.dropLocked()
	}
	if err != nil {
		return s.err
	}
	return nil
}

// read is the consumer's side of the handoff. Once handed a DATA frame, the
// consumer keeps the read side between frames: the next read reads the next
// frame header itself, and goes on with it if it is the stream's next DATA
// frame. Anything else goes back to the reader goroutine (nextFrame). One
// goroutine thus reads a stream's frames back to back, without two
// goroutine handoffs per frame.
func (s *streamReader) read(p []byte) (int, error) {
	for {
		for s.holding && s.remaining == 0 && len(p) > 0 {
			if err := s.nextFrame(); err != nil {
				return 0, err
			}
		}
		if s.holding {
			break
		}
		select {
		case ev := <-s.events:
			if ev.end {
				return 0, ev.err
			}
			s.holding, s.remaining = true, ev.n
		case <-s.closedCh:
			return 0, errStreamClosed
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if uint32(len(p)) > s.remaining {
		p = p[:s.remaining]
	}
	n, err := s.fr.r.Read(p)
	s.remaining -= uint32(n)
	if err != nil {
		s.releaseFrame(release{err: err})
		return n, truncated(err)
	}
	return n, nil
}

// nextFrame reads the frame header after a DATA payload the consumer has
// read to its end. The stream's next DATA frame is kept (holding goes on);
// any other header, or a failure to read one, is left in the framer for the
// reader goroutine, which gets the read side back.
func (s *streamReader) nextFrame() error {
	h, err := s.fr.readHeader()
	if err == nil && h.Type == TypeData && h.Call == s.call {
		s.remaining = h.Length
		s.received += int64(h.Length)
		return nil
	}
	s.fr.pending, s.fr.pendingHdr, s.fr.pendingErr = true, h, err
	s.releaseFrame(release{})
	return nil
}

func (s *streamReader) releaseFrame(r release) {
	s.holding, s.remaining = false, 0
	s.releases <- r
}

// dropLocked gives back a frame the closed consumer will never read.
func (s *streamReader) dropLocked() {
	if s.holding {
		s.releaseFrame(release{left: s.remaining})
		return
	}
	select {
	case ev := <-s.events:
		if !ev.end {
			s.releases <- release{left: ev.n}
		}
	default:
	}
}

// Close ends reading. If the stream has not ended, the sender is told to
// stop (RST) and the rest of the stream is discarded. Close does not block;
// a Read blocked in the connection waiting for the next frame returns when
// the sender's answer to the RST arrives (or the client gives the
// connection up, WithAbortTimeout).
func (s *streamReader) Close() error {
	s.abort(errStreamClosed)
	return nil
}

// abort is Close with the reason the consumer gave up (a cancelled
// context); Read returns it from now on.
func (s *streamReader) abort(reason error) {
	if s.stop(reason) && s.onAbort != nil {
		s.onAbort(reason)
	}
}

// stop ends the stream for its consumer without telling the sender: Read
// returns reason from now on (unless the consumer already saw the end) and
// any frame handed over is given back to be discarded. Unlike end it never
// blocks, so any goroutine may call it. It reports whether the consumer had
// not seen the end yet.
func (s *streamReader) stop(reason error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	ended := s.err != nil
	if !ended {
		s.err = reason
	}
	close(s.closedCh)
	if !s.inRead {
		s.dropLocked()
	}
	return !ended
}

// truncated wraps a connection failure in the middle of a stream.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = ErrTruncated
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{code: CodeUnavailable, msg: "stream broken: " + err.Error(), err: err}
}
