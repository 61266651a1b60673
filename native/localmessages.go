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
// Call returns at once; the call ends when its response stream does, or,
// for a response that is not a stream of messages, at tx's Close, which
// waits for it.
func (lc *LocalClient) callMessages(l *localCall, tx senderBinder, rx receiverBinder) {
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
		return
	}
	out := newMsgPipe()
	l.inv.out = newMsgSend(out, limit, h.name, CodeInternal)
	hctx := l.hctx
	context.AfterFunc(hctx, func() { out.closeRead(sendStopped(hctx)) })
	l.ci.sent = true // the header goes out as the handler starts, as remotely
	if l.o.header != nil {
		*l.o.header = l.ci.header
	}
	go func() { out.closeWrite(run()) }()
	ctx := l.ctx
	st := &localStream{src: out, orig: out, cancel: l.cancel, ci: l.ci, trailer: l.o.trailer, end: l.end}
	st.watch(ctx)
	rx.bindReceiver(&msgRecv{src: st, limit: limit, endpoint: h.name})
	if send != nil {
		send.close = func() error { in.closeWrite(nil); return nil }
		tx.bindSender(send)
	}
}

// handlerPipe is a local handler's request stream of messages: a handler
// that stops reading (Receiver.Close) ends the caller's Send with io.EOF,
// as a remote caller's ends once the handler answered.
type handlerPipe struct{ *msgPipe }

func (p handlerPipe) abort(error) { p.closeRead(io.EOF) }
