package native

// Reading a payload's tail together with what follows it: on a socket, the
// consumer of a byte stream reads the last bytes of a DATA frame, the next
// frame's header and the first bytes of its payload in one readv(2), the
// header into the framer and the rest contiguous in the consumer's buffer.
// Reading up to the frame's end only, then the header through the framer's
// buffer, made two reads more per 1 MiB frame than a raw socket makes for
// the same bytes, one of them the 16 KiB fill whose payload part is copied
// twice (perf stat over 8 GiB: 92.5k reads against raw's 76.2k; 76.6k
// since).

import (
	"io"

	"github.com/framegate/framegate/internal/bufpool"
)

// vecReader reads into several buffers in order, in one read of the
// transport: it returns once at least one byte arrived, like Read.
type vecReader interface {
	readVec(bufs [][]byte) (int, error)
}

// maxReadAhead bounds the payload bytes of the next frame read with a tail:
// a whole DATA chunk.
const maxReadAhead = DefaultStreamChunkSize

// readTail reads up to the last n payload bytes of a DATA frame of call into
// p, as f.r.Read(p[:n]) does. When p has room past them and the transport
// can read into several buffers, the same read also takes the next frame's
// header and the first bytes of its payload into p after the tail. If that
// frame is a DATA frame of call, those bytes are its consumer's: the first
// ahead of its payload are in p[n:n+ahead], and f.inHand says so to
// readRole.ownData, which takes them when the header, given back to the
// framer, is read next.
// Everything else read past the tail (another frame; what follows a DATA
// frame shorter than what arrived) is given back, to be read again through
// the framer: a copy more of those bytes. So the caller reads a payload
// past the header only while its connection's calls do not overlap
// (across): beside another stream, that stream's DATA would follow the tail
// as often as not. Otherwise the read takes the tail and the next header
// only, which spares the framer's fill all the same.
func (f *framer) readTail(p []byte, n uint32, call uint32, across bool) (m, ahead int, err error) {
	if f.vec == nil || int(n) >= len(p) || f.r.Buffered() > 0 || len(f.back.b) > 0 {
		m, err = f.r.Read(p[:min(len(p), int(n))])
		return m, 0, err
	}
	past := p[n:min(len(p), int(n)+maxReadAhead)]
	if !across {
		past = past[:0]
	}
	f.iov = [3][]byte{p[:n], f.rhdr[:], past}
	got, err := f.vec.readVec(f.iov[:])
	f.iov = [3][]byte{}
	if got > 0 {
		f.inBytes.Add(uint64(got))
	}
	if got <= int(n) {
		return got, 0, err
	}
	extra := got - int(n)
	if extra < FrameHeaderLen {
		f.back.put(f.rhdr[:extra], nil)
		return int(n), 0, nil
	}
	rest := past[:extra-FrameHeaderLen]
	if h, err := parseFrameHeader(f.rhdr[:], &f.lim); err == nil && h.Type == TypeData && h.Call == call {
		ahead = min(len(rest), int(h.Length))
	}
	f.back.put(f.rhdr[:], rest[ahead:])
	f.inHand = uint32(ahead)
	return int(n), ahead, nil
}

// takeInHand returns the bytes of the frame being read that readTail put in
// its consumer's buffer, and forgets them.
func (f *framer) takeInHand() uint32 {
	n := f.inHand
	f.inHand = 0
	return n
}

// putBack is what the framer's buffered reader reads: the bytes given back,
// then the transport.
type putBack struct {
	src    io.Reader
	b      []byte  // given back, not read yet
	pooled *[]byte // b's array
}

func (p *putBack) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return p.src.Read(b)
	}
	n := copy(b, p.b)
	if p.b = p.b[n:]; len(p.b) == 0 {
		bufpool.Put(p.pooled)
		p.b, p.pooled = nil, nil
	}
	return n, nil
}

// put gives back a, then b, ahead of the transport's next bytes; nothing
// given back earlier is left.
func (p *putBack) put(a, b []byte) {
	n := len(a) + len(b)
	p.pooled = bufpool.Get(recvClass(uint32(n)))
	p.b = append(append((*p.pooled)[:0], a...), b...)
}
