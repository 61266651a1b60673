package gateway

// The bridge between connect-go's handlers and serveGRPC: webStream is a
// grpc.ServerStream over a connect-go call, and the codecs below (by the
// names connect-go looks codecs up by) keep the bytes connect-go receives
// until webStream knows which message serveGRPC wants them in, and send the
// messages serveGRPC sends, chunkMsg among them.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// webStream is the grpc.ServerStream of one Connect or gRPC-Web call.
// connect-go receives the request of a unary call or server stream itself
// (first); a client stream's are received from recv. A stream's messages
// go out through send; a unary call's response (or a client stream's) is
// kept in out, hdr and trl for response.
type webStream struct {
	ctx   context.Context
	first *webIn
	recv  connect.StreamingHandlerConn // nil: first is the only message
	send  connect.StreamingHandlerConn // nil: one response, kept
	out   any
	hdr   metadata.MD
	trl   metadata.MD
	body  *progressBody // the request's, if stoppable
}

// stopRecv stops the request body, so that a RecvMsg in progress on
// another goroutine returns; false when there is nothing to stop, and so no
// waiting for it.
func (s *webStream) stopRecv() bool {
	if s.body == nil {
		return false
	}
	s.body.stop()
	return true
}

func (s *webStream) Context() context.Context { return s.ctx }

func (s *webStream) SetHeader(md metadata.MD) error {
	if s.send != nil {
		setWebMetadata(s.send.ResponseHeader(), md)
		return nil
	}
	s.hdr = metadata.Join(s.hdr, md)
	return nil
}

// SendHeader is SetHeader: connect-go sends the header with the first
// message, or with the end of a stream that has none.
func (s *webStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *webStream) SetTrailer(md metadata.MD) {
	if s.send != nil {
		setWebMetadata(s.send.ResponseTrailer(), md)
		return
	}
	s.trl = metadata.Join(s.trl, md)
}

func (s *webStream) SendMsg(m any) error {
	if s.send == nil {
		s.out = m
		return nil
	}
	return statusOfConnect(s.send.Send(m))
}

func (s *webStream) RecvMsg(m any) error {
	in := s.first
	s.first = nil
	if in == nil {
		if s.recv == nil {
			return io.EOF
		}
		in = new(webIn)
		if err := s.recv.Receive(in); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return statusOfConnect(err)
		}
	}
	return in.decode(m)
}

// binary reports whether the call's messages are protobuf's binary ones,
// which serveGRPC may receive and send as wire bytes (wireMsg, wireOut)
// and transcode directly: the request's codec, named by the message
// connect-go received already or by the Content-Type h carries.
func (s *webStream) binary(h http.Header) bool {
	if s.first != nil {
		return !s.first.json
	}
	return !strings.Contains(h.Get("Content-Type"), "json")
}

// response is the connect-go response of a call whose one response
// serveGRPC left in s, or its error.
func (s *webStream) response(err error) (*connect.Response[webOut], error) {
	if err != nil {
		return nil, err
	}
	res := connect.NewResponse(&webOut{msg: s.out})
	setWebMetadata(res.Header(), s.hdr)
	setWebMetadata(res.Trailer(), s.trl)
	return res, nil
}

// statusOfConnect turns connect-go's errors into gRPC statuses, which the
// rest of the gateway reads.
func statusOfConnect(err error) error {
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return status.Error(codes.Code(ce.Code()), ce.Message())
	}
	return err
}

// webIn is a received message as a codec left it: its bytes, copied, and
// whether they are JSON.
type webIn struct {
	b    []byte
	json bool
}

// webOut is the one response of a unary call or client stream.
type webOut struct{ msg any }

// decode decodes the message into m: a wireMsg (the bytes as they are,
// for the direct transcoder), a checkedMsg (which takes a refusal of its
// fields as serveGRPC expects) or a proto.Message.
func (in *webIn) decode(m any) error {
	switch t := m.(type) {
	case *wireMsg:
		if in.json {
			return status.Error(codes.Internal, "gateway: a JSON message cannot be received as wire bytes")
		}
		t.buf = mem.SliceBuffer(in.b)
		return nil
	case *checkedMsg:
		t.checked = true
		t.refused = in.decodeInto(t.Message)
		return nil
	case proto.Message:
		if err := in.decodeInto(t); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return nil
	}
	return status.Errorf(codes.Internal, "gateway: cannot receive a %T", m)
}

// decodeInto decodes the message into msg, refusing fields its descriptor
// does not know.
func (in *webIn) decodeInto(msg proto.Message) error {
	if !in.json {
		return decodeWire(in.b, msg)
	}
	if len(in.b) == 0 {
		return nil // as {}
	}
	if err := protojson.Unmarshal(in.b, msg); err != nil {
		return errorf("not valid JSON for %s (%s)", msg.ProtoReflect().Descriptor().FullName(), strings.TrimPrefix(err.Error(), "proto: "))
	}
	return nil
}

// webCodec is a codec of the gateway's connect-go handlers, named as the
// codec of proto or JSON messages it replaces.
type webCodec struct {
	name string
	json bool
}

// webCodecs are the options that give a handler the gateway's codecs.
var webCodecs = []connect.HandlerOption{
	connect.WithCodec(webCodec{name: "proto"}),
	connect.WithCodec(webCodec{name: "json", json: true}),
	connect.WithCodec(webCodec{name: "json; charset=utf-8", json: true}),
}

func (c webCodec) Name() string { return c.name }

// Unmarshal keeps a copy of data (connect-go reuses it) in v, a *webIn.
func (c webCodec) Unmarshal(data []byte, v any) error {
	in, ok := v.(*webIn)
	if !ok {
		return fmt.Errorf("gateway: cannot receive a %T", v)
	}
	in.b = append(in.b[:0], data...)
	in.json = c.json
	return nil
}

func (c webCodec) Marshal(v any) ([]byte, error) { return c.MarshalAppend(nil, v) }

// MarshalAppend appends the encoding of v: a webOut's message, wire bytes
// (wireOut, binary only), a chunkMsg (in binary, its head and chunk as
// they are) or a proto.Message.
func (c webCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	if o, ok := v.(*webOut); ok {
		v = o.msg
	}
	if wo, ok := v.(*wireOut); ok {
		if c.json {
			return dst, fmt.Errorf("gateway: wire bytes cannot be sent as JSON")
		}
		return append(dst, wo.b...), nil
	}
	if cm, ok := v.(*chunkMsg); ok {
		if !c.json {
			return append(append(dst, cm.head...), *cm.buf...), nil
		}
		v = cm.Message
	}
	msg, ok := v.(proto.Message)
	if !ok {
		return dst, fmt.Errorf("gateway: cannot send a %T", v)
	}
	if c.json {
		return protojson.MarshalOptions{}.MarshalAppend(dst, msg)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, msg)
}
