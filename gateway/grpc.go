package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"io"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // requests compressed with gzip; answered in kind
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"

	"github.com/framegate/framegate/internal/clip"
)

// NewGRPCServer returns a gRPC server that serves every native endpoint of
// the backend (through grpc.UnknownServiceHandler, so endpoints can change
// while it runs), server reflection v1 and v1alpha, grpc.health.v1 and the
// gateway's own GatewayService. Streams run on a pool of 4 x GOMAXPROCS
// worker goroutines (grpc.NumStreamWorkers; opts may set another number),
// whose stacks have grown to what a call through the gateway needs: a new
// goroutine per stream spent about 6% of a unary call's CPU growing its
// stack.
//
// A connection's frames are written in batches of up to grpcWriteBuffer
// bytes, from a buffer shared by all connections and held only while a
// batch is written (grpc.WriteBufferSize, grpc.SharedWriteBuffer; opts may
// set others).
func (g *Gateway) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.NumStreamWorkers(uint32(4 * goruntime.GOMAXPROCS(0))),
		grpc.WriteBufferSize(grpcWriteBuffer),
		grpc.SharedWriteBuffer(true),
	}, opts...)
	opts = append(opts, grpc.UnknownServiceHandler(g.handleWireStream), grpc.ForceServerCodecV2(newChunkCodec()))
	s := grpc.NewServer(opts...)
	g.RegisterServices(s)
	return s
}

// grpcWriteBuffer is the gRPC server's write batch. grpc-go's default,
// 32 KiB, is one write(2) per two 16 KiB DATA frames: a download through the
// gateway spent a fifth of its CPU in those writes. With 1 MiB the
// gateway/grpc/tcp bench row ran 1.62 GiB/s (1.37-1.66) against 1.47
// (1.46-1.51) in the same run, and 512 KiB 1.48. Shared, the buffer costs
// memory only while a connection is written to; a connection whose client
// does not read holds one until grpc-go's flow control stops it (the
// client's window, 64 KiB by default, well below it).
const grpcWriteBuffer = 1 << 20

// handleStream serves one call of a synthesized method, on a server with
// any codec (StreamHandler).
func (g *Gateway) handleStream(_ any, ss grpc.ServerStream) error { return g.serveStream(ss, false) }

// handleWireStream is handleStream on a server whose codec is chunkCodec
// (NewGRPCServer).
func (g *Gateway) handleWireStream(_ any, ss grpc.ServerStream) error { return g.serveStream(ss, true) }

func (g *Gateway) serveStream(ss grpc.ServerStream, wire bool) error {
	start := time.Now()
	full, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "gateway: no method in the stream")
	}
	m := g.set.Load().lookup(full)
	if m == nil {
		return status.Errorf(codes.Unimplemented, "gateway: unknown method %s", clip.Quote(full))
	}
	ev := CallEvent{Endpoint: m.endpoint.Name, Protocol: "grpc"}
	err := g.serveGRPC(ss, m, &ev, wire)
	if err == nil { // OK, without building its status
		if g.cfg.observe != nil {
			ev.Duration = time.Since(start)
			g.cfg.observe(ev)
		}
		return nil
	}
	st := grpcStatus(err)
	if g.cfg.observe != nil {
		ev.Duration, ev.Code, ev.Err = time.Since(start), uint32(st.Code()), err
		g.cfg.observe(ev)
	}
	return st.Err()
}

// incomingMD is the request metadata the allowlist may pass. With exact
// keys only (the default), it looks each up rather than copying the whole
// metadata, which cost a call 6% of its CPU time.
func (g *Gateway) incomingMD(ctx context.Context) metadata.MD {
	if !g.cfg.exactAllow {
		md, _ := metadata.FromIncomingContext(ctx)
		return md
	}
	var md metadata.MD
	for _, k := range g.cfg.allow {
		if vs := metadata.ValueFromIncomingContext(ctx, k); len(vs) > 0 {
			if md == nil {
				md = metadata.MD{}
			}
			md[k] = vs
		}
	}
	return md
}

// callOptions passes the allowed request metadata and collects the
// response metadata.
func (g *Gateway) callOptions(md metadata.MD, hdr, trl *native.Metadata) []native.CallOption {
	return g.appendCallOptions(nil, md, hdr, trl)
}

