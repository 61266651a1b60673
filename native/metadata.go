package native

import (
	"context"
	"strings"
)

// Metadata is string key/values carried by a call in both directions, like
// gRPC metadata: request metadata in the request header, response metadata
// in the response header, trailer metadata after a response stream. Keys are
// lower-case; the methods lower-case the keys they are given.
type Metadata map[string][]string

// Get returns the first value for key, or "".
func (md Metadata) Get(key string) string {
	if v := md[strings.ToLower(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values for key.
func (md Metadata) Values(key string) []string { return md[strings.ToLower(key)] }

// Set replaces the values for key.
func (md Metadata) Set(key string, values ...string) { md[strings.ToLower(key)] = values }

// Add appends values for key.
func (md Metadata) Add(key string, values ...string) {
	k := strings.ToLower(key)
	md[k] = append(md[k], values...)
}

// Clone returns a deep copy.
func (md Metadata) Clone() Metadata {
	if md == nil {
		return nil
	}
	out := make(Metadata, len(md))
	for k, v := range md {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// merge adds every value of src to md, allocating md if needed.
func (md Metadata) merge(src Metadata) Metadata {
	if len(src) == 0 {
		return md
	}
	if md == nil {
		md = make(Metadata, len(src))
	}
	for k, v := range src {
		k = strings.ToLower(k)
		md[k] = append(md[k], v...)
	}
	return md
}

type callInfoKey struct{}

// callInfo is what a handler's context knows about its call.
type callInfo struct {
	// req is the request's header: its method (the endpoint), metadata,
	// Range and If-Range (RequestedRange). The call's own, not a copy: a
	// server call holds both.
	req     *requestHeader
	peer    string
	header  Metadata // set by SetHeader
	trailer Metadata // set by SetTrailer
	sent    bool     // response header written: SetHeader is too late
	// msgHeader sends the response header of a handler whose response
	// is a stream of messages (SendHeader); nil for other handlers.
	msgHeader *msgHeader
}

func withCallInfo(ctx context.Context, ci *callInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, ci)
}

func callInfoFrom(ctx context.Context) *callInfo {
	ci, _ := ctx.Value(callInfoKey{}).(*callInfo)
	return ci
}

// IncomingMetadata returns the request metadata of the call a handler's ctx
// belongs to, or nil outside a handler.
func IncomingMetadata(ctx context.Context) Metadata {
	if ci := callInfoFrom(ctx); ci != nil {
		return ci.req.Metadata
	}
	return nil
}

// Method returns the endpoint name of the call a handler's ctx belongs to.
func Method(ctx context.Context) string {
	if ci := callInfoFrom(ctx); ci != nil {
		return ci.req.Method
	}
	return ""
}

// Peer returns the remote address of the connection a handler's call
// arrived on, "local" for in-process calls, or "" when unknown.
func Peer(ctx context.Context) string {
	if ci := callInfoFrom(ctx); ci != nil {
		return ci.peer
	}
	return ""
}

// SetHeader adds md to the response metadata. It must be called from the
// handler before it returns, and before the response header was sent: for
// a handler whose response is a stream of messages, before its first Send
// or SendHeader (after it, SetHeader fails with FAILED_PRECONDITION and
// the handler's metadata goes in the trailer, SetTrailer). It fails outside
// a handler.
func SetHeader(ctx context.Context, md Metadata) error {
	ci := callInfoFrom(ctx)
	if ci == nil {
		return Errorf(CodeInternal, "SetHeader called outside a handler")
	}
	if ci.sent {
		return Errorf(CodeFailedPrecondition, "SetHeader called after the response header was sent")
	}
	ci.header = ci.header.merge(md)
	return nil
}

// SendHeader sends the response header of a handler whose response is a
// stream of messages now, with the metadata SetHeader added, instead of
// with its first message. The caller's Call (or, for a bidi caller, its
// first Recv) returns when the header arrives, so a handler that waits
// before its first message, such as a watch that registered and waits for
// events, calls it to tell its caller that the call was taken. Until the
// header is sent, an error the handler returns is an ordinary error answer
// (no stream began); after it, the error ends the stream.
//
// SendHeader does nothing once the header went out; it returns the error
// of sending it (the caller gave up, the connection broke), as Send would.
// It fails with FAILED_PRECONDITION in a handler whose response is not a
// stream of messages, and outside a handler.
func SendHeader(ctx context.Context) error {
	ci := callInfoFrom(ctx)
	if ci == nil {
		return Errorf(CodeInternal, "SendHeader called outside a handler")
	}
	if ci.msgHeader == nil {
		return Errorf(CodeFailedPrecondition, "SendHeader called in the handler of %q, whose response is not a stream of messages", ci.req.Method)
	}
	return ci.msgHeader.open()
}

// SetTrailer adds md to the trailer metadata. For a response stream the
// trailer is sent after the stream, so a stream's reader may call it until
// it returns io.EOF; otherwise it must be called before the handler returns.
func SetTrailer(ctx context.Context, md Metadata) error {
	ci := callInfoFrom(ctx)
	if ci == nil {
		return Errorf(CodeInternal, "SetTrailer called outside a handler")
	}
	ci.trailer = ci.trailer.merge(md)
	return nil
}
