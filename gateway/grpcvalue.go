package gateway

// Unary gRPC calls of an in-process backend through native's value calls
// (native.LocalClient.CallValue): the request goes from its wire bytes
// straight into the handler's struct, the response from the handler's
// struct straight to wire bytes (wirevalue.go).

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/internal/plaintype"
	"github.com/framegate/framegate/native"
)

// valueBackend is a Backend that can call an endpoint with Go values: one
// in this process (Local), or a Router whose backend for the endpoint is.
type valueBackend interface {
	// valueInfo is native.LocalClient.ValueInfo for endpoint.
	valueInfo(endpoint string) (native.ValueInfo, bool)
	// callValue is native.LocalClient.CallValue; it fails with
	// native.ErrValueType, having run nothing, when the endpoint's backend
	// no longer takes values of the type valueInfo gave.
	callValue(ctx context.Context, endpoint string, req any, opts ...native.CallOption) (any, error)
}

func (b localBackend) valueInfo(endpoint string) (native.ValueInfo, bool) {
	return b.LocalClient.ValueInfo(endpoint)
}

func (b localBackend) callValue(ctx context.Context, endpoint string, req any, opts ...native.CallOption) (any, error) {
	return b.LocalClient.CallValue(ctx, endpoint, req, opts...)
}

// valueCodecs are a method's wire codecs for value calls; req is nil when
// the method has none (its types do not match, or its backend takes no
// values).
type valueCodecs struct {
	req, resp *wireStruct
	// maxWire is the longest request that takes the value path: the JSON
	// of a longer one might exceed the backend's body limit, which the JSON
	// path applies (fits).
	maxWire int
}

// noValues is the valueCodecs of a method that takes the JSON path.
var noValues = &valueCodecs{}

// valuesOf returns m's value codecs for vb, building them on first use.
func (m *method) valuesOf(vb valueBackend) *valueCodecs {
	if vc := m.values.Load(); vc != nil {
		return vc
	}
	vc := noValues
	info, ok := vb.valueInfo(m.endpoint.Name)
	if ok && !m.clientStreaming && !m.serverStreaming && m.req != nil && m.req.msg != nil && m.resp != nil && m.resp.msg != nil {
		req := buildWireStruct(m.req.msg, plaintype.For(info.Request.Elem()))
		resp := buildWireStruct(m.resp.msg, plaintype.For(info.Response.Elem()))
		if req != nil && resp != nil {
			vc = &valueCodecs{req: req, resp: resp, maxWire: maxWireFor(req, info.MaxBodySize)}
		}
	}
	m.values.Store(vc)
	return vc
}

// maxWireFor is the longest request of ws whose JSON is certain to fit in
// limit bytes. The JSON of an empty message is the zero value's, every
// field written (ws.zero at most). Each scalar field the wire holds takes
// at least 2 of its bytes (tag and value), and its JSON at most its name,
// 4 bytes of quotes, colon and comma, and 20 of value (a number; a
// string's bytes are 6 at most each when escaped, of its own bytes on the
// wire), so maxName+32 JSON bytes per wire byte is a bound with room to
// spare; a packed number of 1 byte takes at most 4 ("127,"). A message
// set, or a list element, takes at least 2 wire bytes (tag and length)
// and adds at most its zero value's JSON (maxZero), hence maxName + 32 +
// maxZero per wire byte. It is -1 when not even the empty message fits.
func maxWireFor(ws *wireStruct, limit int64) int {
	if limit < int64(ws.zero) {
		return -1
	}
	k := int64(ws.maxName + 32 + ws.maxZero)
	return int((limit - int64(ws.zero)) / k)
}

// methodValues is what a method holds for value calls (descriptor.go's
// method embeds it).
type methodValues struct {
	values atomic.Pointer[valueCodecs] // nil until valuesOf builds them
}

// serveValue serves a unary call of m through vb's value calls, taking the
// JSON path for what the wire codec declines. trlReady is serveGRPC's.
func (g *Gateway) serveValue(ss grpc.ServerStream, m *method, c *grpcCall, vc *valueCodecs, vb valueBackend, opts []native.CallOption) (trlReady bool, err error) {
	ctx := ss.Context()
	if err := recvWithTimeout(ss, &c.in, g.cfg.bodyTimeout); err != nil {
		return false, err
	}
	wire := c.in.bytes()
	var req any
	ok := len(wire) <= vc.maxWire
	if ok {
		req, ok = safeDecode(vc.req, wire)
	}
	if !ok {
		b, err := requestJSONOf(m, &c.in)
		if err != nil {
			return false, err
		}
		c.req = b
		return g.callUnary(ss, m, c, opts)
	}
	c.in.free()
	resp, err := vb.callValue(ctx, m.endpoint.Name, req, opts...)
	if errors.Is(err, native.ErrValueType) {
		// The endpoint changed types since the codecs were built: this
		// call goes as JSON (req's is the request's), the next builds
		// them again.
		m.values.Store(nil)
		if c.req, err = json.Marshal(req); err != nil {
			return false, status.Error(codes.Internal, err.Error())
		}
		return g.callUnary(ss, m, c, opts)
	}
	if trlReady = settled(ctx, err); trlReady {
		ss.SetHeader(toGRPCMD(c.hdr))
	}
	if err != nil {
		return trlReady, err
	}
	if b, ok := safeEncode(vc.resp, resp); ok {
		c.out.b = b
		return trlReady, ss.SendMsg(&c.out)
	}
	// What the wire codec declines goes the JSON path: the JSON of resp
	// is what the backend would have answered, and the error native's.
	if c.resp, err = json.Marshal(resp); err != nil {
		return trlReady, native.Errorf(native.CodeInternal, "cannot encode the response of %q: %v", m.endpoint.Name, err)
	}
	return trlReady, g.sendResponse(ss, m, c, true)
}

// safeDecode is ws.decode, which declines rather than ending the process
// should it panic on hostile bytes, whatever the bug: the JSON path, with
// its own recover, then reads them. (The fuzz targets call decode itself,
// so that a panic shows.)
func safeDecode(ws *wireStruct, wire []byte) (v any, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
	}()
	return ws.decode(wire)
}

// safeEncode is ws.encode of v into a new buffer, declining should it
// panic.
func safeEncode(ws *wireStruct, v any) (b []byte, ok bool) {
	defer func() {
		if recover() != nil {
			b, ok = nil, false
		}
	}()
	return ws.encode(make([]byte, 0, 256), v)
}
