package store

import (
	"fmt"
	"io"

	"github.com/framegate/framegate/native"
)

// EchoMessage is a message of Echo.Chat, in both directions.
type EchoMessage struct {
	// Seq numbers the messages Chat sends back, from 1; Chat ignores the
	// caller's.
	Seq int64 `json:"seq" native:"1"`
	// Text is the message's text.
	Text string `json:"text" native:"2"`
}

// Echo is the demo's bidi service: Echo.Chat sends back each message it
// receives. It holds nothing; its zero value is ready to use.
type Echo struct{}

// Chat sends back each message it receives, numbered, as it arrives, and
// ends when the caller closes its side (or the call ends). The size of a
// message is bounded by the server's WithMaxMessageSize.
func (Echo) Chat(in *native.Receiver[EchoMessage], out *native.Sender[EchoMessage]) error {
	for seq := int64(1); ; seq++ {
		m, err := in.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		m.Seq = seq
		if err := out.Send(m); err != nil {
			return err
		}
	}
}

// Register registers Echo.Chat on r.
func (e Echo) Register(r Registrar) error {
	if err := r.Register("Echo.Chat", e.Chat); err != nil {
		return fmt.Errorf("store: register Echo.Chat: %w", err)
	}
	return nil
}
