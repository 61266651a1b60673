package native_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// Types the suite's handlers use.
type echoReq struct {
	Msg string `json:"msg"`
	N   int    `json:"n"`
}

type echoResp struct {
	Msg string          `json:"msg"`
	N   int             `json:"n"`
	MD  native.Metadata `json:"md,omitempty"`
}

type blobReq struct {
	Size int    `json:"size"`
	Seed uint64 `json:"seed"`
}

type putReq struct {
	Name string `json:"name"`
}

type putResp struct {
	Name string `json:"name"`
	N    int64  `json:"n"`
	Sum  []byte `json:"sum"` // the first bytes and a checksum of the body
}

type deadlineResp struct {
	Has      bool      `json:"has"`
	Deadline time.Time `json:"deadline"`
}

func mustRegister(t *testing.T, srv *native.Server, name string, fn any) {
	t.Helper()
	if err := srv.Register(name, fn); err != nil {
		t.Fatalf("Register(%q): %v", name, err)
	}
}

// newServer returns a server with Echo.Unary registered and a logger that
// records.
func newServer(t *testing.T, opts ...native.Option) (*native.Server, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	srv := native.NewServer(append([]native.Option{native.WithLogger(slog.New(rec))}, opts...)...)
	mustRegister(t, srv, "Echo.Unary", func(ctx context.Context, req *echoReq, resp *echoResp) error {
		resp.Msg, resp.N, resp.MD = req.Msg, req.N*2, native.IncomingMetadata(ctx)
		return nil
	})
	return srv, rec
}

// checkEcho makes one Echo.Unary call and checks its answer: the
// connection works.
func checkEcho(t *testing.T, c native.Caller, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var resp echoResp
	msg := fmt.Sprintf("m%d", n)
	if err := c.Call(ctx, "Echo.Unary", &echoReq{Msg: msg, N: n}, &resp); err != nil {
		t.Fatalf("Echo.Unary: %v", err)
	}
	if resp.Msg != msg || resp.N != 2*n {
		t.Fatalf("Echo.Unary = %+v, want msg %q n %d", resp, msg, 2*n)
	}
}

// wantCode checks that err is an *native.Error with code and a message
// containing each of msgs.
func wantCode(t *testing.T, err error, code native.Code, msgs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want code %v", code)
	}
	if native.CodeOf(err) != code {
		t.Fatalf("err = %v (code %v), want code %v", err, native.CodeOf(err), code)
	}
	var e *native.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v, want a *native.Error", err, err)
	}
	for _, m := range msgs {
		if !strings.Contains(e.Message(), m) {
			t.Fatalf("err message %q does not contain %q", e.Message(), m)
		}
	}
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// failReader returns data, then err.
type failReader struct {
	data []byte
	err  error
}