// appendCallOptions is callOptions appending to dst, which a caller may
// hold in an allocation of its own (grpcCall).
func (g *Gateway) appendCallOptions(dst []native.CallOption, md metadata.MD, hdr, trl *native.Metadata) []native.CallOption {
	var out native.Metadata
	for k, vs := range md {
		if g.cfg.allowed(k) {
			if out == nil {
				out = native.Metadata{}
			}
			out[k] = vs
		}
	}
	if out != nil {
		dst = append(dst, native.WithMetadata(out))
	}
	return append(dst, native.Header(hdr), native.Trailer(trl))
}

// toGRPCMD converts native metadata to gRPC metadata, dropping keys gRPC
// reserves and pairs gRPC cannot carry (grpc-go refuses a whole header or
// trailer for one of them).
func toGRPCMD(md native.Metadata) metadata.MD {
	if len(md) == 0 {
		return nil
	}
	out := metadata.MD{}
	for k, vs := range md {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, "grpc-") || k == "content-type" || k == "te" || !validMDKey(k) {
			continue
		}
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") || validMDValue(v) {
				out[k] = append(out[k], v)
			}
		}
	}
	return out
}

// validMDKey reports whether k is a valid gRPC metadata key: [0-9a-z-_.]+.
func validMDKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validMDValue reports whether v can be the value of a text (non "-bin")
// gRPC metadata key: printable ASCII.
func validMDValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// grpcCall holds what a call's options and messages point at.
type grpcCall struct {
	hdr, trl native.Metadata
	in       wireMsg
	req      json.RawMessage
	resp     json.RawMessage
	out      wireOut
	opts     [4]native.CallOption // WithMetadata, Header, Trailer, Info
}

// serveGRPC serves a call of m; wire says the server's codec is chunkCodec,
// which takes wireMsg and wireOut messages.
func (g *Gateway) serveGRPC(ss grpc.ServerStream, m *method, ev *CallEvent, wire bool) error {
	ctx := ss.Context()
	// What the call's options and messages point at, in one allocation.
	c := new(grpcCall)
	hdr, trl := &c.hdr, &c.trl
	opts := g.appendCallOptions(c.opts[:0], g.incomingMD(ctx), hdr, trl)
	trlReady := false // trl may be read: see settled
	defer func() {
		if trlReady {
			ss.SetTrailer(toGRPCMD(*trl))
		}
	}()

	if m.reqMsg != nil || m.respMsg != nil {
		var err error
		trlReady, err = g.serveMessages(ss, m, c, opts, ev, wire)
		return err
	}
	// A request that is one JSON message goes from its wire bytes to JSON
	// directly (wirejson.go) when the codec is chunkCodec.
	direct := wire && !m.clientStreaming && m.req != nil
	var req any
	var first proto.Message
	if vb, ok := g.backend.(valueBackend); ok && direct && !m.serverStreaming {
		if vc := m.valuesOf(vb); vc.req != nil {
			var err error
			trlReady, err = g.serveValue(ss, m, c, vc, vb, opts)
			return err
		}
	}
	switch {
	case direct:
		b, err := recvRequestJSON(ss, m, &c.in, g.cfg.bodyTimeout)
		if err != nil {
			return err
		}
		c.req = b
		req = &c.req // a pointer: boxing the slice would allocate
	case m.clientStreaming && isHTTPBody(m.in.FullName()):
		first = &httpbody.HttpBody{}
	default:
		first = m.newRequest()
	}
	if !direct {
		if err := recvRequest(ss, m, first, g.cfg.bodyTimeout); err != nil {
			if err == io.EOF && m.clientStreaming {
				first = nil // an upload of nothing
			} else {
				return err
			}
		}
	}
	if m.req != nil && !direct {
		if first == nil {
			return status.Errorf(codes.InvalidArgument, "gateway: %s: the first message must carry the request", m.fullMethod)
		}
		b, err := m.requestJSON(first.ProtoReflect())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		req = json.RawMessage(b)
	}
	if m.clientStreaming {
		up := &grpcUpload{ss: ss, m: m, timeout: g.cfg.bodyTimeout}
		if first != nil {
			up.pending = chunkOf(m, first)
		}
		body := &callBody{r: up}
		defer func() { ev.BytesIn = body.end() }()
		req = native.StreamRequest{JSON: req, Body: body}
	}
	if !m.serverStreaming {
		var err error
		trlReady, err = g.callUnaryWith(ss, m, c, req, opts, wire)
		return err
	}
	var rc io.ReadCloser
	var info native.StreamInfo
	if err := g.backend.Call(ctx, m.endpoint.Name, req, &rc, append(opts, native.Info(&info))...); err != nil {
		if trlReady = settled(ctx, err); trlReady {
			ss.SetHeader(toGRPCMD(withoutStreamKeys(*hdr)))
		}
		return err
	}
	defer rc.Close()
	// What the stream announced goes in the response metadata; the
	// backend's own length or range keys, which could contradict it, do
	// not.
	if err := ss.SendHeader(toGRPCMD(streamMetadata(&info, withoutStreamKeys(*hdr)))); err != nil {
		return err
	}
	ended, err := g.sendStream(ss, m, rc, hdr.Get("content-type"), ev)
	trlReady = ended && ctx.Err() == nil
	return err
}

