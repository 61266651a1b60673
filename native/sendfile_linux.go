package native

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// sendFile sends n bytes of f (the file behind src) as DATA frames written
// with sendfile, then the trailer, as sendStream does with reads.
func (w *wire) sendFile(hf *half, rc syscall.RawConn, src io.Reader, f *os.File, n int64, trailerMD func() Metadata) (sent int64, srcErr, err error) {
	chunk := int64(min(int(w.fr.peerMax), sendfileChunk))
	var hdr [FrameHeaderLen]byte
	for sent < n {
		g, err := w.takeCredit(hf, int(min(n-sent, chunk)))
		if err != nil {
			return sent, nil, err
		}
		c := int64(g)
		putFrameHeader(hdr[:], FrameHeader{Type: TypeData, Length: uint32(c), Call: hf.id})
		w.wl.lock(false)
		if !hf.open.Load() {
			w.unlock()
			w.refund(g)
			return sent, nil, errHalfClosed
		}
		if w.werr != nil {
			w.unlock()
			return sent, nil, w.werr
		}
		if ferr := sendFrameFile(rc, hdr[:], f, c); ferr != nil {
			// The frame may be half written: the connection is lost.
			w.werr = &Error{code: CodeUnavailable, msg: "sendfile failed: " + ferr.Error(), err: ferr}
			w.unlock()
			w.close()
			return sent, ferr, w.werr
		}
		w.unlock()
		sent += c
		consumed(src, c)
	}
	return sent, nil, w.writeTrailer(hf, nil, trailerMD)
}

// sendfileChunk is the DATA payload size of frames sent with sendfile: one
// header write per chunk, so larger than the copying path's.
const sendfileChunk = 4 << 20

// sendFrameFile writes a DATA frame header announcing n bytes, then n bytes
// of f from its current offset with sendfile, advancing the offset. The
// header is sent with MSG_MORE so that it leaves in the same segment as the
// payload. A short file (one that shrank) is an error: the frame promised n
// bytes.
func sendFrameFile(rc syscall.RawConn, hdr []byte, f *os.File, n int64) error {
	fc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	cerr := fc.Read(func(ffd uintptr) bool {
		var werr error
		err := rc.Write(func(sfd uintptr) bool {
			for len(hdr) > 0 {
				m, err := syscall.SendmsgN(int(sfd), hdr, nil, nil, syscall.MSG_MORE)
				if err == syscall.EAGAIN {
					return false
				}
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					werr = err
					return true
				}
				hdr = hdr[m:]
			}
			for n > 0 {
				m, err := syscall.Sendfile(int(sfd), int(ffd), nil, int(min(n, 1<<30)))
				if m > 0 {
					n -= int64(m)
				}
				switch {
				case err == syscall.EAGAIN:
					return false
				case err == syscall.EINTR:
					continue
				case err != nil:
					werr = err
					return true
				case m == 0:
					werr = errFileShrank
					return true
				}
			}
			return true
		})
		if err == nil {
			err = werr
		}
		ferr = err
		return true
	})
	if cerr != nil {
		return cerr
	}
	return ferr
}

var errFileShrank = errors.New("file ended before the length announced in its DATA frame (it shrank while being sent)")
