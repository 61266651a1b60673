package store

import (
	"fmt"
	"io"
	"strings"

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

// JoinResponse is the answer of Echo.Join.
type JoinResponse struct {
	// Count is how many messages Join received.
	Count int64 `json:"count" native:"1"`
	// Text is their texts, joined with single spaces.
	Text string `json:"text" native:"2"`
}

// maxJoinText bounds the text Echo.Join gathers.
const maxJoinText = 1 << 20

// Echo is the demo's service of streams of messages: Echo.Chat (bidi)
// sends back each message it receives, Echo.Join (a client stream) answers
// them joined. It holds nothing; its zero value is ready to use.
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

// Join receives messages until the caller ends its stream and answers
// how many there were and their texts joined with spaces; past 1 MiB of
// text it fails with ResourceExhausted.
func (Echo) Join(in *native.Receiver[EchoMessage], resp *JoinResponse) error {
	var b strings.Builder
	for {
		m, err := in.Recv()
		if err == io.EOF {
			resp.Text = b.String()
			return nil
		}
		if err != nil {
			return err
		}
		if b.Len()+1+len(m.Text) > maxJoinText {
			return native.Errorf(native.CodeResourceExhausted, "Echo.Join: the texts pass %d bytes", maxJoinText)
		}
		if resp.Count > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(m.Text)
		resp.Count++
	}
}

// Register registers Echo.Chat and Echo.Join on r.
func (e Echo) Register(r Registrar) error {
	if err := r.Register("Echo.Chat", e.Chat); err != nil {
		return fmt.Errorf("store: register Echo.Chat: %w", err)
	}
	if err := r.Register("Echo.Join", e.Join); err != nil {
		return fmt.Errorf("store: register Echo.Join: %w", err)
	}
	return nil
}
