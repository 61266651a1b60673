package native

// The receiving end of a stream of messages (Receiver): it reads the
// length-prefixed messages of a byte stream, ahead of the caller, and
// decodes each.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// msgSource is the byte stream a Receiver reads messages from: a remote
// stream, a local caller's localStream, or a local handler's msgPipe.
type msgSource interface {
	io.Reader
	// abort gives up reading the stream for reason, telling the sender.
	abort(reason error)
}

// msgRecv is the receiving end of a stream of messages.
type msgRecv struct {
	mu     sync.Mutex // src, stop, closed: Close may come from another goroutine
	src    msgSource
	stop   func(error) // aborts the call while start has not returned src
	closed error       // why the consumer stopped: next returns it, not what is read ahead
	// stopped is closed != nil, read without mu: next checks it for every
	// message (the lock there showed at 1-2% of a stream of small messages
	// in a CPU profile).
	stopped atomic.Bool
	limit   int64
	// strict names the endpoint whose requests these messages are: they
	// are decoded strictly, as requests are; "" decodes by messageJSON,
	// which skips unknown members.
	strict   string
	endpoint string
	// start, if set, waits for the call's response and returns its
	// stream (a caller's bidi call, which returned before it arrived).
	start func() (msgSource, error)
	// rb[r0:r1] is read ahead: a Read of the stream takes what it has, up
	// to len(rb) bytes, and small messages are taken from there.
	rb     []byte
	r0, r1 int
	buf    []byte // a large message's bytes
	err    error  // sticky
}

// msgReadStep is the first size of a Receiver's read-ahead buffer
// (messages up to it are read from there: one Read of the stream for many
// small messages), and the first read of a larger message's bytes; each
// further read is as large as what was read so far, so memory grows with
// the bytes that arrived, never with the length a peer claims.
const msgReadStep = 16 << 10

// msgReadAhead is the largest the read-ahead buffer grows to: it doubles
// from msgReadStep each time a Read filled it, that is while the stream
// has more bytes waiting than it holds. A stream of ~100-byte messages then
// reads about 270 messages per Read instead of 70 (a quarter of the
// Reads, each a syscall when the consumer reads the connection itself),
// and the messages/native bench row ran 4% faster (eleven rounds
// alternating the builds; the noise of a shared 2-core machine is larger).
const msgReadAhead = 64 << 10

func (r *msgRecv) recv(m any) error {
	data, err := r.next()
	if err != nil {
		return err
	}
	if r.strict != "" {
		err = decodeRequest(r.strict, data, m)
	} else if err = unmarshalJSON(data, m, true); err != nil {
		err = &Error{code: CodeInternal, msg: fmt.Sprintf("cannot decode a message of %q into %T: %v", r.endpoint, m, err), err: err}
	}
	if err != nil {
		r.fail(err)
	}
	return err
}

// next reads the next message's bytes, valid until the next call.
func (r *msgRecv) next() ([]byte, error) {
	if r.stopped.Load() && r.err == nil {
		r.mu.Lock()
		r.err = r.closed
		r.mu.Unlock()
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.start != nil {
		src, err := r.start()
		r.start = nil
		if err != nil {
			r.err = err
			return nil, err
		}
		r.mu.Lock()
		r.src, r.stop = src, nil
		r.mu.Unlock()
	}
	for r.r1-r.r0 < 4 {
		if err := r.fill(); err != nil {
			if r.r1 == r.r0 && err == io.EOF {
				// A Receiver closed while it read never reports a
				// clean end: the stream may have ended early because of
				// it.
				r.mu.Lock()
				closed := r.closed
				r.mu.Unlock()
				if closed != nil {
					r.err = closed
					return nil, closed
				}
				r.err = io.EOF
				return nil, err
			}
			return nil, r.cut(err, "its length", r.r1-r.r0, 4)
		}
	}
	size := int(binary.BigEndian.Uint32(r.rb[r.r0:]))
	if int64(size) > r.limit {
		err := Errorf(CodeResourceExhausted, "message of %d bytes is over the limit of %d bytes (WithMaxMessageSize)", size, r.limit)
		r.fail(err)
		return nil, err
	}
	r.r0 += 4
	if size <= len(r.rb) {
		for r.r1-r.r0 < size {
			if err := r.fill(); err != nil {
				return nil, r.cut(err, "its bytes", r.r1-r.r0, size)
			}
		}
		m := r.rb[r.r0 : r.r0+size]
		r.r0 += size
		return m, nil
	}
	// A message larger than the read-ahead buffer: what is buffered, then
	// the rest read straight into a buffer that grows with the bytes.
	buf := append(r.buf[:0], r.rb[r.r0:r.r1]...)
	r.r0, r.r1 = 0, 0
	for len(buf) < size {
		step := min(size-len(buf), max(len(buf), msgReadStep))
		buf = slices.Grow(buf, step)
		n, err := io.ReadFull(r.src, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+n]
		if err != nil {
			return nil, r.cut(err, "its bytes", len(buf), size)
		}
	}
	if cap(buf) <= msgPipeSize {
		r.buf = buf
	}
	return buf, nil
}

// fill reads what the stream has, up to the read-ahead buffer's room,
// after the bytes not yet taken.
func (r *msgRecv) fill() error {
	if r.rb == nil {
		r.rb = make([]byte, msgReadStep)
	}
	if r.r0 > 0 {
		r.r1, r.r0 = copy(r.rb, r.rb[r.r0:r.r1]), 0
	}
	n, err := r.src.Read(r.rb[r.r1:])
	if r.r1 += n; r.r1 == len(r.rb) && len(r.rb) < msgReadAhead {
		r.rb = append(r.rb, make([]byte, len(r.rb))...)
	}
	if n > 0 {
		return nil // an error comes again with the next read
	}
	return err
}

// cut is the error of a stream that ended inside a message, after got of
// want bytes of what: a clean end there is a loss of data.
func (r *msgRecv) cut(err error, what string, got, want int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = Errorf(CodeDataLoss, "stream of messages ended inside a message, after %d of the %d bytes of %s", got, want, what)
	}
	r.err = err
	return err
}

// fail ends the stream for err, telling the sender.
func (r *msgRecv) fail(err error) {
	r.err = err
	r.abort(err)
}

// abort is Receiver.Close.
func (r *msgRecv) abort(reason error) {
	r.mu.Lock()
	src, stop := r.src, r.stop
	if r.closed == nil {
		r.closed = reason
		r.stopped.Store(true)
	}
	r.mu.Unlock()
	switch {
	case src != nil:
		src.abort(reason)
	case stop != nil:
		stop(reason)
	}
}
