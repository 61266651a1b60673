package native

// The receiving end of a byte stream: a response stream on a client, a
// request stream on a server. The connection's frames reach it in two ways:
//   - its reader, waiting in Read, takes the connection's reading role when
//     it is parked (role.go) and reads its DATA payloads straight from the
//     transport into the caller's buffer, once copied;
//   - any other holder of the role (the reader goroutine, another stream's
//     reader) copies them into the stream's buffer, which the flow-control
//     window bounds: the sender stops when the reader does not read.

import (
	"errors"
	"io"
	"sync"

	"github.com/framegate/framegate/internal/bufpool"
)

// frameConn is what a stream needs of its connection (a Client or a
// serverConn).
type frameConn interface {
	// readOne reads one frame and handles it; the caller holds the
	// reading role. A DATA frame of me is only accounted and left in the
	// role's pend. It reports whether reading is over: the connection
	// ended, and the role went to the reader goroutine.
	readOne(me *streamReader) (over bool)
	// readFailed ends the connection after its holder's read failed, and
	// gives the role to the reader goroutine.
	readFailed(err error)
	// parkRole parks the role after its holder read its own frame.
	parkRole()
	// leaveRole leaves the role for its holder, a stream's consumer
	// returning a payload of its own, to take back (readRole.leave).
	leaveRole()
}

// errStreamClosed is returned by Read after Close.
var errStreamClosed = &Error{code: CodeCanceled, msg: "read from a closed stream"}

// streamReader is the receiving end of a stream. Read and WriteTo may be
// called by one goroutine at a time; Close may be called concurrently with
// them.
type streamReader struct {
	conn   frameConn
	w      *wire
	rr     *readRole
	call   uint32
	inline bool // Read may take the reading role
	// onAbort runs once when the consumer gives up before the end.
	onAbort func(error)

	notify   chan struct{} // capacity 1: something arrived
	closedCh chan struct{}

	mu       sync.Mutex
	bufs     []recvBuf // DATA copied in by other holders of the role
	off      int       // read position in bufs[0]
	buffered int64
	ended    bool  // the sender ended the stream; endErr says how
	endErr   error // io.EOF for a complete stream
	closed   bool  // the consumer gave up
	err      error // sticky: what Read returns once nothing is left
	flow     recvWindow
	// received is the payload bytes of the stream's DATA frames so far.
	received int64
}

func newStreamReader(conn frameConn, w *wire, rr *readRole, call uint32, inline bool, onAbort func(error)) *streamReader {
	return &streamReader{conn: conn, w: w, rr: rr, call: call, inline: inline, onAbort: onAbort,
		notify: make(chan struct{}, 1), closedCh: make(chan struct{})}
}

// accept accounts an n-byte DATA frame against the stream's and the
// connection's windows; the role's holder calls it for each. It reports
// whether the consumer still reads (else the payload is to be discarded).
func (s *streamReader) accept(n uint32) (bool, error) {
	if err := s.w.received(n); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flow.received(n, s.w.mine.streamWindow, s.call); err != nil {
		return false, err
	}
	s.received += int64(n)
	return !s.closed && !s.ended, nil
}

// onData takes an n-byte DATA payload of the stream that the role's holder
// (not this stream's consumer) reads: into the buffer, or discarded if the
// consumer is gone.
func (s *streamReader) onData(fr *framer, n uint32) error {
	live, err := s.accept(n)
	if err != nil {
		return err
	}
	if !live {
		s.w.consumed(int64(n))
		return fr.discard(n)
	}
	return s.buffer(fr, n)
}

