package gateway

// This file is the transcoder's entry points, per method: proto request ->
// native JSON for the backend, native JSON response -> proto, plus the
// reverse directions (for tests and for callers that hold native JSON
// requests) and the stream-chunk helpers. See encode.go and decode.go for
// the value rules.

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/internal/clip"
)

// newRequest returns an empty input message of md, for RecvMsg.
func (md *method) newRequest() *dynamicpb.Message { return dynamicpb.NewMessage(md.in) }

// newResponse returns an empty output message of md.
func (md *method) newResponse() *dynamicpb.Message { return dynamicpb.NewMessage(md.out) }

// requestJSON returns the native JSON request for m, an input message of
// md: what encoding/json would write for the corresponding Go value. A
// synthesized <Method>Request gives its bare value; an Upload message gives
// its request field (the first message of the stream).
func (md *method) requestJSON(m protoreflect.Message) ([]byte, error) {
	return md.encode("request", md.req, md.in, m)
}

// responseJSON returns the native JSON response for m, an output message of
// md. The gateway itself does not need it; it is the mirror of
// responseMessage.
func (md *method) responseJSON(m protoreflect.Message) ([]byte, error) {
	return md.encode("response", md.resp, md.out, m)
}

// requestMessage decodes a native JSON request into a new input message:
// the mirror of requestJSON.
func (md *method) requestMessage(data []byte) (*dynamicpb.Message, error) {
	return md.decode("request", jsonReader{strict: true}, md.req, md.in, data)
}

// responseMessage decodes the native JSON response into a new output
// message. For a Download (json+stream response) only the response field is
// set; the caller adds data chunks.
func (md *method) responseMessage(data []byte) (*dynamicpb.Message, error) {
	return md.decode("response", jsonReader{}, md.resp, md.out, data)
}

// requestJSONFromWire is requestJSON for the wire bytes of an input
// message of md, transcoded directly (wirejson.go). It refuses fields the
// schema does not know, as recvRequest does.
func (md *method) requestJSONFromWire(wire []byte) (out []byte, err error) {
	b := md.req
	if b == nil {
		return nil, fmt.Errorf("gateway: endpoint %q has no JSON request", md.endpoint.Name)
	}
	defer func() {
		// Hostile bytes must not end the process, whatever the bug.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("gateway: endpoint %q request: the message cannot be transcoded: %s", md.endpoint.Name, clip.Text(fmt.Sprint(r), clip.Max))
		}
	}()
	dst := make([]byte, 0, 2*len(wire)+16)
	if b.msg != nil {
		out, err = b.msg.appendJSONFromWire(dst, wire)
	} else {
		out, err = appendFieldJSONFromWire(dst, wire, md.in, b.field)
	}
	if err != nil {
		return nil, md.wrap("request", err)
	}
	return out, nil
}

// responseWire is responseMessage transcoded directly to wire bytes
// (jsonwire.go). It returns errUseMessage for JSON that responseMessage
// must read instead.
func (md *method) responseWire(data []byte) (out []byte, err error) {
	return md.wireFromJSON("response", md.resp, data)
}

// wireFromJSON transcodes data, the native JSON of part b of an output
// message, directly to the message's wire bytes; what names the part for
// errors.
func (md *method) wireFromJSON(what string, b *body, data []byte) (out []byte, err error) {
	if b == nil {
		return nil, fmt.Errorf("gateway: endpoint %q has no JSON %s", md.endpoint.Name, what)
	}
	dst := make([]byte, 0, len(data)+16)
	if b.msg != nil {
		out, err = b.msg.appendWireFromJSON(dst, data, jsonReader{})
	} else {
		out, err = appendFieldWireFromJSON(dst, data, jsonReader{}, b.field)
	}
	if err != nil && err != errUseMessage {
		return nil, md.wrap(what, err)
	}
	return out, err
}

// requestMessageJSON returns the native JSON of the message of a request
// stream of messages that m, an input message of md, carries; ok is false
// when it carries none (an Input message with its request only).
func (md *method) requestMessageJSON(m protoreflect.Message) (data []byte, ok bool, err error) {
	b := md.reqMsg
	if b != nil && b.msg == nil && md.req != nil && !m.Has(b.field.fd) {
		return nil, false, nil
	}
	data, err = md.encode("request message", b, md.in, m)
	return data, err == nil, err
}

