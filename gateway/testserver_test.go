package gateway

// The shared fixture of the gRPC and REST suites: a native server with
// endpoints of every kind on real Go types, served through a gateway built
// on Local(srv) and on Remote(pool over TCP to the same server), each with a
// gRPC server on a TCP port and an httptest HTTP server.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/framegate/framegate/native"
)

// fxNode is a recursive struct.
type fxNode struct {
	Name string   `json:"name"`
	Next *fxNode  `json:"next,omitempty"`
	Kids []fxNode `json:"kids"`
}

// fxValues has the value shapes the gateway must carry unchanged.
type fxValues struct {
	Name   string                      `json:"name"`
	I64    int64                       `json:"i64"`
	U64    uint64                      `json:"u64"`
	I32    int32                       `json:"i32"`
	F64    float64                     `json:"f64"`
	OK     bool                        `json:"ok"`
	Raw    []byte                      `json:"raw"`
	T      time.Time                   `json:"t"`
	Times  []time.Time                 `json:"times"`
	Tags   []string                    `json:"tags"`
	Nested map[string]map[string]int64 `json:"nested"`
	ByID   map[uint64]string           `json:"byId"`
	OptI64 *int64                      `json:"optI64,omitempty"`
	OptU64 *uint64                     `json:"optU64,omitempty"`
	OptS   *string                     `json:"optS,omitempty"`
	OptB   *bool                       `json:"optB,omitempty"`
	OptT   *time.Time                  `json:"optT,omitempty"`
	Node   *fxNode                     `json:"node,omitempty"`
	Any    any                         `json:"any"`
	Doc    json.RawMessage             `json:"doc"`
}

type fxEmpty struct{}

type fxFail struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

type fxMetaReq struct {
	Header  map[string]string `json:"header"`
	Trailer map[string]string `json:"trailer"`
}

type fxMetaResp struct {
	Incoming    map[string][]string `json:"incoming"`
	HasDeadline bool                `json:"hasDeadline"`
	Deadline    time.Time           `json:"deadline"`
}

// fxGen asks Blob.Download for Size bytes of fxData(Seed); with FailAt set
// the stream fails with FailCode after that many bytes.
type fxGen struct {
	Size        int64  `json:"size"`
	Seed        uint64 `json:"seed"`
	FailAt      *int64 `json:"failAt,omitempty"`
	FailCode    uint32 `json:"failCode"`
	ContentType string `json:"contentType"`
}

type fxSum struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type fxPut struct {
	Name string   `json:"name"`
	Mode int32    `json:"mode"`
	Tags []string `json:"tags"`
}

type fxPutResp struct {
	Put fxPut `json:"put"`
	Sum fxSum `json:"sum"`
}

type fxProbeReq struct {
	ID    string `json:"id"`
	First int64  `json:"first"` // Blob.Paced: bytes of the first chunk
}

type fxFile struct {
	Path string `json:"path"`
}

// fxData returns n bytes of the deterministic stream of seed.
func fxData(seed uint64, n int64) []byte {
	b := make([]byte, n)
	io.ReadFull(newGenReader(seed, n, -1, 0), b)
	return b
}

// genReader yields the deterministic stream of a seed, and fails after
// failAt bytes (when failAt >= 0) with code.
type genReader struct {
	r      *rand.ChaCha8
	left   int64
	failAt int64
	code   native.Code
	pos    int64
	onEOF  func()
}

func newGenReader(seed uint64, n, failAt int64, code native.Code) *genReader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return &genReader{r: rand.NewChaCha8(key), left: n, failAt: failAt, code: code}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.failAt >= 0 && g.pos >= g.failAt {
		return 0, native.Errorf(g.code, "the source broke after %d bytes", g.pos)
	}
	if g.left == 0 {
		if g.onEOF != nil {
			g.onEOF()
			g.onEOF = nil
		}
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, g.left)
	if g.failAt >= 0 {
		n = min(n, g.failAt-g.pos)
	}
	g.r.Read(p[:n])
	g.left -= n
	g.pos += n
	return int(n), nil
}

