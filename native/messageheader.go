package native

// When the response header of a handler whose response is a stream of
// messages goes out: lazily, as grpc-go and connect-go send a server
// stream's header. It goes at the handler's first Send, at its SendHeader,
// or at its return; a handler that fails before any of the first two
// answers an ordinary error (no stream began), and one that returns nil
// answers an empty stream. So SetHeader works until then, and a caller
// (the gateway's SSE above all) does not take an early refusal for a
// stream that began and then failed.

import "sync"

// msgHeader sends a message-stream response's header once. Remote
// (respondMessages) and local (callMessages) calls give it their send.
type msgHeader struct {
	once sync.Once
	// send writes the header, with the call's header metadata: remotely
	// a HEADER frame, locally the caller's wake-up. Its error is why the
	// stream cannot go on (the Sender's Send returns it too).
	send func() error
	err  error
}

// open sends the header unless it went out already (Send, SendHeader); it
// returns the error of sending it.
func (g *msgHeader) open() error {
	g.once.Do(func() { g.err = g.send() })
	return g.err
}

// finish is the handler's return: it reports whether the header was still
// to send, and makes any later open do nothing. The caller then answers
// the handler's error, or, for nil, sends the header of an empty stream.
func (g *msgHeader) finish() (pending bool) {
	g.once.Do(func() { pending = true })
	return pending
}
