package gateway

// Calls of endpoints whose request or response is a stream of messages
// (native.Sender, native.Receiver), served as gRPC client, server and bidi
// streams: one gRPC message per native message, each transcoded on its
// own (descriptor.go says which message types carry them). The native side
// is a Sender and a Receiver of json.RawMessage, since the gateway handles
// native JSON, not Go values.
//
// Only the first request message waits at most the body timeout: after
// it, a client of a stream of messages may be silent for as long as the
// call lasts (a watch sends nothing, a chat waits for its user); HTTP/2
// keepalive, the call's deadline and the call limits bound it.

import (
	"encoding/json"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/framegate/framegate/native"
)

// serveMessages serves a call of m with a stream of messages, as
// serveGRPC serves the others; trlReady says the trailer may be read.
func (g *Gateway) serveMessages(ss grpc.ServerStream, m *method, c *grpcCall, opts []native.CallOption, ev *CallEvent, wire bool) (trlReady bool, err error) {
	ctx := ss.Context()
	hdr := &c.hdr
	// The JSON request, if any, is in the first message.
	var req any
	var first proto.Message
	switch m.endpoint.Request {
	case native.BodyJSON:
		if wire {
			b, err := recvRequestJSON(ss, m, &c.in, g.cfg.bodyTimeout)
			if err != nil {
				return false, err
			}
			req = json.RawMessage(b)
			break
		}
		fallthrough
	case native.BodyNone, native.BodyJSONMessages:
		first = m.newRequest()
		if err := recvRequest(ss, m, first, g.cfg.bodyTimeout); err != nil {
			if err == io.EOF {
				return false, status.Errorf(codes.InvalidArgument, "gateway: %s: the first message must carry the request", m.fullMethod)
			}
			return false, err
		}
		if m.req != nil {
			b, err := m.requestJSON(first.ProtoReflect())
			if err != nil {
				return false, status.Error(codes.InvalidArgument, err.Error())
			}
			req = json.RawMessage(b)
		}
	}
	var up *messageUpload
	if m.reqMsg != nil {
		up = &messageUpload{ss: ss, m: m, tx: new(native.Sender[json.RawMessage])}
		defer func() { ev.BytesIn = up.bytes.Load() }()
		up.first = first
		if req != nil {
			req = native.StreamRequest{JSON: req, Messages: up.tx}
		} else {
			req = up.tx
		}
	}

	if m.respMsg == nil {
		// A client stream: messages in, one JSON response out.
		if err := g.backend.Call(ctx, m.endpoint.Name, req, &c.resp, opts...); err != nil {
			return settled(ctx, err), err
		}
		err := up.run()
		if trlReady = up.closed && settled(ctx, err); trlReady {
			ss.SetHeader(toGRPCMD(*hdr))
		}
		if err != nil {
			return trlReady, err
		}
		return trlReady, g.sendResponse(ss, m, c, wire)
	}

	rx := new(native.Receiver[json.RawMessage])
	if err := g.backend.Call(ctx, m.endpoint.Name, req, rx, opts...); err != nil {
		if trlReady = settled(ctx, err); trlReady {
			ss.SetHeader(toGRPCMD(*hdr))
		}
		return trlReady, err
	}
	defer rx.Close()
	var upErr chan error
	if up != nil {
		// A bidi stream: the client's messages go to the backend from a
		// goroutine of their own, which ends with the client's stream
		// (grpc-go ends it when this handler returns). One that fails
		// aborts the call, and its error is the call's.
		upErr = make(chan error, 1)
		upDone := make(chan struct{})
		go func() {
			defer close(upDone)
			if err := up.run(); err != nil {
				upErr <- err
				rx.Close()
			}
		}()
		// A Connect call's request body must not be read once its
		// handler returned: stop it, and wait. (grpc-go ends a RecvMsg
		// itself when the handler returns, and offers no other way.)
		if s, ok := ss.(interface{ stopRecv() bool }); ok {
			defer func() {
				rx.Close() // a Send the backend holds back returns
				if s.stopRecv() {
					<-upDone
				}
			}()
		}
	} else if err := ss.SendHeader(toGRPCMD(*hdr)); err != nil {
		return false, err
	}
	headerSent := up == nil
	for {
		data, rerr := rx.Recv()
		if rerr != nil && rerr != io.EOF {
			select {
			case err := <-upErr:
				return false, err // the call was aborted: its metadata is not to be read
			default:
			}
		}
		if !headerSent {
			// A bidi call's response header is known once its first
			// message or its end arrived.
			headerSent = true
			if ctx.Err() == nil {
				if err := ss.SendHeader(toGRPCMD(*hdr)); err != nil {
					return false, err
				}
			}
		}
		if rerr == io.EOF {
			return ctx.Err() == nil, nil
		}
		if rerr != nil {
			return ctx.Err() == nil, rerr
		}
		if err := g.sendMessage(ss, m, *data, wire); err != nil {
			return false, err
		}
		ev.BytesOut += int64(len(*data))
	}
}

