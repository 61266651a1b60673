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
	"io"
	"reflect"
	"sync"
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
