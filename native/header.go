package native

import "fmt"

// requestHeader is the JSON payload of a request's HEADER frame.
type requestHeader struct {
	// Method is the endpoint name.
	Method string `json:"method"`
	// Body says which parts follow the header.
	Body BodyKind `json:"body"`
	// Accept is the response body kind the caller expects: json or stream.
	Accept BodyKind `json:"accept"`
	// Timeout is the time left until the caller's deadline, in
	// nanoseconds; 0 means no deadline.
	Timeout int64 `json:"timeout,omitempty"`
	// Metadata is the request metadata.
	Metadata Metadata `json:"md,omitempty"`
	// Range asks for part of a response stream, as an HTTP Range header
	// does ("bytes=0-99"); IfRange makes it conditional, as HTTP's
	// If-Range does (see RequestedRange).
	Range   string `json:"range,omitempty"`
	IfRange string `json:"if_range,omitempty"`
	// Head asks for the response header of a stream response, without
	// the stream: the server sends its TRAILER right after its HEADER.
	Head bool `json:"head,omitempty"`
}

// responseHeader is the JSON payload of a response's HEADER frame.
type responseHeader struct {
	Code    Code   `json:"code"`
	Message string `json:"message,omitempty"`
	// Body says which parts follow; none when Code is not OK.
	Body     BodyKind `json:"body"`
	Metadata Metadata `json:"md,omitempty"`
	// Trailer is the trailer metadata of a response without a stream.
	Trailer Metadata `json:"trailer,omitempty"`
	// Stream is what a stream response announces of itself (StreamInfo).
	Stream *streamInfo `json:"stream,omitempty"`
}

// trailer is the JSON payload of a TRAILER frame, which ends a stream.
type trailer struct {
	Code     Code     `json:"code"`
	Message  string   `json:"message,omitempty"`
	Metadata Metadata `json:"md,omitempty"`
}

func (h *requestHeader) validate() error {
	if h.Method == "" {
		return fmt.Errorf("request header has no method")
	}
	if !h.Body.valid() {
		return fmt.Errorf("request header has invalid body kind %q", h.Body)
	}
	if h.Accept != BodyJSON && h.Accept != BodyStream && h.Accept != BodyMessages {
		return fmt.Errorf("request header has invalid accept kind %q, want json, stream or messages", h.Accept)
	}
	if h.Timeout < 0 {
		return fmt.Errorf("request header has negative timeout %d", h.Timeout)
	}
	return nil
}

func (h *responseHeader) validate() error {
	if !h.Body.valid() {
		return fmt.Errorf("response header has invalid body kind %q", h.Body)
	}
	if h.Code != CodeOK && h.Body != BodyNone {
		return fmt.Errorf("response header with code %v announces body %q, want none", h.Code, h.Body)
	}
	if h.Code == CodeOK && h.Body != BodyJSON && h.Body != BodyStream && h.Body != BodyMessages {
		return fmt.Errorf("response header with code OK announces body %q, want json, stream or messages", h.Body)
	}
	if h.Stream != nil {
		if h.Body != BodyStream {
			return fmt.Errorf("response header with body %q announces a stream", h.Body)
		}
		return h.Stream.validate()
	}
	return nil
}