// sumOf reads r to its end and returns its size and SHA-256.
func sumOf(r io.Reader) (fxSum, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return fxSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// probe records what one handler call saw of its context. The test
// creates it, passes its ID in the request and waits on its channels.
type probe struct {
	started  chan struct{} // closed when the handler is waiting (or got its first chunk)
	done     chan struct{} // closed once the handler saw its context end
	deadline time.Time
	hasDL    bool
	err      error // the handler context's error when done
}

type probes struct {
	mu sync.Mutex
	m  map[string]*probe
	n  int
	// tally counts calls of Values.Tally, the fixture's one unsafe
	// endpoint without a request stream.
	tally atomic.Int64
}

// add registers a new probe and returns its ID.
func (p *probes) add() (string, *probe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	id := fmt.Sprintf("probe-%d", p.n)
	pr := &probe{started: make(chan struct{}), done: make(chan struct{})}
	p.m[id] = pr
	return id, pr
}

func (p *probes) get(id string) (*probe, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.m[id]
	if pr == nil {
		return nil, native.Errorf(native.CodeNotFound, "no probe %q", id)
	}
	return pr, nil
}

// wait blocks until ch is closed, failing the test after a generous bound
// (a guard against hangs, not a timing assertion).
func wait(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// register adds the fixture's endpoints to srv.
func register(srv *native.Server, pr *probes) error {
	eps := map[string]any{
		"Values.Echo": func(req *fxValues, resp *fxValues) error { *resp = *req; return nil },
		"Values.Double": func(n int64, resp *int64) error {
			*resp = 2 * n
			return nil
		},
		"Values.Raw": func(req json.RawMessage, resp *json.RawMessage) error { *resp = req; return nil },
		"Ping":       func(resp *fxEmpty) error { return nil },
		"Errors.Fail": func(req *fxFail, resp *fxEmpty) error {
			return native.Errorf(native.Code(req.Code), "%s", req.Message)
		},
		"Meta.Echo": func(ctx context.Context, req *fxMetaReq, resp *fxMetaResp) error {
			if err := native.SetHeader(ctx, toMD(req.Header)); err != nil {
				return err
			}
			if err := native.SetTrailer(ctx, toMD(req.Trailer)); err != nil {
				return err
			}
			resp.Incoming = native.IncomingMetadata(ctx)
			resp.Deadline, resp.HasDeadline = ctx.Deadline()
			return nil
		},
		"Meta.Peek": func(ctx context.Context, resp *fxMetaResp) error {
			resp.Incoming = native.IncomingMetadata(ctx)
			resp.Deadline, resp.HasDeadline = ctx.Deadline()
			return nil
		},
		"Blob.Download": func(ctx context.Context, req *fxGen, out *io.Reader) error {
			md := native.Metadata{"x-blob-seed": {fmt.Sprint(req.Seed)}}
			if req.ContentType != "" {
				md.Set("content-type", req.ContentType)
			}
			if err := native.SetHeader(ctx, md); err != nil {
				return err
			}
			failAt := int64(-1)
			if req.FailAt != nil {
				failAt = *req.FailAt
			}
			g := newGenReader(req.Seed, req.Size, failAt, native.Code(req.FailCode))
			g.onEOF = func() { native.SetTrailer(ctx, native.Metadata{"x-blob-size": {fmt.Sprint(req.Size)}}) }
			*out = g
			return nil
		},
		// Short announces Size bytes and sends half of them.
		"Blob.Short": func(req *fxGen, out *io.Reader) error {
			*out = native.Content(newGenReader(req.Seed, req.Size/2, -1, 0), native.StreamInfo{Length: req.Size, Size: -1})
			return nil
		},
		"Blob.Upload": func(body io.Reader, resp *fxSum) error {
			s, err := sumOf(body)
			*resp = s
			return err
		},
		"Blob.Put": func(req *fxPut, body io.Reader, resp *fxPutResp) error {
			s, err := sumOf(body)
			*resp = fxPutResp{Put: *req, Sum: s}
			return err
		},
		// Remote handlers cannot return their request stream as the
		// response (it ends with the handler), so Copy reads it first.
		"Blob.Copy": func(body io.Reader, out *io.Reader) error {
			b, err := io.ReadAll(body)
			*out = bytes.NewReader(b)
			return err
		},
		"Blob.Paced": func(req *fxProbeReq, body io.Reader, resp *fxSum) error {
			p, err := pr.get(req.ID)
			if err != nil {
				return err
			}
			h := sha256.New()
			n, err := io.CopyN(h, body, req.First)
			if err != nil {
				return native.Errorf(native.CodeInvalidArgument, "reading the first %d bytes: %v", req.First, err)
			}
			close(p.started) // the test sends the rest only now
			m, err := io.Copy(h, body)
			*resp = fxSum{Size: n + m, SHA256: hex.EncodeToString(h.Sum(nil))}
			return err
		},
		"Blob.File": func(req *fxFile, out *io.Reader) error {
			f, err := os.Open(req.Path)
			if err != nil {
				return native.NewError(native.CodeNotFound, err)
			}
			*out = f
			return nil
		},
		"Blob.Refuse": func(body io.Reader, resp *fxSum) error {
			return native.Errorf(native.CodePermissionDenied, "uploads refused")
		},
		"Slow.Wait": func(ctx context.Context, req *fxProbeReq, resp *fxEmpty) error {
			p, err := pr.get(req.ID)
			if err != nil {
				return err
			}
			p.deadline, p.hasDL = ctx.Deadline()
			close(p.started)
			<-ctx.Done()
			p.err = ctx.Err()
			close(p.done)
			return ctx.Err()
		},
		"Slow.Stream": func(ctx context.Context, req *fxProbeReq, out *io.Reader) error {
			p, err := pr.get(req.ID)
			if err != nil {
				return err
			}
			*out = &stallReader{ctx: ctx, p: p}
			return nil
		},
	}
	// Every endpoint without a request stream is safe (read-only) but
	// Tally, which counts its calls.
	for name, fn := range eps {
		var decl []native.EndpointOption
		if !slices.Contains([]string{"Blob.Upload", "Blob.Put", "Blob.Copy", "Blob.Paced", "Blob.Refuse"}, name) {
			decl = append(decl, native.Safe())
		}
		if err := srv.Register(name, fn, decl...); err != nil {
			return err
		}
	}
	return srv.Register("Values.Tally", func(resp *int64) error {
		*resp = pr.tally.Add(1)
		return nil
	})
}

// stallReader yields one chunk, then blocks until its context ends and
// records that.
type stallReader struct {
	ctx  context.Context
	p    *probe
	sent bool
}

// stallChunk is what Slow.Stream sends before it stalls.
var stallChunk = []byte("first chunk, then nothing")

func (s *stallReader) Read(b []byte) (int, error) {
	if !s.sent {
		s.sent = true
		return copy(b, stallChunk), nil
	}
	close(s.p.started)
	<-s.ctx.Done()
	s.p.err = s.ctx.Err()
	close(s.p.done)
	return 0, s.ctx.Err()
}

func toMD(m map[string]string) native.Metadata {
	md := native.Metadata{}
	for k, v := range m {
		md.Set(k, v)
	}
	return md
}

// env is one gateway over one backend, with its front doors running.
type env struct {
	name   string // "local" or "remote"
	srv    *native.Server
	probes *probes
	gw     *Gateway
	addr   string // gRPC, TCP
	conn   *grpc.ClientConn
	http   *httptest.Server

	evMu     sync.Mutex
	events   []CallEvent
	evNotify chan struct{} // signalled after each event
}

// backendKinds are the two ways a gateway reaches the fixture server.
var backendKinds = []string{"local", "remote"}

// eachBackend runs fn in a subtest per backend kind, each with a fresh
// fixture.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env), opts ...Option) {
	for _, kind := range backendKinds {
		t.Run(kind, func(t *testing.T) {
			fn(t, newEnv(t, kind, opts...))
		})
	}
}

// newEnv builds the fixture server and a gateway over backend kind.
func newEnv(t testing.TB, kind string, opts ...Option) *env {
	t.Helper()
	e := &env{name: kind, srv: native.NewServer(), probes: &probes{m: map[string]*probe{}}, evNotify: make(chan struct{}, 1)}
	if err := register(e.srv, e.probes); err != nil {
		t.Fatal(err)
	}
	var backend Backend
	switch kind {
	case "local":
		backend = Local(e.srv)
	case "remote":
		addr := serveNative(t, e.srv)
		backend = Remote(dialPool(addr))
		t.Cleanup(func() { backend.Close() })
	default:
		t.Fatalf("unknown backend %q", kind)
	}
	opts = append([]Option{WithCallObserver(func(ev CallEvent) {
		e.evMu.Lock()
		e.events = append(e.events, ev)
		e.evMu.Unlock()
		select {
		case e.evNotify <- struct{}{}:
		default:
		}
	})}, opts...)
	gw, err := New(context.Background(), backend, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	e.addr, e.conn = serveGRPC(t, gw)
	e.http = httptest.NewServer(gw.HTTPHandler())
	t.Cleanup(e.http.Close)
	return e
}

// serveNative serves srv on a loopback TCP port until the test ends.
func serveNative(t testing.TB, srv *native.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, native.ErrServerClosed) {
			t.Errorf("native Serve: %v", err)
		}
	})
	return l.Addr().String()
}

func dialPool(addr string, opts ...native.Option) *native.Pool {
	return native.NewPool(func(ctx context.Context) (*native.Client, error) {
		return native.Dial(ctx, "tcp", addr, opts...)
	}, 8)
}

// serveGRPC serves g's gRPC server on a loopback TCP port and returns the
// address and a client connection to it.
func serveGRPC(t testing.TB, g *Gateway) (string, *grpc.ClientConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := g.NewGRPCServer()
	done := make(chan struct{})
	go func() { defer close(done); gs.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		<-done
	})
	return l.Addr().String(), conn
}

// callEvents returns the observer's events so far.
func (e *env) callEvents() []CallEvent {
	e.evMu.Lock()
	defer e.evMu.Unlock()
	return append([]CallEvent(nil), e.events...)
}

// freeAddr returns a loopback TCP address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// deadBackend serves srv's schema but calls through a pool dialing addr,
// where nothing listens.
type deadBackend struct {
	*native.Pool
	srv *native.Server
}

func (d deadBackend) Schema(context.Context) (*native.Schema, error) { return d.srv.Schema() }
