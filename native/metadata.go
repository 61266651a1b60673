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
	endpoint string
	peer     string
	incoming Metadata
	header   Metadata // set by SetHeader
	trailer  Metadata // set by SetTrailer
	sent     bool     // response header written: SetHeader is too late
	// rangeSpec and ifRange are the request's Range and If-Range
	// (RequestedRange).
	rangeSpec, ifRange string
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
		return ci.incoming
	}
	return nil
}

// Method returns the endpoint name of the call a handler's ctx belongs to.
func Method(ctx context.Context) string {
	if ci := callInfoFrom(ctx); ci != nil {
		return ci.endpoint
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
// handler before it returns; it fails outside a handler.
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
