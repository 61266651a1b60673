package native

// This file owns the wire layer: the connection preface, the fixed frame
// header and the framer that reads and writes frames. PROTOCOL.md describes
// the same in prose; frame_test.go pins it with golden bytes.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
)

//go:generate go tool -modfile=../tools/go.mod stringer -type=FrameType -linecomment -output=frametype_string.go

// ProtocolVersion is the version of the wire protocol this package speaks. It
// is sent in the connection preface; peers with different versions refuse
// each other with an error naming both.
const ProtocolVersion = 2

// Sizes and limits of the wire format.
const (
	// FrameHeaderLen is the size of every frame header.
	FrameHeaderLen = 12
	// PrefaceLen is the size of the connection preface each side sends.
	PrefaceLen = 24
	// DefaultMaxFramePayload is the default largest frame payload a peer
	// accepts (WithMaxFramePayload).
	DefaultMaxFramePayload = 4 << 20
	// DefaultMaxHeaderSize is the default largest HEADER payload a peer
	// accepts (WithMaxHeaderSize).
	DefaultMaxHeaderSize = 64 << 10
	// MinMaxFramePayload is the smallest frame payload limit a peer may
	// announce: every peer must accept frames this large.
	MinMaxFramePayload = 16 << 10
	// MaxMaxFramePayload is the largest frame payload limit a peer may
	// announce.
	MaxMaxFramePayload = 1 << 30
	// MaxWindow is the largest flow-control window, of a stream or a
	// connection (2^31-1, as HTTP/2's).
	MaxWindow = 1<<31 - 1
)

// prefaceMagic opens the preface. The CR LF catches line-ending translation
// and makes a plain-text peer's mistake visible.
const prefaceMagic = "FGRPC\r\n"

// FrameType is the type of a frame, the first byte of its header.
type FrameType uint8

// The frame types. PROTOCOL.md says where each may appear.
const (
	TypeHeader   FrameType = 0x1 // HEADER
	TypeBody     FrameType = 0x2 // BODY
	TypeData     FrameType = 0x3 // DATA
	TypeTrailer  FrameType = 0x4 // TRAILER
	TypeRST      FrameType = 0x5 // RST
	TypeClose    FrameType = 0x6 // CLOSE
	TypeCloseAck FrameType = 0x7 // CLOSE_ACK
	TypePing     FrameType = 0x8 // PING
	TypeWindow   FrameType = 0x9 // WINDOW_UPDATE
)

const maxFrameType = TypeWindow

// Flags are the frame header's flag bits; their meaning depends on the type.
type Flags uint8

const (
	// FlagEnd on a BODY frame marks the last frame of the JSON body.
	FlagEnd Flags = 0x1
	// FlagAck on a PING frame marks the reply.
	FlagAck Flags = 0x1
)

// allowedFlags lists the flag bits each frame type may carry; any other bit
// is a protocol error.
var allowedFlags = [maxFrameType + 1]Flags{
	TypeBody: FlagEnd,
	TypePing: FlagAck,
}

// FrameHeader is the fixed 12-byte header in front of every frame:
//
//	byte 0      type
//	byte 1      flags
//	bytes 2-3   reserved, zero
//	bytes 4-7   payload length, big endian
//	bytes 8-11  call id, big endian (0 for connection-level frames)
type FrameHeader struct {
	Type   FrameType
	Flags  Flags
	Length uint32
	Call   uint32
}

// String is for debugging: "DATA call=3 len=1048576 flags=0x0".
func (h FrameHeader) String() string {
	return fmt.Sprintf("%v call=%d len=%d flags=%#x", h.Type, h.Call, h.Length, uint8(h.Flags))
}

// putFrameHeader writes h into b[:FrameHeaderLen].
func putFrameHeader(b []byte, h FrameHeader) {
	_ = b[FrameHeaderLen-1]
	b[0] = byte(h.Type)
	b[1] = byte(h.Flags)
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint32(b[4:], h.Length)
	binary.BigEndian.PutUint32(b[8:], h.Call)
}

