package native

// LocalClient calls of endpoints with a stream of messages: the handler runs
// on a goroutine of its own, and the messages go through msgPipes, encoded
// as on the wire, so a handler sees exactly what it would see remotely and
// the limits are the same.

import (
	"context"
	"io"
	"sync"
)

// callMessages starts l's handler, whose request or response (or both) is a
// stream of messages, and binds the caller's Sender tx and Receiver rx.
// Call returns at once when the request is a stream of messages (the
// Receiver's first Recv waits for the response header), else once the
// handler sent its header or returned before it (then with its error). The
// call ends when its response stream does, or, for a response that is not
// a stream of messages, at tx's Close, which waits for it.
func (lc *LocalClient) callMessages(l *localCall, tx senderBinder, rx receiverBinder) error {
	h, limit := l.h, lc.s.cfg.maxMessageSize
	var in *msgPipe
	var send *msgSend
	if h.reqRecv != nil {
		in = newMsgPipe()
		l.inv.in = &msgRecv{src: handlerPipe{in}, limit: limit, strict: h.name, endpoint: h.name}
		send = newMsgSend(in, limit, h.name, CodeInvalidArgument)
		hctx := l.hctx
		context.AfterFunc(hctx, func() {
			// The call ended: the caller's Send stops, and a handler
			// still reading a stream the caller did not complete gets
			// why, never a clean end.
			in.closeRead(sendEnded(l.ctx))
			in.closeWrite(sendStopped(hctx))
		})
	}
	run := func() error {
		err := h.run(l.hctx, &l.inv, lc.s.cfg.logger, "local")
		if in != nil {
			in.closeRead(sendEnded(l.ctx)) // the caller's Send: io.EOF
		}
		return err
	}
	if h.respSend == nil {
		done := make(chan error, 1)
		go func() { done <- run() }()
		var once sync.Once
		var result error
		send.close = func() error {
			once.Do(func() {
				in.closeWrite(nil)
				var st *localStream
				st, result = l.answer(<-done)
				if st == nil && l.end != nil {
					l.end(result)
				}
			})
			return result
		}
		tx.bindSender(send)
		return nil
	}
	out := newMsgPipe()
	l.inv.out = newMsgSend(out, limit, h.name, CodeInternal)
	hctx := l.hctx
	context.AfterFunc(hctx, func() { out.closeRead(sendStopped(hctx)) })
	// The header goes out lazily, as remotely (messageheader.go): ready
	// closes when it does, or when the handler returned before it; early
	// is then the handler's error (nil: an empty stream).
	ready := make(chan struct{})
	var early error
	hdr := &msgHeader{send: func() error {
		l.ci.sent = true
		close(ready)
		return nil
	}}
	l.inv.out.header, l.ci.msgHeader = hdr, hdr
	go func() {
		err := run()
		if hdr.finish() {
			early = err
			if err == nil {
				l.ci.sent = true
			}
			close(ready)
		}
		out.closeWrite(err)
	}()
	ctx := l.ctx
	st := &localStream{src: out, orig: out, cancel: l.cancel, ci: l.ci, trailer: l.o.trailer, end: l.end}
	st.watch(ctx)
	// answer waits for the header, and returns the stream to receive or
	// the call's error.
	answer := func() (msgSource, error) {
		select {
		case <-ready:
		case <-ctx.Done():
			err := contextError(ctx)
			st.abort(err)
			return nil, err
		}
		if early != nil {
			_, err := l.answer(early)
			st.finish(err)
			return nil, err
		}
		if l.o.header != nil {
			*l.o.header = l.ci.header
		}
		return st, nil
	}
	if send == nil {
		src, err := answer()
		if err != nil {
			return err
		}
		rx.bindReceiver(&msgRecv{src: src, limit: limit, endpoint: h.name})
		return nil
	}
	rx.bindReceiver(&msgRecv{limit: limit, endpoint: h.name, start: answer, stop: st.abort})
	send.close = func() error { in.closeWrite(nil); return nil }
	tx.bindSender(send)
	return nil
}

// handlerPipe is a local handler's request stream of messages: a handler
// that stops reading (Receiver.Close) ends the caller's Send with io.EOF,
// as a remote caller's ends once the handler answered.
type handlerPipe struct{ *msgPipe }

func (p handlerPipe) abort(error) { p.closeRead(io.EOF) }
