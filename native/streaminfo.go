package native

// This file holds what a response stream may announce of itself (its
// length, type, version and age), and the ranges and HEAD requests that
// build on it: the native side of HTTP's Content-Length, Content-Type,
// ETag, Last-Modified, Range, If-Range and HEAD.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StreamInfo is what a response stream announces of itself before its
// first byte. A stream that ends short of (or runs past) its announced
// Length fails with CodeDataLoss on every face: the client never takes a
// cut stream for a whole one.
type StreamInfo struct {
	// Length is how many bytes the stream carries; -1 when unknown.
	Length int64
	// Size is the size of the whole resource when the stream is a part of
	// it (a range), and Offset where the part starts; Size is -1 (and
	// Offset 0) when the stream is the whole resource, or its size is
	// unknown.
	Size, Offset int64
	// ContentType is the media type of the bytes ("" when unknown).
	ContentType string
	// ETag is an HTTP entity tag, quoted ("\"a1b2\"", or W/"..." for a weak
	// one), that changes whenever the resource's bytes do; "" for none.
	ETag string
	// ModTime is when the resource last changed; zero when unknown.
	ModTime time.Time
}

// Partial reports whether the stream is a part of its resource (a range).
func (i *StreamInfo) Partial() bool {
	return i.Size >= 0 && i.Length >= 0 && (i.Offset > 0 || i.Length < i.Size)
}

// streamInfo is StreamInfo on the wire, in the response header.
type streamInfo struct {
	Length   int64  `json:"length"`
	Size     int64  `json:"size"`
	Offset   int64  `json:"offset,omitempty"`
	Type     string `json:"type,omitempty"`
	ETag     string `json:"etag,omitempty"`
	Modified int64  `json:"modified,omitempty"` // Unix nanoseconds
}

func (i *StreamInfo) wire() *streamInfo {
	w := &streamInfo{Length: i.Length, Size: i.Size, Offset: i.Offset, Type: i.ContentType, ETag: i.ETag}
	if !i.ModTime.IsZero() {
		w.Modified = i.ModTime.UnixNano()
	}
	return w
}

func (w *streamInfo) info() StreamInfo {
	i := StreamInfo{Length: w.Length, Size: w.Size, Offset: w.Offset, ContentType: w.Type, ETag: w.ETag}
	if w.Modified != 0 {
		i.ModTime = time.Unix(0, w.Modified).UTC()
	}
	return i
}

func (w *streamInfo) validate() error {
	switch {
	case w.Length < -1 || w.Size < -1 || w.Offset < 0:
		return fmt.Errorf("stream info with a negative length, size or offset (%d, %d, %d)", w.Length, w.Size, w.Offset)
	case w.Size >= 0 && w.Length >= 0 && w.Offset > w.Size-w.Length:
		return fmt.Errorf("stream info of %d bytes at %d past a size of %d", w.Length, w.Offset, w.Size)
	case w.Size < 0 && w.Offset != 0:
		return fmt.Errorf("stream info with an offset but no size")
	}
	return nil
}

// Content returns r as a response stream that announces info; it closes r
// when closed if r is an io.Closer. A handler that serves a range itself
// (see RequestedRange) says which part it serves in info's Offset and
// Size.
func Content(r io.Reader, info StreamInfo) io.ReadCloser {
	return &content{r: r, info: info}
}

type content struct {
	r    io.Reader
	info StreamInfo
}

