package native

import (
	"encoding/json"
	"io"
)

// CallOption configures one call.
type CallOption interface{ applyCall(*callOpts) }

type callOptionFunc func(*callOpts)

func (f callOptionFunc) applyCall(o *callOpts) { f(o) }

type callOpts struct {
	md      Metadata
	header  *Metadata
	trailer *Metadata
	// rangeSpec, ifRange and head shape a stream response; info receives
	// what it announces (streaminfo.go).
	rangeSpec, ifRange string
	head               bool
	info               *StreamInfo
}

// Range asks for part of a response stream, in HTTP's syntax: "bytes=0-99",
// "bytes=100-" or "bytes=-500" (the last 500). ifRange, an entity tag or an
// HTTP date, makes it conditional: the whole stream comes when it does not
// match the resource. Handlers that serve ranges (ServeContent, *os.File
// streams) answer with the part and announce it in StreamInfo; others
// answer the whole stream, so the caller checks Info.
func Range(spec, ifRange string) CallOption {
	return callOptionFunc(func(o *callOpts) { o.rangeSpec, o.ifRange = spec, ifRange })
}

// HeadOnly asks for what a stream response announces (Info) and its
// metadata, without the stream, as HTTP's HEAD does: the stream returned
// ends at once.
func HeadOnly() CallOption { return callOptionFunc(func(o *callOpts) { o.head = true }) }

// Info stores what a stream response announces of itself in *info when
// the response header arrives; Length is -1 when it announces nothing.
func Info(info *StreamInfo) CallOption { return infoOption{info} }

// WithMetadata sends md as the call's request metadata; the handler reads
// it with IncomingMetadata.
func WithMetadata(md Metadata) CallOption {
	return callOptionFunc(func(o *callOpts) { o.md = o.md.merge(md) })
}

// Header stores the response metadata in *md when the response header
// arrives.
func Header(md *Metadata) CallOption { return headerOption{md} }

// Trailer stores the trailer metadata in *md: when the call returns for a
// JSON response, and before the stream's reader returns io.EOF for a stream.
func Trailer(md *Metadata) CallOption { return trailerOption{md} }

// Header, Trailer and Info return structs of one pointer, which an
// interface holds without an allocation (a closure would cost one per
// option per call).
type (
	headerOption  struct{ md *Metadata }
	trailerOption struct{ md *Metadata }
	infoOption    struct{ info *StreamInfo }
)

func (h headerOption) applyCall(o *callOpts)  { o.header = h.md }
func (t trailerOption) applyCall(o *callOpts) { o.trailer = t.md }
func (i infoOption) applyCall(o *callOpts)    { o.info = i.info }

// StreamRequest is a request with a JSON part followed by a byte stream, for
// endpoints whose handler takes both a request value and an io.Reader:
//
//	c.Call(ctx, "Store.Write", native.StreamRequest{JSON: &WriteRequest{Name: "x"}, Body: f}, &resp)
//
// A nil JSON sends a stream only, like passing Body itself. For endpoints
// whose handler takes a request value and a *Receiver, Messages is the
// caller's *Sender (Body is then unused):
//
//	var tx native.Sender[Line]
//	c.Call(ctx, "Log.Append", native.StreamRequest{JSON: &AppendRequest{Log: "x"}, Messages: &tx}, &resp)
type StreamRequest struct {
	JSON     any
	Body     io.Reader
	Messages any // a *Sender[T]
}

// requestParts splits a Call's req argument into its parts.
func requestParts(req any) (kind BodyKind, value any, body io.Reader) {
	switch r := req.(type) {
	case nil:
		return BodyNone, nil, nil
	case StreamRequest:
		return streamRequestKind(r)
	case *StreamRequest:
		return streamRequestKind(*r)
	case io.Reader:
		return BodyStream, nil, r
	case senderBinder:
		return BodyMessages, nil, nil
	}
	return BodyJSON, req, nil
}

func (r StreamRequest) messages() any { return r.Messages }

// messageParts returns the *Sender a Call's req sends and the *Receiver
// its resp receives, if any.
func messageParts(req, resp any) (senderBinder, receiverBinder) {
	var tx senderBinder
	switch r := req.(type) {
	case senderBinder:
		tx = r
	case StreamRequest:
		tx, _ = r.Messages.(senderBinder)
	case *StreamRequest:
		tx, _ = r.Messages.(senderBinder)
	}
	rx, _ := resp.(receiverBinder)
	return tx, rx
}

// encodeRequestJSON returns the JSON of a request value: json.Marshal's,
// except that a json.RawMessage, or a pointer to one, goes as it is (the
// server reads it as strictly either way), without the copy and compaction
// json.Marshal makes. It may lie in a pooled buffer (jsonScratch).
func encodeRequestJSON(value any) (jsonScratch, error) {
	switch raw := value.(type) {
	case json.RawMessage:
		if len(raw) > 0 {
			return jsonScratch{b: raw}, nil
		}
	case *json.RawMessage:
		if raw != nil && len(*raw) > 0 {
			return jsonScratch{b: *raw}, nil
		}
	}
	return marshalScratch(value)
}

func streamRequestKind(r StreamRequest) (BodyKind, any, io.Reader) {
	if r.Messages != nil {
		if r.JSON == nil {
			return BodyMessages, nil, nil
		}
		return BodyJSONMessages, r.JSON, nil
	}
	body := r.Body
	if body == nil {
		body = eofReader{}
	}
	if r.JSON == nil {
		return BodyStream, nil, body
	}
	return BodyJSONStream, r.JSON, body
}

// responseKind says what a Call's resp argument expects.
func responseKind(resp any) (BodyKind, *io.ReadCloser, *io.Reader) {
	switch r := resp.(type) {
	case *io.ReadCloser:
		return BodyStream, r, nil
	case *io.Reader:
		return BodyStream, nil, r
	case receiverBinder:
		return BodyMessages, nil, nil
	}
	return BodyJSON, nil, nil
}
