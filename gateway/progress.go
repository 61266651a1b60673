package gateway

// A request body that stops moving is cut, on both faces: a client that
// begins a body and then sends nothing would otherwise hold its call's
// place (and a connection) for as long as it likes. The timeout runs
// between two reads that bring bytes, as nginx's client_body_timeout does,
// never over the whole body: a slow upload that keeps moving lives.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// DefaultBodyTimeout is the default of WithBodyTimeout: nginx's
// client_body_timeout.
const DefaultBodyTimeout = 60 * time.Second

// WithBodyTimeout sets how long a client may send no byte of a request
// body it has begun (default DefaultBodyTimeout; 0 for no limit). Over
// REST the call ends with 408 and code DEADLINE_EXCEEDED, and the
// connection is closed; over gRPC a stream that sends no request message
// for that long ends with DEADLINE_EXCEEDED.
func WithBodyTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.bodyTimeout = max(d, 0) })
}

// errBodyStalled is the error of a request body that sent nothing for the
// body timeout.
func errBodyStalled(d time.Duration) error {
	return native.Errorf(native.CodeDeadlineExceeded, "gateway: the client sent no byte of the request body for %v", d)
}

// progressBody is an HTTP request body whose every read must bring bytes
// within d: it sets the connection's read deadline before each read and
// clears it when the body ends, so that the server's own reads after the
// body (which watch for the client going away) see no deadline.
type progressBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	d       time.Duration // 0: no timeout (a body stop may still end)
	ended   bool
	stalled atomic.Bool // a Connect call's handler may look while a read is in progress

	mu      sync.Mutex // stopped, and the deadline a read sets
	stopped bool
}

// bodyWithTimeout puts r's body behind a progressBody, unless there is no
// body or no timeout.
func bodyWithTimeout(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	stoppableBody(w, r, d)
}

// stoppableBody puts r's body behind a progressBody with timeout d (0:
// none), which can be stopped, unless there is no body.
func stoppableBody(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	r.Body = &progressBody{body: r.Body, rc: http.NewResponseController(connWriter(w)), d: d}
}

// connWriter returns the writer under w's wrappers (those with Unwrap, as
// http.ResponseController follows them) that sets the connection's read
// deadline. A request body may be read while its handler returns (a
// remote backend's client reads it from a goroutine of its own, see
// callBody), when a wrapper may be recycled: gzhttp's (compress.go) goes
// back to a pool.
func connWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		if _, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
			return w
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

func (b *progressBody) Read(p []byte) (int, error) {
	if b.ended {
		return b.body.Read(p)
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return 0, errBodyStopped
	}
	if b.d > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	b.mu.Unlock()
	n, err := b.body.Read(p)
	if err != nil {
		b.ended = true
		b.mu.Lock()
		stopped := b.stopped
		b.mu.Unlock()
		if stopped {
			return n, errBodyStopped
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection is spent: a read timed out mid-body.
			b.stalled.Store(true)
			return n, errBodyStalled(b.d)
		}
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *progressBody) Close() error { return b.body.Close() }

// stop ends the reading of the body: a read in progress returns at once
// (its deadline is now), and later ones fail, with errBodyStopped. A
// handler that returns while a goroutine of its own may still read the
// body (a bidi stream's client messages) stops it and waits for that
// goroutine first: a body, and the writer its deadlines go through, must
// not be used once the handler has returned.
func (b *progressBody) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	_ = b.rc.SetReadDeadline(time.Now())
}

// errBodyStopped is what reads of a stopped progressBody return.
var errBodyStopped = native.Errorf(native.CodeCanceled, "gateway: the call ended before the client's stream")

// stalledBody reports whether r's body was cut by its timeout.
func stalledBody(r *http.Request) (time.Duration, bool) {
	b, ok := r.Body.(*progressBody)
	if !ok || !b.stalled.Load() {
		return 0, false
	}
	return b.d, true
}

// safeRecv is ss.RecvMsg(m) that turns a panic of the decoder into an
// error: protobuf-go's dynamicpb panics on some malformed map entries (a
// key of the wrong wire type after a good one), and a panic in a
// goroutine of a gRPC handler would end the whole process.
func safeRecv(ss grpc.ServerStream, m any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = status.Errorf(codes.InvalidArgument, "gateway: the request message cannot be decoded: %s", clip.Text(fmt.Sprint(r), clip.Max))
		}
	}()
	return ss.RecvMsg(m)
}

// recvWithTimeout is ss.RecvMsg(m) that gives up after d with
// DEADLINE_EXCEEDED (d <= 0: no limit). grpc-go cannot interrupt RecvMsg,
// so the caller must end the stream at once when it fails: returning from
// the handler cancels the stream, which ends the RecvMsg left waiting.
//
// RecvMsg runs in a goroutine of its own. (Cancelling a context that the
// stream's reader watches, set by a grpc.InTapHandle, would spare it, but
// then RecvMsg answers the client with CANCELED or "context deadline
// exceeded" itself, before the handler can say what happened.) Its channel
// and timer are reused (recvJobs), as they cost a unary call three of its
// allocations. That goroutine and its wake-up still cost a unary call
// about 5% of the gateway's CPU (a CPU profile of unary/gateway-grpc/16):
// a call whose deadline comes before d is spared them.
func recvWithTimeout(ss grpc.ServerStream, m any, d time.Duration) error {
	if d <= 0 {
		return safeRecv(ss, m)
	}
	if _, web := ss.(*webStream); !web {
		if dl, ok := ss.Context().Deadline(); ok && time.Until(dl) <= d {
			// The client's deadline comes first: grpc-go ends the stream
			// then, which ends RecvMsg, and the goroutine is not needed.
			// (A Connect or gRPC-Web call's deadline does not end a read
			// of its HTTP body.)
			return safeRecv(ss, m)
		}
	}
	j := recvJobs.Get().(*recvJob)
	j.ss, j.m = ss, m
	go j.run()
	if j.t == nil {
		j.t = time.NewTimer(d)
	} else {
		j.t.Reset(d)
	}
	select {
	case err := <-j.done:
		j.t.Stop()
		j.ss, j.m = nil, nil
		recvJobs.Put(j)
		return err
	case <-j.t.C:
		// j stays with its goroutine, which sends on done once RecvMsg
		// returns.
		return status.Errorf(codes.DeadlineExceeded, "gateway: the client sent no request message for %v", d)
	}
}

// recvJob is one RecvMsg run by recvWithTimeout.
type recvJob struct {
	ss   grpc.ServerStream
	m    any
	done chan error
	t    *time.Timer
}

var recvJobs = sync.Pool{New: func() any { return &recvJob{done: make(chan error, 1)} }}

func (j *recvJob) run() { j.done <- safeRecv(j.ss, j.m) }