// callUnary makes the unary call of m with the request JSON in c.req, and
// sends its response; trlReady is serveGRPC's.
func (g *Gateway) callUnary(ss grpc.ServerStream, m *method, c *grpcCall, opts []native.CallOption) (trlReady bool, err error) {
	return g.callUnaryWith(ss, m, c, &c.req, opts, true)
}

// callUnaryWith is callUnary with request req, on a server whose codec is
// chunkCodec when wire is set.
func (g *Gateway) callUnaryWith(ss grpc.ServerStream, m *method, c *grpcCall, req any, opts []native.CallOption, wire bool) (trlReady bool, err error) {
	ctx := ss.Context()
	err = g.backend.Call(ctx, m.endpoint.Name, req, &c.resp, opts...)
	if trlReady = settled(ctx, err); trlReady {
		ss.SetHeader(toGRPCMD(c.hdr))
	}
	if err != nil {
		return trlReady, err
	}
	return trlReady, g.sendResponse(ss, m, c, wire)
}

// settled reports whether a call that returned err ran to its end, so that
// the native client has written the response metadata into the Header and
// Trailer destinations. A call given up because ctx ended has not: a
// remote client's reader goroutine may still write them after Call
// returned (or after a stream was closed early), so they must not be read.
func settled(ctx context.Context, err error) bool { return err == nil || ctx.Err() == nil }

// sendStream sends a response stream as chunks, each in one message, as
// they arrive. ended says the stream itself ended (io.EOF or its error),
// rather than the sending.
func (g *Gateway) sendStream(ss grpc.ServerStream, m *method, r io.Reader, contentType string, ev *CallEvent) (ended bool, err error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	httpBody := isHTTPBody(m.out.FullName())
	field := dataField(m)
	budget := newChunkBudget()
	first := true
	for {
		// Each chunk is read into a buffer of its own, which the message
		// hands to grpc-go (chunkcodec.go); at most maxStreamChunks are
		// out at a time.
		bp, err := budget.get(ss.Context(), g.cfg.chunkSize)
		if err != nil {
			return false, err
		}
		n, rerr := r.Read(*bp)
		if n > 0 || (first && rerr == io.EOF) {
			*bp = (*bp)[:n]
			ct, msg := "", proto.Message(nil)
			if httpBody {
				hb := &httpbody.HttpBody{Data: *bp}
				if first {
					ct, hb.ContentType = contentType, contentType
				}
				msg = hb
			} else {
				msg = m.responseChunk(*bp)
			}
			first = false
			cm := newChunkMsg(msg, field, ct, bp, budget)
			err := ss.SendMsg(cm)
			cm.release()
			if err != nil {
				return false, err
			}
			ev.BytesOut += int64(n)
		} else {
			budget.Put(bp)
		}
		if rerr == io.EOF {
			return true, nil
		}
		if rerr != nil {
			return true, rerr
		}
	}
}

// isHTTPBody reports whether n is google.api.HttpBody, which the gateway
// sends and receives as the concrete generated type (faster than dynamicpb).
func isHTTPBody(n protoreflect.FullName) bool { return n == "google.api.HttpBody" }