func (c *content) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *content) Close() error {
	if cl, ok := c.r.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// RequestedRange returns the HTTP byte range the caller asked for
// ("bytes=0-99", "bytes=-500") and its If-Range validator (an entity tag
// or an HTTP date), both "" when it asked for the whole stream.
// ServeContent and *os.File streams apply them by themselves.
func RequestedRange(ctx context.Context) (spec, ifRange string) {
	if ci := callInfoFrom(ctx); ci != nil {
		return ci.req.Range, ci.req.IfRange
	}
	return "", ""
}

// ServeContent answers the call ctx belongs to with content, as much of it
// as the caller's range asks for (the whole when it asked for none, for
// several ranges, or when If-Range does not match info), announcing info
// with its Length, Size and Offset filled in. A range that does not fit is
// CodeOutOfRange. content is closed when the stream is, if it is an
// io.Closer.
func ServeContent(ctx context.Context, content io.ReadSeeker, info StreamInfo) (io.ReadCloser, error) {
	size, err := content.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, Errorf(CodeInternal, "seeking to the end of the content: %v", err)
	}
	spec, ifRange := RequestedRange(ctx)
	r, err := section(content, size, &info, spec, ifRange)
	if err != nil {
		return nil, err
	}
	return Content(r, info), nil
}

// errRangeUnsatisfiable is the error of a range that starts past the end.
func errRangeUnsatisfiable(spec string, size int64) error {
	return &Error{code: CodeOutOfRange, msg: fmt.Sprintf("range %.64q starts past the end of %d bytes", spec, size),
		err: &rangeError{size: size}}
}

// rangeError carries the size a range did not fit, for the response
// metadata (RangeSizeKey).
type rangeError struct{ size int64 }

func (e *rangeError) Error() string {
	return "range past the end of " + strconv.FormatInt(e.size, 10) + " bytes"
}

// RangeSizeKey is the response metadata key in which a call refused with
// CodeOutOfRange for its range carries the resource's size, for HTTP's
// Content-Range: bytes */SIZE.
const RangeSizeKey = "x-range-size"

// section seeks content (of size bytes) to the part spec asks for, fills
// in info's Length, Size and Offset, and returns a reader of that part.
func section(content io.ReadSeeker, size int64, info *StreamInfo, spec, ifRange string) (io.Reader, error) {
	off, n := int64(0), size
	info.Size = -1
	if spec != "" && ifRangeMatches(ifRange, info) {
		start, length, ok, err := parseRange(spec, size)
		if err != nil {
			return nil, errRangeUnsatisfiable(spec, size)
		}
		if ok {
			off, n, info.Size = start, length, size
		}
	}
	if _, err := content.Seek(off, io.SeekStart); err != nil {
		return nil, Errorf(CodeInternal, "seeking to %d: %v", off, err)
	}
	info.Offset, info.Length = off, n
	if info.Size == size && off == 0 && n == size {
		info.Size = -1 // the range was the whole
	}
	if f, ok := content.(*os.File); ok {
		return FileSection(f, n), nil
	}
	return io.LimitReader(content, n), nil
}

// ifRangeMatches reports whether a range applies: there is no If-Range, or
// it matches the resource's strong entity tag, or its date is the
// resource's modification time (to the second, as HTTP dates go).
func ifRangeMatches(ifRange string, info *StreamInfo) bool {
	switch {
	case ifRange == "":
		return true
	case strings.HasPrefix(ifRange, `"`):
		return info.ETag != "" && !strings.HasPrefix(info.ETag, "W/") && ifRange == info.ETag
	}
	t, err := time.Parse(time.RFC1123, strings.Replace(ifRange, "GMT", "UTC", 1))
	return err == nil && !info.ModTime.IsZero() && info.ModTime.Unix() == t.Unix()
}