// buffer reads n payload bytes into the stream's buffer, a pooled array
// of the payload's size class: the bytes are read straight into it, and it
// goes back to the pool once the consumer took them. Allocating it for the
// length the frame claims is bounded by the flow-control windows (accept
// checked n against them), and reusing it spares the page faults of fresh
// memory, which made a small call that read a stream's DATA frame for its
// consumer wait milliseconds (bench: mux/small-beside-stream). A payload
// under smallRecv gets an array of its own length: a stream idle after a
// few bytes (a watch, a stream of rare messages) held a 16 KiB array for
// them until its consumer came.
func (s *streamReader) buffer(fr *framer, n uint32) error {
	var rb recvBuf
	switch {
	case n >= smallRecv:
		rb.pooled = bufpool.Get(recvClass(n))
		rb.b = (*rb.pooled)[:0]
	case n > 0:
		rb.b = make([]byte, 0, n)
	}
	b, err := fr.appendPayload(rb.b, n)
	rb.b = b
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.w.consumed(int64(len(b)))
		rb.release()
	} else {
		if len(b) > 0 {
			s.bufs = append(s.bufs, rb)
			s.buffered += int64(len(b))
		} else {
			rb.release()
		}
		s.mu.Unlock()
		s.signal()
	}
	return err
}

// recvBuf is bytes of a stream waiting for its consumer, in a pooled array
// (nil: not pooled).
type recvBuf struct {
	b      []byte
	pooled *[]byte
}

// release gives the array back to the pool.
func (rb *recvBuf) release() {
	if rb.pooled != nil {
		bufpool.Put(rb.pooled)
		rb.pooled, rb.b = nil, nil
	}
}

// smallRecv is the smallest payload a stream buffers in a pooled array.
const smallRecv = 4 << 10

// recvClass is the pooled size for a payload of n bytes: a power of two
// from 16 KiB, so that a few pools serve every size.
func recvClass(n uint32) int {
	c := readBufferSize
	for c < int(n) {
		c *= 2
	}
	return c
}

func (s *streamReader) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// end ends the stream: err is io.EOF for a complete one. The consumer reads
// what is buffered first. Any goroutine may call it; it never blocks.
func (s *streamReader) end(err error) {
	s.mu.Lock()
	if !s.ended {
		s.ended, s.endErr = true, err
	}
	s.mu.Unlock()
	s.signal()
}

// Read reads the stream. It returns io.EOF only after the sender's trailer
// said the stream is complete; any other end is an error.
func (s *streamReader) Read(p []byte) (int, error) {
	for {
		n, err, wait := s.fromBuffer(p)
		if !wait {
			return n, err
		}
		var role chan struct{}
		if s.inline {
			role = s.rr.role
		}
		s.rr.waiters.Add(1)
		if s.inline && (s.rr.back() || s.rr.waiting()) {
			s.rr.waiters.Add(-1)
			if n, err, done := s.readInline(p); done {
				return n, err
			}
			continue
		}
		select {
		case <-s.notify:
			s.rr.waiters.Add(-1)
		case <-role:
			s.rr.waiters.Add(-1)
			s.rr.taken()
			if n, err, done := s.readInline(p); done {
				return n, err
			}
		case <-s.closedCh:
			s.rr.waiters.Add(-1)
		}
	}
}

// fromBuffer serves Read from what is buffered, or from the stream's end.
// wait says that there is neither.
func (s *streamReader) fromBuffer(p []byte) (n int, err error, wait bool) {
	s.mu.Lock()
	switch {
	case s.err != nil:
		err = s.err
	case s.buffered > 0:
		for n < len(p) && len(s.bufs) > 0 {
			c := copy(p[n:], s.bufs[0].b[s.off:])
			n += c
			if s.off += c; s.off == len(s.bufs[0].b) {
				s.bufs[0].release()
				s.bufs, s.off = s.bufs[1:], 0
			}
		}
		s.buffered -= int64(n)
	case s.ended:
		s.err = s.endErr
		err = s.err
	case len(p) == 0:
	default:
		wait = true
	}
	var inc int64
	if n > 0 && !s.ended {
		inc = s.flow.consumed(int64(n), s.w.mine.streamWindow)
	}
	s.mu.Unlock()
	if n > 0 {
		s.credit(int64(n), inc)
	}
	return n, err, wait
}

// credit gives n consumed bytes back to the connection's window, and inc to
// the stream's.
func (s *streamReader) credit(n, inc int64) {
	s.w.writeWindows(s.call, inc, s.w.connDue(n))
}