// parseFrameHeader decodes and validates a frame header against the
// receiver's limits. Every error is a protocol error naming what was wrong.
func parseFrameHeader(b []byte, lim *limits) (FrameHeader, error) {
	h := FrameHeader{
		Type:   FrameType(b[0]),
		Flags:  Flags(b[1]),
		Length: binary.BigEndian.Uint32(b[4:]),
		Call:   binary.BigEndian.Uint32(b[8:]),
	}
	if h.Type == 0 || h.Type > maxFrameType {
		return h, protocolErrorf("unknown frame type %#x", uint8(h.Type))
	}
	if b[2] != 0 || b[3] != 0 {
		return h, protocolErrorf("%v frame has non-zero reserved bytes %#x %#x", h.Type, b[2], b[3])
	}
	if bad := h.Flags &^ allowedFlags[h.Type]; bad != 0 {
		return h, protocolErrorf("%v frame has unknown flags %#x", h.Type, uint8(bad))
	}
	if h.Length > lim.maxFramePayload {
		return h, protocolErrorf("%v frame payload of %d bytes exceeds the limit of %d", h.Type, h.Length, lim.maxFramePayload)
	}
	switch h.Type {
	case TypeHeader:
		if h.Length > lim.maxHeaderSize {
			return h, protocolErrorf("HEADER of %d bytes exceeds the limit of %d", h.Length, lim.maxHeaderSize)
		}
	case TypeTrailer:
		if h.Length > lim.maxHeaderSize {
			return h, protocolErrorf("TRAILER of %d bytes exceeds the limit of %d", h.Length, lim.maxHeaderSize)
		}
	case TypeRST:
		if h.Length < 4 || h.Length > 4+maxRSTMessage {
			return h, protocolErrorf("RST payload of %d bytes, want 4 to %d", h.Length, 4+maxRSTMessage)
		}
	case TypeClose:
		if h.Length != 4 {
			return h, protocolErrorf("CLOSE payload of %d bytes, want 4", h.Length)
		}
	case TypeCloseAck:
		if h.Length != 0 {
			return h, protocolErrorf("CLOSE_ACK payload of %d bytes, want 0", h.Length)
		}
	case TypePing:
		if h.Length != 8 {
			return h, protocolErrorf("PING payload of %d bytes, want 8", h.Length)
		}
	case TypeWindow:
		if h.Length != 4 {
			return h, protocolErrorf("WINDOW_UPDATE payload of %d bytes, want 4", h.Length)
		}
	}
	switch h.Type {
	case TypeClose, TypeCloseAck, TypePing:
		if h.Call != 0 {
			return h, protocolErrorf("%v frame carries call id %d, want 0", h.Type, h.Call)
		}
	case TypeRST, TypeWindow: // call 0: the connection
	default:
		if h.Call == 0 {
			return h, protocolErrorf("%v frame carries call id 0", h.Type)
		}
	}
	return h, nil
}

// maxRSTMessage bounds the message an RST frame carries.
const maxRSTMessage = 4 << 10

// limits are the receiving side's limits, fixed per connection.
type limits struct {
	maxFramePayload uint32
	maxHeaderSize   uint32
	maxBodySize     int64
}

// settings are what a side announces of itself in its preface.
type settings struct {
	maxFramePayload uint32 // the largest frame payload it accepts
	maxCalls        uint32 // the most calls it accepts at once
	streamWindow    uint32 // the DATA bytes of one stream it takes ahead of its reader
	connWindow      uint32 // the DATA bytes of all streams it takes ahead of their readers
}

// appendPreface appends the preface: the magic, the version, then the
// sender's settings.
func appendPreface(b []byte, version uint8, st settings) []byte {
	b = append(b, prefaceMagic...)
	b = append(b, version)
	b = binary.BigEndian.AppendUint32(b, st.maxFramePayload)
	b = binary.BigEndian.AppendUint32(b, st.maxCalls)
	b = binary.BigEndian.AppendUint32(b, st.streamWindow)
	return binary.BigEndian.AppendUint32(b, st.connWindow)
}

// prefaceHead is the part of a preface every version has: the magic, the
// version and the frame payload limit (version 1's whole preface). A
// receiver reads it first, so that a peer of another version, whose preface
// may be shorter or longer, is told apart before the rest.
const prefaceHead = len(prefaceMagic) + 1 + 4