// responseMessageOf decodes data, the native JSON of one message of a
// response stream of messages, into a new output message.
func (md *method) responseMessageOf(data []byte) (*dynamicpb.Message, error) {
	return md.decode("response message", jsonReader{}, md.respMsg, md.out, data)
}

// requestJSONDirect is requestJSON(requestMessage(data)) without the
// message: data read strictly into wire bytes (jsonwire.go), written back
// as the native JSON (wirejson.go). ok is false when data is refused in
// any way: the message path then says what is wrong, in its own words.
func (md *method) requestJSONDirect(data []byte) (out []byte, ok bool) {
	b := md.req
	if b == nil {
		return nil, false
	}
	var wire []byte
	var err error
	if b.msg != nil {
		wire, err = b.msg.appendWireFromJSON(make([]byte, 0, len(data)), data, jsonReader{strict: true})
	} else {
		wire, err = appendFieldWireFromJSON(make([]byte, 0, len(data)), data, jsonReader{strict: true}, b.field)
	}
	if err != nil {
		return nil, false
	}
	out, err = md.requestJSONFromWire(wire)
	return out, err == nil
}

// requestChunk returns the stream bytes an input message carries: the data
// of a google.api.HttpBody or of an Upload message. It is nil for methods
// without a request stream.
func (md *method) requestChunk(m protoreflect.Message) []byte {
	if md.reqData == nil {
		return nil
	}
	return m.Get(md.reqData).Bytes()
}

// hasRequest reports whether m, an input message of md, carries a JSON
// request in a field: the request field of an Upload (or the value of a
// <Method>Request) is populated. Serving uses it to reject a request in any
// message of a client stream but the first. An empty request (proto3 cannot
// tell it from an absent one) is not carried. It is false when the input
// message is the request itself or there is no JSON request.
func (md *method) hasRequest(m protoreflect.Message) bool {
	if md.req == nil || md.req.field == nil {
		return false
	}
	return m.Has(md.req.field.fd)
}

// responseChunk returns a new output message carrying data, the next chunk
// of a response stream (in google.api.HttpBody's or Download's data field).
// It returns nil for methods without a response stream.
func (md *method) responseChunk(data []byte) *dynamicpb.Message {
	if md.respData == nil {
		return nil
	}
	m := dynamicpb.NewMessage(md.out)
	m.Set(md.respData, protoreflect.ValueOfBytes(data))
	return m
}

// encode writes the JSON part b of message m of descriptor want.
func (md *method) encode(what string, b *body, want protoreflect.MessageDescriptor, m protoreflect.Message) ([]byte, error) {
	if b == nil {
		return nil, fmt.Errorf("gateway: endpoint %q has no JSON %s", md.endpoint.Name, what)
	}
	if m.Descriptor() != want {
		return nil, fmt.Errorf("gateway: endpoint %q %s: got message %s, want %s of this descriptor set", md.endpoint.Name, what, m.Descriptor().FullName(), want.FullName())
	}
	e := &encoder{buf: make([]byte, 0, 256)}
	var err error
	if b.msg != nil {
		err = e.message(m, b.msg)
	} else {
		err = e.field(m, b.field)
	}
	if err != nil {
		return nil, md.wrap(what, err)
	}
	return e.buf, nil
}

// decode reads JSON data into a new message of descriptor desc, with r's
// rule.
func (md *method) decode(what string, r jsonReader, b *body, desc protoreflect.MessageDescriptor, data []byte) (*dynamicpb.Message, error) {
	if b == nil {
		return nil, fmt.Errorf("gateway: endpoint %q has no JSON %s", md.endpoint.Name, what)
	}
	j, err := r.parse(data)
	if err != nil {
		return nil, md.wrap(what, err)
	}
	m := dynamicpb.NewMessage(desc)
	switch {
	case b.msg != nil && j == nil:
		// A nil pointer on the Go side: the empty message.
	case b.msg != nil:
		err = r.message(m, b.msg, j)
	default:
		err = r.field(m, b.field.fd, b.field.typ, false, false, j)
	}
	if err != nil {
		return nil, md.wrap(what, err)
	}
	return m, nil
}

// wrap prefixes a transcoding error with the endpoint and direction.
func (md *method) wrap(what string, err error) error {
	if pe, ok := err.(*pathError); ok && pe.path != "" {
		return fmt.Errorf("gateway: endpoint %q %s at %s", md.endpoint.Name, what, pe)
	}
	return fmt.Errorf("gateway: endpoint %q %s: %w", md.endpoint.Name, what, err)
}