// readInline reads the connection while the consumer holds the reading
// role, until a payload of its own is read into p (done), or something
// arrived for it in the buffer (not done: Read takes it from there).
func (s *streamReader) readInline(p []byte) (int, error, bool) {
	rr, fr := s.rr, s.w.fr
	for {
		if rr.pend == s {
			m, ahead, err := fr.readTail(p, rr.pendN, s.call, !s.w.shared())
			if rr.pendN -= uint32(m); rr.pendN == 0 {
				rr.pend = nil
			}
			if err != nil {
				rr.pend, rr.pendN = nil, 0
				s.end(truncated(err))
				s.conn.readFailed(cutPayload(FrameHeader{Type: TypeData, Call: s.call}, err))
				return 0, truncated(err), true
			}
			if ahead > 0 {
				// The next frame is a DATA frame of this stream whose first
				// bytes follow the tail in p: handle its header now, so
				// that they are this Read's.
				if s.conn.readOne(s) {
					return m, nil, true // the connection is over
				}
				m += int(rr.took)
				rr.took = 0
			}
			return s.took(m)
		}
		s.mu.Lock()
		ready := s.buffered > 0 || s.ended || s.closed
		s.mu.Unlock()
		if ready {
			s.conn.parkRole()
			return 0, nil, false
		}
		if size, ok := rr.headerAhead(s); ok {
			// The header with the payload's first bytes, in one read
			// straight into p: through the framer's buffer, the header's
			// read took a buffer's worth of the payload, copied again.
			_, ahead, err := fr.readTail(p[:min(len(p), size)], 0, s.call, true)
			if err != nil {
				s.conn.readFailed(err)
				return 0, nil, false
			}
			if ahead > 0 {
				if s.conn.readOne(s) {
					return 0, nil, false
				}
				if m := int(rr.took); m > 0 {
					rr.took = 0
					return s.took(m)
				}
			}
			// Not this stream's frame, or no payload of it yet: the
			// header was given back for readOne.
		}
		if s.conn.readOne(s) {
			return 0, nil, false
		}
	}
}

// took ends a Read that put m bytes of the stream into p itself: it gives
// their credit back and leaves the role for the consumer's next Read.
func (s *streamReader) took(m int) (int, error, bool) {
	s.mu.Lock()
	var inc int64
	if !s.ended {
		inc = s.flow.consumed(int64(m), s.w.mine.streamWindow)
	}
	closed := s.closed
	s.mu.Unlock()
	s.credit(int64(m), inc)
	if closed {
		s.conn.parkRole()
		return m, s.sticky(), true
	}
	s.conn.leaveRole()
	return m, nil, true
}

func (s *streamReader) receivedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

func (s *streamReader) sticky() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// WriteTo writes the rest of the stream to w, reading each payload straight
// into one buffer. io.Copy uses it.
func (s *streamReader) WriteTo(w io.Writer) (int64, error) {
	bp := bufpool.Get(min(int(s.w.fr.lim.maxFramePayload), DefaultStreamChunkSize))
	defer bufpool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := s.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				s.Close()
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close ends reading. If the stream has not ended, the sender is told to
// stop (RST) and the rest of the stream is discarded. Close does not block.
func (s *streamReader) Close() error {
	s.abort(errStreamClosed)
	return nil
}

// abort is Close with the reason the consumer gave up (a cancelled
// context); Read returns it from now on.
func (s *streamReader) abort(reason error) {
	if s.inline {
		s.rr.unleave()
	}
	if s.stop(reason) && s.onAbort != nil {
		s.onAbort(reason)
	}
}

// stop ends the stream for its consumer without telling the sender: Read
// returns reason from now on (unless the consumer already saw the end), and
// what is buffered is dropped. It never blocks, so any goroutine may call
// it. It reports whether the consumer had not seen the end yet.
func (s *streamReader) stop(reason error) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	seen := s.err != nil
	if !seen {
		s.err = reason
	}
	dropped := s.buffered
	for i := range s.bufs {
		s.bufs[i].release()
	}
	s.bufs, s.off, s.buffered = nil, 0, 0
	s.mu.Unlock()
	close(s.closedCh)
	s.w.consumed(dropped)
	return !seen
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
