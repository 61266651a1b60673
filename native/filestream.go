package native

import (
	"io"
	"os"
)

// FileSection returns a stream of the next n bytes of f from its current
// offset, which closes f when closed. Handlers use it to answer a range of a
// file: like an *os.File, it is sent with the kernel's zero-copy path
// (sendfile) when the connection is a TCP or unix socket.
func FileSection(f *os.File, n int64) io.ReadCloser {
	return &fileSection{f: f, lr: io.LimitedReader{R: f, N: n}}
}

type fileSection struct {
	f  *os.File
	lr io.LimitedReader
}

func (s *fileSection) Read(p []byte) (int, error) { return s.lr.Read(p) }
func (s *fileSection) Close() error               { return s.f.Close() }

// fileRange returns the regular file behind a stream source and how many
// bytes of it, from its current offset, the source will yield; ok is false
// when src is not a file the zero-copy path can send.
func fileRange(src io.Reader) (f *os.File, n int64, ok bool) {
	limit := int64(-1)
	switch s := src.(type) {
	case *os.File:
		f = s
	case *fileSection:
		f, limit = s.f, s.lr.N
	case *io.LimitedReader:
		if f, ok = s.R.(*os.File); !ok {
			return nil, 0, false
		}
		limit = s.N
	default:
		return nil, 0, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, 0, false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, 0, false
	}
	n = max(fi.Size()-off, 0)
	if limit >= 0 {
		n = min(n, limit)
	}
	return f, n, true
}

// consumed tells a LimitedReader-like source that n of its bytes were sent
// around it.
func consumed(src io.Reader, n int64) {
	switch s := src.(type) {
	case *fileSection:
		s.lr.N -= n
	case *io.LimitedReader:
		s.N -= n
	}
}