// parsePrefaceHead checks the magic and the version.
func parsePrefaceHead(b []byte) error {
	if string(b[:len(prefaceMagic)]) != prefaceMagic {
		return protocolErrorf("bad connection preface %q: want magic %q (is the peer speaking the native protocol?)", b[:prefaceHead], prefaceMagic)
	}
	if v := b[len(prefaceMagic)]; v != ProtocolVersion {
		return &Error{code: CodeUnimplemented, msg: fmt.Sprintf("protocol version mismatch: peer speaks version %d, this side speaks version %d", v, ProtocolVersion)}
	}
	return nil
}

// parsePreface checks a peer's whole preface and returns its settings.
func parsePreface(b []byte) (settings, error) {
	if err := parsePrefaceHead(b); err != nil {
		return settings{}, err
	}
	p := b[len(prefaceMagic)+1:]
	st := settings{
		maxFramePayload: binary.BigEndian.Uint32(p),
		maxCalls:        binary.BigEndian.Uint32(p[4:]),
		streamWindow:    binary.BigEndian.Uint32(p[8:]),
		connWindow:      binary.BigEndian.Uint32(p[12:]),
	}
	switch {
	case st.maxFramePayload < MinMaxFramePayload || st.maxFramePayload > MaxMaxFramePayload:
		return st, protocolErrorf("peer announced a frame payload limit of %d bytes, want %d to %d", st.maxFramePayload, MinMaxFramePayload, MaxMaxFramePayload)
	case st.maxCalls == 0:
		return st, protocolErrorf("peer announced a limit of 0 concurrent calls, want at least 1")
	case st.streamWindow < MinMaxFramePayload || st.streamWindow > MaxWindow:
		return st, protocolErrorf("peer announced a stream window of %d bytes, want %d to %d", st.streamWindow, MinMaxFramePayload, MaxWindow)
	case st.connWindow < st.streamWindow || st.connWindow > MaxWindow:
		return st, protocolErrorf("peer announced a connection window of %d bytes, want %d (its stream window) to %d", st.connWindow, st.streamWindow, MaxWindow)
	}
	return st, nil
}

// readBufferSize is the size of the framer's read buffer. Frame headers and
// small frames come through it in one read; a large payload is read straight
// into the caller's buffer once the buffered part is used up, so at most this
// much of a payload is copied twice.
const readBufferSize = 16 << 10

// framer reads and writes frames on one connection. Reading is done by one
// goroutine at a time (the connection's reader, or the stream consumer it
// hands a DATA payload to); writes are serialised by the caller (the
// connection's write mutex).
type framer struct {
	r    *bufio.Reader
	back putBack   // bytes read ahead and given back: r reads them first
	vec  vecReader // reads the transport into several buffers; nil if it cannot
	// inHand is the bytes of the next frame's payload that readTail read
	// into its consumer's buffer (readRole.ownData takes them).
	inHand uint32
	iov    [3][]byte
	w      io.Writer
	lim    limits
	rhdr   [FrameHeaderLen]byte
	wbuf   []byte // assembles small frames so each goes out in one Write
	// peerMax is the largest payload the peer accepts.
	peerMax uint32
	// inBytes counts the bytes read from the transport (heartbeat.go).
	inBytes atomic.Uint64
}

func newFramer(rw io.ReadWriter, lim limits) *framer {
	f := &framer{w: rw, lim: lim}
	f.readFrom(rw, newReadv(rw))
	return f
}

// readFrom makes the framer read through r, which reads the transport (a
// reader that sets deadlines, say), and vec, which reads it into several
// buffers at once (nil: it cannot).
func (f *framer) readFrom(r io.Reader, vec vecReader) {
	f.back.src = countingReader{r, &f.inBytes}
	f.r = bufio.NewReaderSize(&f.back, readBufferSize)
	f.vec = vec
}

// frameBuffered reports whether a whole frame has arrived in the read
// buffer: reading it will not wait for the transport.
func (f *framer) frameBuffered() bool {
	n := f.r.Buffered()
	if n < FrameHeaderLen {
		return false
	}
	h, _ := f.r.Peek(FrameHeaderLen)
	return n-FrameHeaderLen >= int(binary.BigEndian.Uint32(h[4:8]))
}

