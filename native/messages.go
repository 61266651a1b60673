package native

// Streams of messages: the Sender and Receiver a handler and a caller hold,
// and how their messages become a stream's bytes. A stream of messages is a
// byte stream (DATA frames, their flow control, a TRAILER or an RST at its
// end, stream.go and wire.go) whose bytes are messages, each a 4-byte
// length and then that many bytes of JSON (PROTOCOL.md). So every rule of
// byte streams holds for them as it is, and one implementation serves both.
//
// Why Send and Recv methods rather than iterators (iter.Seq2): a bidi
// handler or caller interleaves sending and receiving in one goroutine
// (ping-pong), which a pull method does simply and a range loop does not;
// Recv's io.EOF mirrors Read's (the sender said the stream is complete);
// and the names are those grpc-go and connect-go users already know.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// Sender sends a stream of messages of type T. A handler takes it as its
// last parameter (a server stream or bidi); a caller passes a *Sender as
// Call's request (a client stream or bidi). Send may be called by one
// goroutine at a time.
type Sender[T any] struct{ s *msgSend }

// Send encodes m as JSON and sends it. It blocks while the receiver is a
// flow-control window behind (a slow consumer slows its sender down, and
// memory stays bounded). A message over the sending side's
// WithMaxMessageSize fails with CodeResourceExhausted, and the stream goes
// on. In a handler, Send fails with the reason once the caller gave up
// (the call's context is done). In a caller, Send returns io.EOF once the
// call has ended on the server's side: the call's outcome is then the
// error of the Receiver's Recv, or of Close for a JSON response.
func (tx *Sender[T]) Send(m *T) error {
	if tx.s == nil {
		return errUnbound
	}
	return tx.s.send(m)
}

// Close ends a caller's stream of messages: the handler's Recv returns
// io.EOF once it has read the messages before it. When the call's response
// is a JSON value (a client stream), Close then waits for it, decodes it
// into Call's resp and returns the call's error. A caller's call is in
// progress until it closes its Sender (or cancels the call's ctx), as it is
// until it reads a Receiver to its end or closes it. A handler's Sender
// ends when the handler returns; Close does nothing there.
func (tx *Sender[T]) Close() error {
	if tx.s == nil {
		return errUnbound
	}
	if tx.s.close == nil {
		return nil
	}
	return tx.s.close()
}

func (tx *Sender[T]) bindSender(s *msgSend)  { tx.s = s }
func (*Sender[T]) messageType() reflect.Type { return reflect.TypeFor[T]() }

// Receiver receives a stream of messages of type T. A handler takes it as
// its request stream (a client stream or bidi); a caller passes a
// *Receiver as Call's resp (a server stream or bidi). Recv may be called by
// one goroutine at a time; Close at any time.
type Receiver[T any] struct{ r *msgRecv }

