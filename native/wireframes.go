package native

// The frames of the connection itself, which a client and a server handle
// alike: PING (answered), WINDOW_UPDATE (credit for the connection or for
// the half this side sends on a call), RST of call 0 (the peer tears the
// connection down) and CLOSE_ACK (the peer took this side's CLOSE: the
// connection ends cleanly). CLOSE itself means something else to each: a
// client's asks the server to end an idle connection, a server's says it is
// going away and which calls it took.

import (
	"encoding/binary"
	"fmt"
)

// wireOwner is what onConnFrame needs of a client or server connection.
type wireOwner interface {
	// sendHalf returns the half this side sends on call (a client's
	// request, a server's response), or nil if the call is not in
	// progress, and the highest call id made so far.
	sendHalf(call uint32) (hf *half, last uint32)
	// sentClose reports whether this side sent CLOSE.
	sentClose() bool
}

// onConnFrame handles h if it is one of the connection's own frames, and
// reports whether it was; payload reads h's payload.
func (w *wire) onConnFrame(h FrameHeader, payload func() ([]byte, error), owner wireOwner, peer string) (bool, error) {
	switch {
	case h.Type == TypeCloseAck:
		if !owner.sentClose() {
			return true, protocolErrorf("CLOSE_ACK without a CLOSE")
		}
		return true, errCleanClose
	case h.Type == TypePing, h.Type == TypeWindow, h.Type == TypeRST && h.Call == 0:
	default:
		return false, nil
	}
	p, err := payload()
	if err != nil {
		return true, err
	}
	switch h.Type {
	case TypePing:
		// An answer to ours needs nothing more: its bytes kept the
		// heartbeat alive.
		if h.Flags&FlagAck == 0 {
			w.writeControl(FrameHeader{Type: TypePing, Flags: FlagAck}, p)
		}
		return true, nil
	case TypeWindow:
		inc := binary.BigEndian.Uint32(p)
		if h.Call == 0 {
			return true, w.onWindow(nil, 0, inc)
		}
		hf, last := owner.sendHalf(h.Call)
		if hf == nil {
			return true, staleFrame(h, last)
		}
		return true, w.onWindow(hf, h.Call, inc)
	default:
		code, msg := parseRST(p)
		return true, &Error{code: CodeUnavailable, msg: fmt.Sprintf("connection reset by the %s: %v: %s", peer, code, msg)}
	}
}

// staleFrame is the error of a frame for a call not in progress: none if
// the call ended meanwhile (frames cross), a protocol error if it was never
// made (last is the highest call id made).
func staleFrame(h FrameHeader, last uint32) error {
	if h.Call > last {
		return protocolErrorf("%v for call %d, which was never made", h.Type, h.Call)
	}
	return nil
}

// ackClose answers the peer's CLOSE with CLOSE_ACK: this side has no call
// in progress and takes none.
func (w *wire) ackClose() error {
	return w.writeFrame(nil, FrameHeader{Type: TypeCloseAck}, nil, false)
}
