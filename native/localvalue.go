package native

import (
	"context"
	"reflect"
)

// Value calls: a caller in this process that has already built the
// handler's own request value hands it over, and takes the handler's
// response value as it is, with no JSON in between. The gateway's gRPC
// face does so for an in-process backend: it decodes protobuf wire bytes
// straight into the request struct and encodes the response struct
// straight to wire bytes, where the JSON path costs a unary call about a
// tenth of its CPU time.

// ValueInfo describes an endpoint a LocalClient can call with values
// (CallValue): one whose handler takes a JSON request and answers a JSON
// response, without streams or messages.
type ValueInfo struct {
	// Request and Response are the types CallValue takes and returns:
	// pointers to the handler's request and response types, whether the
	// handler takes its request as a value or a pointer.
	Request, Response reflect.Type
	// MaxBodySize is the server's limit on a request's JSON
	// (WithMaxBodySize), which CallValue does not apply: a caller that
	// must refuse what a JSON call would refuse checks it.
	MaxBodySize int64
}

// ValueInfo returns what CallValue takes and returns for method, and false
// when method is unknown or its handler does not take a JSON request and
// answer a JSON response.
func (lc *LocalClient) ValueInfo(method string) (ValueInfo, bool) {
	h := lc.s.lookup(method)
	if h == nil || !h.takesValues() {
		return ValueInfo{}, false
	}
	return ValueInfo{Request: reflect.PointerTo(h.reqType), Response: reflect.PointerTo(h.respType), MaxBodySize: lc.s.cfg.lim.maxBodySize}, true
}

// takesValues reports whether h takes a JSON request and answers a JSON
// response, and nothing else.
func (h *handler) takesValues() bool {
	return h.reqType != nil && h.respType != nil && h.request == BodyJSON && h.response == BodyJSON &&
		h.reqRecv == nil && h.respSend == nil
}

// ErrValueType is CallValue's error, returned before anything runs, for a
// request value that is not a non-nil pointer of the type ValueInfo gives
// or for an endpoint that takes no values (unknown, or registered again
// with other types since the caller asked): the caller may make the call
// with JSON instead.
var ErrValueType = &Error{code: CodeFailedPrecondition, msg: "the request value is not of the endpoint's request type"}

// CallValue calls method as Call does, handing req, a pointer to a value of
// the handler's request type (ValueInfo.Request), to the handler as it is:
// the handler may keep it, and the caller must not use it again. It
// returns the handler's response value as the handler left it (of type
// ValueInfo.Response), for the caller to read, not change. No JSON is
// made or read, so nothing checks req against the server's limits or its
// strict JSON rule: the caller must build only values a JSON request
// could have decoded to. Header, Trailer and WithMetadata work as in Call,
// and so do the server's CallHook, its handler context and its errors.
func (lc *LocalClient) CallValue(ctx context.Context, method string, req any, opts ...CallOption) (any, error) {
	return lc.call(ctx, method, req, nil, true, opts)
}

// takesValue reports whether h takes v as the request of a CallValue
// call: a non-nil pointer to its request type.
func (h *handler) takesValue(v any) bool {
	t := reflect.TypeOf(v)
	return h.takesValues() && t != nil && t.Kind() == reflect.Pointer && t.Elem() == h.reqType && !reflect.ValueOf(v).IsNil()
}