// Recv returns the next message. It returns io.EOF only after the sender
// said the stream is complete (a handler that returned nil, a caller that
// closed its Sender); a stream that ended any other way (an error of the
// handler, an aborted call, a broken connection) returns that error, with
// its code, never io.EOF. A message over the receiving side's
// WithMaxMessageSize fails with CodeResourceExhausted naming the limit, and
// ends the stream.
func (rx *Receiver[T]) Recv() (*T, error) {
	if rx.r == nil {
		return nil, errUnbound
	}
	m := new(T)
	if err := rx.r.recv(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Close stops receiving. A caller's Close aborts the call (the server is
// told with RST and the handler's context is cancelled), as closing a
// response stream does. Close does not block.
func (rx *Receiver[T]) Close() error {
	if rx.r != nil {
		rx.r.abort(errStreamClosed)
	}
	return nil
}

func (rx *Receiver[T]) bindReceiver(r *msgRecv) { rx.r = r }
func (*Receiver[T]) messageType() reflect.Type  { return reflect.TypeFor[T]() }

// errUnbound is the error of a Sender or Receiver that no call bound.
var errUnbound = &Error{code: CodeFailedPrecondition, msg: "Sender or Receiver used before a call bound it (pass a pointer to it to Call)"}

// senderBinder and receiverBinder are *Sender[T] and *Receiver[T] for any
// T: how Register and Call recognise them.
type senderBinder interface {
	bindSender(*msgSend)
	messageType() reflect.Type
}

type receiverBinder interface {
	bindReceiver(*msgRecv)
	messageType() reflect.Type
}

var (
	typeSenderBinder   = reflect.TypeFor[senderBinder]()
	typeReceiverBinder = reflect.TypeFor[receiverBinder]()
)

// msgSend is the sending end of a stream of messages: it encodes them into
// a msgPipe, which the stream's sender reads.
type msgSend struct {
	p        *msgPipe
	limit    int64
	endpoint string
	encCode  Code // the code of a message that cannot be encoded
	close    func() error
	header   *msgHeader // a handler's response header, sent before its first message

	buf     []byte // a message the plain codec wrote (plainencode.go)
	enc     *json.Encoder
	scratch bytes.Buffer // a message enc wrote
}

func newMsgSend(p *msgPipe, limit int64, endpoint string, encCode Code) *msgSend {
	s := &msgSend{p: p, limit: limit, endpoint: endpoint, encCode: encCode}
	s.enc = json.NewEncoder(&s.scratch)
	return s
}

func (s *msgSend) send(m any) error {
	data, ok := appendPlainJSON(s.buf[:0], m)
	if ok {
		s.buf = data
	} else {
		s.scratch.Reset()
		if err := s.enc.Encode(m); err != nil {
			return Errorf(s.encCode, "cannot encode a message of %q: %v", s.endpoint, err)
		}
		data = s.scratch.Bytes()
		data = data[:len(data)-1] // Encode's newline
	}
	if int64(len(data)) > s.limit {
		return Errorf(CodeResourceExhausted, "message of %d bytes is over the limit of %d bytes (WithMaxMessageSize)", len(data), s.limit)
	}
	if s.header != nil {
		if err := s.header.open(); err != nil {
			return err
		}
	}
	return s.p.write(data)
}

// msgPipe carries encoded messages, each behind its 4-byte length, from a
// Sender to the stream's sender (sendStream, or a local caller) that reads
// them. It holds at most msgPipeSize bytes, or one larger message: a Send
// beyond it waits until the reader took them, so a sender that is blocked
// on flow control blocks Send in turn. A reader takes all that is there at
// once, so messages sent while a frame is being written share the next one.
type msgPipe struct {
	mu    sync.Mutex
	more  sync.Cond // buf grew, or the pipe closed
	room  sync.Cond // buf shrank, or the pipe closed
	buf   []byte
	off   int   // read position in buf
	wdone bool  // the sender ended the stream: werr (nil: complete)
	werr  error //
	rerr  error // the reader stopped: Send returns it
}

// msgPipeSize bounds the bytes a pipe holds for its reader.
const msgPipeSize = 64 << 10

func newMsgPipe() *msgPipe {
	p := &msgPipe{}
	p.more.L, p.room.L = &p.mu, &p.mu
	return p
}

func (p *msgPipe) write(data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.rerr != nil:
			return p.rerr
		case p.wdone:
			return errSendClosed
		}
		pending := len(p.buf) - p.off
		if pending == 0 || pending+4+len(data) <= msgPipeSize {
			break
		}
		p.room.Wait()
	}
	if p.off > 0 && len(p.buf)+4+len(data) > cap(p.buf) {
		p.buf, p.off = p.buf[:copy(p.buf, p.buf[p.off:])], 0
	}
	p.buf = appendMsg(p.buf, data)
	p.more.Signal()
	return nil
}

// appendMsg appends one message of a stream of messages as it goes on the
// wire: its length (4 bytes, big endian), then its JSON.
func appendMsg(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

var errSendClosed = &Error{code: CodeFailedPrecondition, msg: "send on a closed stream of messages"}

// Read reads what the Sender wrote. After the Sender's end it returns
// io.EOF, or the error the stream ended with, once the bytes before it
// were read.
func (p *msgPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.off == len(p.buf) {
		switch {
		case p.wdone && p.werr != nil:
			return 0, p.werr
		case p.wdone:
			return 0, io.EOF
		case p.rerr != nil:
			return 0, p.rerr
		}
		p.more.Wait()
	}
	n := copy(b, p.buf[p.off:])
	if p.off += n; p.off == len(p.buf) {
		p.buf, p.off = p.buf[:0], 0
		if cap(p.buf) > 2*msgPipeSize {
			p.buf = nil // a large message passed: do not keep its room
		}
	}
	p.room.Signal()
	return n, nil
}

// closeWrite ends the stream for its reader: err nil for a complete one.
func (p *msgPipe) closeWrite(err error) {
	p.mu.Lock()
	if !p.wdone {
		p.wdone, p.werr = true, err
	}
	p.mu.Unlock()
	p.more.Broadcast()
	p.room.Broadcast()
}

// closeRead stops the pipe's reading: Send returns err from now on.
func (p *msgPipe) closeRead(err error) {
	p.mu.Lock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.mu.Unlock()
	p.more.Broadcast()
	p.room.Broadcast()
}

// abort is closeRead for a local caller's Receiver (msgSource).
func (p *msgPipe) abort(reason error) { p.closeRead(reason) }

// Close is closeRead for a handler's stream that ended (closeStream).
func (p *msgPipe) Close() error {
	p.closeRead(errStreamClosed)
	return nil
}

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

// sendStopped is why a handler's Send fails once its call's ctx is done:
// the client's reason when it aborted the call, else ctx's error.
func sendStopped(ctx context.Context) error {
	var e *Error
	if errors.As(context.Cause(ctx), &e) {
		return e
	}
	return contextError(ctx)
}

// sendFailed is why Send fails once the stream's sender stopped with err.
func sendFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return sendStopped(ctx)
	}
	return truncated(err)
}

// sendEnded is why a caller's Send fails once its request stream ended:
// ctx's error if the caller gave up, else io.EOF (the call's outcome comes
// from Recv or Close).
func sendEnded(ctx context.Context) error {
	if ctx.Err() != nil {
		return contextError(ctx)
	}
	return io.EOF
}