// sendResponse sends the JSON response of a call, c.resp, as the output
// message of m.
func (g *Gateway) sendResponse(ss grpc.ServerStream, m *method, c *grpcCall, wire bool) error {
	if wire {
		b, err := m.responseWire(c.resp)
		if err == nil {
			c.out.b = b
			return ss.SendMsg(&c.out)
		}
		if err != errUseMessage {
			return status.Error(codes.Internal, err.Error())
		}
	}
	msg, err := m.responseMessage(c.resp)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return ss.SendMsg(msg)
}

// sendMessage sends data, the native JSON of one message of a response
// stream of messages, as an output message of m.
func (g *Gateway) sendMessage(ss grpc.ServerStream, m *method, data []byte, wire bool) error {
	if wire {
		b, err := m.wireFromJSON("response message", m.respMsg, data)
		if err == nil {
			// grpc-go may hold the message after SendMsg returns: each
			// is its own.
			return ss.SendMsg(&wireOut{b: b})
		}
		if err != errUseMessage {
			return status.Error(codes.Internal, err.Error())
		}
	}
	msg, err := m.responseMessageOf(data)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return ss.SendMsg(msg)
}

// messageUpload sends the client's messages to the backend's Receiver.
type messageUpload struct {
	ss     grpc.ServerStream
	m      *method
	tx     *native.Sender[json.RawMessage]
	first  proto.Message // the message with the request, or nil
	closed bool          // run returned Close's outcome
	bytes  atomic.Int64  // of JSON sent
}

// run sends the client's messages until its stream ends, then closes the
// Sender and returns Close's outcome (closed is then true): for a client
// stream, the call's, with its response decoded. A client whose stream
// breaks, or that sends a message the backend cannot take, fails the call
// with that error. io.EOF from Send says the call already ended on the
// backend's side, whose outcome Close then returns.
func (u *messageUpload) run() error {
	msg := u.first
	for {
		if msg != nil {
			if u.m.req != nil && msg != u.first && u.m.hasRequest(msg.ProtoReflect()) {
				return status.Errorf(codes.InvalidArgument, "gateway: %s: only the first message may carry the request", u.m.fullMethod)
			}
			data, ok, err := u.m.requestMessageJSON(msg.ProtoReflect())
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			if ok {
				raw := json.RawMessage(data)
				if err := u.tx.Send(&raw); err != nil {
					if err == io.EOF {
						return u.close()
					}
					return err
				}
				u.bytes.Add(int64(len(data)))
			}
		}
		msg = u.m.newRequest()
		if err := recvRequest(u.ss, u.m, msg, 0); err != nil {
			if err == io.EOF {
				return u.close()
			}
			return err
		}
	}
}

func (u *messageUpload) close() error {
	u.closed = true
	return u.tx.Close()
}