// readHeader reads and validates the next frame header.
func (f *framer) readHeader() (FrameHeader, error) {
	if _, err := io.ReadFull(f.r, f.rhdr[:]); err != nil {
		return FrameHeader{}, err
	}
	return parseFrameHeader(f.rhdr[:], &f.lim)
}

// readPayload reads an n-byte payload into buf, which grows as the bytes
// arrive (appendPayload).
func (f *framer) readPayload(buf []byte, n uint32) ([]byte, error) {
	return f.appendPayload(buf[:0], n)
}

// appendPayload appends the next n payload bytes to b. b grows with the
// bytes received, never by the length a peer claims: a peer that announces
// a 4 MiB frame and sends 10 bytes costs 10 bytes (and append's slack), as
// net/http and grpc-go read bodies.
func (f *framer) appendPayload(b []byte, n uint32) ([]byte, error) {
	for n > 0 {
		if len(b) == cap(b) {
			// Grow with what arrived: at most twice the bytes read.
			b = slices.Grow(b, int(min(n, uint32(max(cap(b), readBufferSize)))))
		}
		m, err := f.r.Read(b[len(b):min(cap(b), len(b)+int(n))])
		b = b[:len(b)+m]
		n -= uint32(m)
		if err != nil && n > 0 {
			return b, err
		}
	}
	return b, nil
}

// arrived waits for at least one more payload byte and returns the bytes of
// the next n that have arrived (at most a read buffer's worth), without
// consuming them: the caller discards what it used. An error is the
// transport's (io.EOF mid-payload included: cutPayload names it).
func (f *framer) arrived(n uint32) ([]byte, error) {
	if f.r.Buffered() == 0 {
		if _, err := f.r.Peek(1); err != nil {
			return nil, err
		}
	}
	return f.r.Peek(int(min(n, uint32(f.r.Buffered()))))
}

// discard skips n payload bytes.
func (f *framer) discard(n uint32) error {
	_, err := f.r.Discard(int(n))
	return err
}

// appendFrame appends a frame with payload to b.
func appendFrame(b []byte, h FrameHeader, payload []byte) []byte {
	h.Length = uint32(len(payload))
	var hb [FrameHeaderLen]byte
	putFrameHeader(hb[:], h)
	b = append(b, hb[:]...)
	return append(b, payload...)
}

// writeFrames writes b, one or more assembled frames, in one Write.
func (f *framer) write(b []byte) error {
	_, err := f.w.Write(b)
	return err
}

// writeFrame writes one small frame in one Write. It uses f.wbuf, so the
// caller must hold the write lock.
func (f *framer) writeFrame(h FrameHeader, payload []byte) error {
	f.wbuf = appendFrame(f.wbuf[:0], h, payload)
	err := f.write(f.wbuf)
	f.shrink()
	return err
}

// shrink drops a write buffer that a large message grew.
func (f *framer) shrink() {
	if cap(f.wbuf) > 256<<10 {
		f.wbuf = nil
	}
}

// appendChunked appends payload as frames of type t, each at most the peer's
// limit; the last one gets lastFlags. An empty payload is one empty frame.
func (f *framer) appendChunked(b []byte, t FrameType, call uint32, payload []byte, lastFlags Flags) []byte {
	max := int(f.peerMax)
	for {
		n := min(len(payload), max)
		h := FrameHeader{Type: t, Call: call}
		if n == len(payload) {
			h.Flags = lastFlags
		}
		b = appendFrame(b, h, payload[:n])
		payload = payload[n:]
		if len(payload) == 0 {
			return b
		}
	}
}

// protocolErrorf returns a connection-level error: the peer broke the
// protocol, the connection cannot continue.
func protocolErrorf(format string, args ...any) *Error {
	return &Error{code: CodeInternal, msg: "protocol error: " + fmt.Sprintf(format, args...), err: ErrProtocol}
}

// ErrProtocol is the cause of every protocol error: the peer broke the wire
// protocol and the connection was closed. Test with errors.Is.
var ErrProtocol = fmt.Errorf("protocol error")
