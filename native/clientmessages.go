package native

// A Client's calls whose request is a stream of messages (messages.go).

import (
	"context"
	"io"
	"sync"
)

// bindMessages binds the caller's Sender, and Receiver if any, to a call
// whose request is a stream of messages: Call returns at once, for the
// caller to send; the response is awaited by the Receiver's first Recv, or
// by the Sender's Close when it is not a stream of messages.
func (c *Client) bindMessages(ctx context.Context, call *clientCall, resp any, rc *io.ReadCloser, rr *io.Reader, tx senderBinder, rx receiverBinder, pipe *msgPipe) {
	s := newMsgSend(pipe, c.cfg.maxMessageSize, call.method, CodeInvalidArgument)
	if rx != nil {
		s.close = func() error { pipe.closeWrite(nil); return nil }
		rx.bindReceiver(&msgRecv{limit: c.cfg.maxMessageSize, endpoint: call.method,
			start: func() (msgSource, error) {
				st, err := c.answer(ctx, call, resp, rc, rr)
				if err != nil {
					return nil, err
				}
				return st, nil
			},
			stop: func(reason error) { c.abort(call, reason) }})
	} else {
		var once sync.Once
		var result error
		s.close = func() error {
			once.Do(func() {
				pipe.closeWrite(nil)
				_, result = c.answer(ctx, call, resp, rc, rr)
			})
			return result
		}
	}
	tx.bindSender(s)
}