// parseRange parses an HTTP byte range of one range ("bytes=a-b",
// "bytes=a-", "bytes=-n") against size. ok is false, with no error, for
// what HTTP says to ignore (another unit, several ranges, a malformed
// one): the whole is served. err is set for a range that starts past the
// end (HTTP's 416).
func parseRange(spec string, size int64) (start, length int64, ok bool, err error) {
	r, found := strings.CutPrefix(spec, "bytes=")
	if !found || strings.Contains(r, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(r), "-")
	if !found {
		return 0, 0, false, nil
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if first == "" { // the last n bytes
		n, valid := num(last)
		if !valid {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, errors.New("empty suffix range")
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, valid := num(first)
	if !valid {
		return 0, 0, false, nil
	}
	b := size - 1
	if last != "" {
		if b, valid = num(last); !valid || b < a {
			return 0, 0, false, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, errors.New("range past the end")
	}
	return a, b - a + 1, true, nil
}

// prepareStream works out what a handler's response stream src announces
// and applies the caller's range to it: a Content stream announces its
// info; an *os.File at its start announces its size, modification time,
// an entity tag and a type from its name's extension, and serves the range
// itself; a FileSection announces its length, age and type. Anything
// else announces nothing (nil).
func prepareStream(src io.Reader, spec, ifRange string) (*StreamInfo, io.Reader, error) {
	switch s := src.(type) {
	case *content:
		info := s.info
		if f, _, ok := fileRange(s.r); ok && info.ModTime.IsZero() {
			if fi, err := f.Stat(); err == nil {
				info.ModTime = fi.ModTime()
			}
		}
		return &info, s.r, nil
	case *os.File:
		fi, err := s.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return nil, src, nil
		}
		if off, err := s.Seek(0, io.SeekCurrent); err != nil || off != 0 {
			_, n, ok := fileRange(s)
			if !ok {
				return nil, src, nil
			}
			return &StreamInfo{Length: n, Size: -1, ModTime: fi.ModTime()}, FileSection(s, n), nil
		}
		info := &StreamInfo{ETag: fileETag(fi), ModTime: fi.ModTime(), ContentType: mime.TypeByExtension(filepath.Ext(s.Name()))}
		r, err := section(s, fi.Size(), info, spec, ifRange)
		return info, r, err
	case *fileSection:
		if _, n, ok := fileRange(s); ok {
			info := &StreamInfo{Length: n, Size: -1, ContentType: mime.TypeByExtension(filepath.Ext(s.f.Name()))}
			if fi, err := s.f.Stat(); err == nil {
				info.ModTime = fi.ModTime()
			}
			return info, src, nil
		}
	}
	return nil, src, nil
}

// fileETag is a strong entity tag for a regular file's bytes: its size and
// modification time, as nginx makes them.
func fileETag(fi os.FileInfo) string {
	return `"` + strconv.FormatInt(fi.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`
}

// checkLength returns src, a stream that announced info, so that it
// cannot end short of or run past its announced length. A file stream is
// returned as it is: the zero-copy path sends exactly its length or fails.
func checkLength(src io.Reader, info *StreamInfo) io.Reader {
	if src == nil {
		return eofReader{}
	}
	if info == nil || info.Length < 0 {
		return src
	}
	if _, n, ok := fileRange(src); ok && n == info.Length {
		return src
	}
	return &lengthChecked{r: src, left: info.Length, n: info.Length}
}

// withRangeSize adds to md the size of a range refusal err, if it is one.
func withRangeSize(md Metadata, err error) Metadata {
	var re *rangeError
	if !errors.As(err, &re) {
		return md
	}
	return md.merge(Metadata{RangeSizeKey: {strconv.FormatInt(re.size, 10)}})
}

// shortStreamError is the error of a stream that ended after got of the
// want bytes it announced, or ran past them.
func shortStreamError(got, want int64) error {
	if got > want {
		return Errorf(CodeDataLoss, "the stream ran past the %d bytes it announced (%d)", want, got)
	}
	return Errorf(CodeDataLoss, "the stream ended after %d of the %d bytes it announced", got, want)
}

// lengthChecked wraps a stream that announced n bytes: reading past them,
// or an end before them, is CodeDataLoss.
type lengthChecked struct {
	r    io.Reader
	left int64
	n    int64
}

func (l *lengthChecked) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte more than announced tells a long stream
	}
	m, err := l.r.Read(p)
	l.left -= int64(m)
	switch {
	case l.left < 0:
		return m + int(l.left), Errorf(CodeDataLoss, "the stream runs past the %d bytes it announced", l.n)
	case err == io.EOF && l.left > 0:
		return m, Errorf(CodeDataLoss, "the stream ended after %d of the %d bytes it announced", l.n-l.left, l.n)
	}
	return m, err
}