func (r *failReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// endlessReader returns bytes until ctx is done, then ctx's error.
type endlessReader struct{ ctx context.Context }

func (r endlessReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// gateReader returns data, then blocks until gate is closed or ctx is done,
// then returns rest and io.EOF (or ctx's error).
type gateReader struct {
	ctx  context.Context
	data []byte
	gate <-chan struct{}
	rest []byte
}

func (r *gateReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	if r.gate != nil {
		select {
		case <-r.gate:
			r.gate = nil
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	if len(r.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// closeRecorder is a response stream that records its Close.
type closeRecorder struct {
	io.Reader
	closed chan struct{}
	once   sync.Once
}

func newCloseRecorder(r io.Reader) *closeRecorder {
	return &closeRecorder{Reader: r, closed: make(chan struct{})}
}

func (c *closeRecorder) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// waitFor fails the test if ch is not closed (or does not deliver) within d.
func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	var zero T
	return zero
}

// ctxWatch returns a channel that receives context.Cause(ctx) when ctx is
// done.
func ctxWatch(ctx context.Context) <-chan error {
	ch := make(chan error, 1)
	context.AfterFunc(ctx, func() { ch <- context.Cause(ctx) })
	return ch
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), h.recs...)
}

// atLevel returns the records at level.
func (h *logRecorder) atLevel(level slog.Level) []logRecord {
	var out []logRecord
	for _, r := range h.records() {
		if r.level == level {
			out = append(out, r)
		}
	}
	return out
}

func (r logRecord) String() string {
	return fmt.Sprintf("%v %q %v", r.level, r.msg, r.attrs)
}

// frameLog records the bytes a transport end reads and writes, and the
// frames complete at the time it was closed.
type frameLog struct {
	io.ReadWriteCloser
	mu                        sync.Mutex
	rd, wr                    bytes.Buffer
	closed                    bool
	readAtClose, wroteAtClose []native.FrameHeader
}

func (l *frameLog) Read(p []byte) (int, error) {
	n, err := l.ReadWriteCloser.Read(p)
	l.mu.Lock()
	l.rd.Write(p[:n])
	l.mu.Unlock()
	return n, err
}

// Write records p before writing it: the peer may act on it (and the test
// look) before Write returns.
func (l *frameLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.wr.Write(p)
	l.mu.Unlock()
	return l.ReadWriteCloser.Write(p)
}

func (l *frameLog) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.readAtClose = parseFrames(l.rd.Bytes())
		l.wroteAtClose = parseFrames(l.wr.Bytes())
	}
	l.mu.Unlock()
	return l.ReadWriteCloser.Close()
}

// atClose returns whether Close was called and the frames read and written
// by then.
func (l *frameLog) atClose() (closed bool, read, wrote []native.FrameHeader) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed, l.readAtClose, l.wroteAtClose
}

// frames returns the complete frames read and written so far.
func (l *frameLog) frames() (read, wrote []native.FrameHeader) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return parseFrames(l.rd.Bytes()), parseFrames(l.wr.Bytes())
}

// parseFrames parses the complete frames after the preface in b.
func parseFrames(b []byte) []native.FrameHeader {
	hs, _ := parseFramesPayloads(b)
	return hs
}

// readPayloads returns the payloads of the frames of type typ read so far.
func (l *frameLog) readPayloads(typ native.FrameType) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	hs, ps := parseFramesPayloads(l.rd.Bytes())
	var out [][]byte
	for i, h := range hs {
		if h.Type == typ {
			out = append(out, ps[i])
		}
	}
	return out
}

// parseFramesPayloads parses the complete frames after the preface in b,
// and returns their payloads too.
func parseFramesPayloads(b []byte) ([]native.FrameHeader, [][]byte) {
	if len(b) < native.PrefaceLen {
		return nil, nil
	}
	b = b[native.PrefaceLen:]
	var out []native.FrameHeader
	var ps [][]byte
	for len(b) >= native.FrameHeaderLen {
		h := native.FrameHeader{
			Type:   native.FrameType(b[0]),
			Flags:  native.Flags(b[1]),
			Length: binary.BigEndian.Uint32(b[4:]),
			Call:   binary.BigEndian.Uint32(b[8:]),
		}
		if len(b) < native.FrameHeaderLen+int(h.Length) {
			break
		}
		out = append(out, h)
		ps = append(ps, b[native.FrameHeaderLen:native.FrameHeaderLen+int(h.Length)])
		b = b[native.FrameHeaderLen+int(h.Length):]
	}
	return out, ps
}

// logConns wraps both ends in a frameLog.
func logConns(cl, sl **frameLog) fixtureOption {
	return wrapConns(func(c, s io.ReadWriteCloser) (io.ReadWriteCloser, io.ReadWriteCloser) {
		*cl, *sl = &frameLog{ReadWriteCloser: c}, &frameLog{ReadWriteCloser: s}
		return *cl, *sl
	})
}

// indexOf returns the index of the first frame of type typ, or -1.
func indexOf(frames []native.FrameHeader, typ native.FrameType) int {
	for i, f := range frames {
		if f.Type == typ {
			return i
		}
	}
	return -1
}