// callBody is a request stream handed to the backend. A remote backend's
// client reads it from its own goroutine and may go on after Call returned
// (when the handler answered without reading the whole stream), while its
// source, the gRPC stream or the HTTP request body, belongs to a handler
// that has returned. Once the call has ended, Read fails without touching
// the source; the byte count is safe to read at any time.
type callBody struct {
	r     io.Reader
	n     atomic.Int64
	ended atomic.Bool
}

// errCallEnded is what a request stream reads after its call ended.
var errCallEnded = native.Errorf(native.CodeCanceled, "gateway: the call has ended")

func (b *callBody) Read(p []byte) (int, error) {
	if b.ended.Load() {
		return 0, errCallEnded
	}
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// end marks the call ended and returns the bytes read so far.
func (b *callBody) end() int64 {
	b.ended.Store(true)
	return b.n.Load()
}

// grpcUpload reads a client stream's chunks as the native request stream.
type grpcUpload struct {
	ss      grpc.ServerStream
	m       *method
	timeout time.Duration // of each message (recvWithTimeout)
	pending []byte
	err     error
}

func (u *grpcUpload) Read(p []byte) (int, error) {
	for len(u.pending) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		var msg proto.Message
		if isHTTPBody(u.m.in.FullName()) {
			msg = &httpbody.HttpBody{}
		} else {
			msg = u.m.newRequest()
		}
		if err := recvRequest(u.ss, u.m, msg, u.timeout); err != nil {
			if err != io.EOF {
				err = native.NewError(native.Code(status.Code(err)), err)
			}
			u.err = err
			continue
		}
		if u.m.req != nil && u.m.hasRequest(msg.ProtoReflect()) {
			u.err = native.Errorf(native.CodeInvalidArgument, "gateway: %s: only the first message may carry the request", u.m.fullMethod)
			continue
		}
		u.pending = chunkOf(u.m, msg)
	}
	n := copy(p, u.pending)
	u.pending = u.pending[n:]
	return n, nil
}

// recvRequest receives the next request message of m into msg, waiting at
// most d (recvWithTimeout), and refuses one with fields the schema does not
// know or bytes that are not protobuf.
func recvRequest(ss grpc.ServerStream, m *method, msg proto.Message, d time.Duration) error {
	cm := &checkedMsg{Message: msg}
	if err := recvWithTimeout(ss, cm, d); err != nil {
		return err
	}
	refused := cm.refused
	if !cm.checked {
		refused = unknownField(msg.ProtoReflect())
	}
	if refused != nil {
		return status.Error(codes.InvalidArgument, m.wrap("request", refused).Error())
	}
	return nil
}

// recvRequestJSON receives the request message of m, which must be one
// JSON message, and returns its native JSON, refusing fields the schema
// does not know and bytes that are not protobuf.
func recvRequestJSON(ss grpc.ServerStream, m *method, wm *wireMsg, d time.Duration) ([]byte, error) {
	if err := recvWithTimeout(ss, wm, d); err != nil {
		return nil, err
	}
	return requestJSONOf(m, wm)
}

// requestJSONOf is recvRequestJSON for the message wm received; it frees
// wm.
func requestJSONOf(m *method, wm *wireMsg) ([]byte, error) {
	defer wm.free()
	b, err := m.requestJSONFromWire(wm.bytes())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return b, nil
}

// chunkOf returns the stream bytes a request message carries.
func chunkOf(m *method, msg proto.Message) []byte {
	if hb, ok := msg.(*httpbody.HttpBody); ok {
		return hb.GetData()
	}
	return m.requestChunk(msg.ProtoReflect())
}

// grpcStatus maps an error to a gRPC status: native codes are gRPC codes.
func grpcStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if hs, ok := errors.AsType[*runtime.HTTPStatusError](err); ok {
		return grpcStatus(hs.Err)
	}
	var ne *native.Error
	if errors.As(err, &ne) {
		c := codes.Code(ne.Code())
		if c == codes.OK {
			c = codes.Unknown // an error is never OK (native.Errorf(CodeOK, ...))
		}
		return status.New(c, ne.Message())
	}
	if s, ok := status.FromError(err); ok {
		return s
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, err.Error())
	}
	return status.New(codes.Unknown, err.Error())
}
