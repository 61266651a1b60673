package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/framegate/framegate/internal/clip"
)

var (
	typeContext    = reflect.TypeFor[context.Context]()
	typeError      = reflect.TypeFor[error]()
	typeReader     = reflect.TypeFor[io.Reader]()
	typeReadCloser = reflect.TypeFor[io.ReadCloser]()
)

// handler is a registered function and what reflection learned about it.
type handler struct {
	name    string
	fn      reflect.Value
	withCtx bool
	// reqType is the JSON request's type (the pointed-to type when the
	// parameter is a pointer); nil when the request has no JSON part.
	reqType reflect.Type
	reqPtr  bool
	// respType is the JSON response's type; nil for a stream response.
	respType reflect.Type
	// respStream is the *io.Reader or *io.ReadCloser element type.
	respStream reflect.Type
	// reqRecv and respSend are the Receiver[T] and Sender[T] types of a
	// stream of messages (the parameters point to them); reqMsg and
	// respMsg are their T. nil without one.
	reqRecv, reqMsg   reflect.Type
	respSend, respMsg reflect.Type
	request           BodyKind
	response          BodyKind
	decl              endpointDecl
	// took is how long the handler's recent calls took, in nanoseconds:
	// whether a server connection runs the next one inline (inline.go).
	took atomic.Int64
	last atomic.Int64 // the last call's time, in nanoseconds
	// direct calls a handler of the commonest shape, func([ctx,] *Req,
	// *Resp) error, without reflect.Value.Call (directCall); nil for the
	// others.
	direct directFunc
}

// registrationError explains why fn cannot be a handler and what would fix it.
func registrationError(name string, fn any, format string, args ...any) error {
	return fmt.Errorf("native: Register(%q, %T): %s (a handler looks like func([ctx context.Context,] [req *Req,] [body io.Reader | in *native.Receiver[In],] resp *Resp | body *io.Reader | out *native.Sender[Out]) error)",
		name, fn, fmt.Sprintf(format, args...))
}

// newHandler checks name and fn's signature.
func newHandler(name string, fn any) (*handler, error) {
	if err := checkEndpointName(name); err != nil {
		return nil, err
	}
	return parseHandler(name, fn)
}

// parseHandler checks fn's signature.
func parseHandler(name string, fn any) (*handler, error) {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func {
		return nil, registrationError(name, fn, "handler is not a function")
	}
	if v.IsNil() {
		return nil, registrationError(name, fn, "handler is a nil function")
	}
	t := v.Type()
	if t.IsVariadic() {
		return nil, registrationError(name, fn, "handler must not be variadic")
	}
	if t.NumOut() != 1 || t.Out(0) != typeError {
		return nil, registrationError(name, fn, "handler must return exactly one value of type error, it returns %s", results(t))
	}
	h := &handler{name: name, fn: v, request: BodyNone}
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	if len(in) > 0 && in[0] == typeContext {
		h.withCtx = true
		in = in[1:]
	}
	for i, p := range in {
		if p == typeContext {
			return nil, registrationError(name, fn, "context.Context must be the first parameter, it is parameter %d", i+1+boolInt(h.withCtx))
		}
	}
	if len(in) == 0 {
		return nil, registrationError(name, fn, "handler has no response parameter: add a last parameter resp *T (JSON), body *io.Reader (stream) or out *native.Sender[T] (messages)")
	}
	resp := in[len(in)-1]
	in = in[:len(in)-1]
	switch {
	case resp.Implements(typeReceiverBinder) || reflect.PointerTo(resp).Implements(typeReceiverBinder):
		return nil, registrationError(name, fn, "the last parameter is the response, and %v receives: a handler sends its messages with *native.Sender[T]", resp)
	case resp.Kind() != reflect.Pointer && reflect.PointerTo(resp).Implements(typeSenderBinder):
		return nil, registrationError(name, fn, "a stream of messages is sent through a pointer: *%v, not %v", resp, resp)
	case resp.Kind() != reflect.Pointer:
		return nil, registrationError(name, fn, "the last parameter is the response and must be a pointer (*T, *io.Reader or *native.Sender[T]), it is %v", resp)
	case resp.Implements(typeSenderBinder):
		if err := h.setMessageType(resp, &h.respSend, &h.respMsg); err != nil {
			return nil, registrationError(name, fn, "response messages: %v", err)
		}
		h.response = BodyMessages
	case resp.Elem() == typeReader || resp.Elem() == typeReadCloser:
		h.respStream = resp.Elem()
		h.response = BodyStream
	case resp.Elem().Kind() == reflect.Interface && resp.Elem().Implements(typeReader):
		return nil, registrationError(name, fn, "a stream response must be *io.Reader or *io.ReadCloser, not %v", resp)
	default:
		if err := checkJSONType(resp.Elem()); err != nil {
			return nil, registrationError(name, fn, "response: %v", strings.TrimPrefix(err.Error(), "native: "))
		}
		h.respType = resp.Elem()
		h.response = BodyJSON
	}
	switch len(in) {
	case 0:
	case 1, 2:
		last := in[len(in)-1]
		switch {
		case last == typeReader:
			h.request = BodyStream
			in = in[:len(in)-1]
		case last.Implements(typeReceiverBinder):
			if err := h.setMessageType(last, &h.reqRecv, &h.reqMsg); err != nil {
				return nil, registrationError(name, fn, "request messages: %v", err)
			}
			h.request = BodyMessages
			in = in[:len(in)-1]
		case last.Kind() != reflect.Pointer && reflect.PointerTo(last).Implements(typeReceiverBinder):
			return nil, registrationError(name, fn, "a stream of messages is received through a pointer: *%v, not %v", last, last)
		case last.Implements(typeSenderBinder):
			return nil, registrationError(name, fn, "%v sends, and only the last parameter (the response) may: a handler receives messages with *native.Receiver[T]", last)
		case len(in) == 2:
			return nil, registrationError(name, fn, "with two request parameters the second must be io.Reader (the request stream) or *native.Receiver[T] (messages), it is %v", in[1])
		}
		if len(in) == 1 {
			if err := h.setRequestType(in[0]); err != nil {
				return nil, registrationError(name, fn, "%v", err)
			}
			switch h.request {
			case BodyStream:
				h.request = BodyJSONStream
			case BodyMessages:
				h.request = BodyJSONMessages
			default:
				h.request = BodyJSON
			}
		}
	default:
		return nil, registrationError(name, fn, "too many parameters (%d)", t.NumIn())
	}
	h.direct = directCall(h, v)
	return h, nil
}

// setMessageType learns the message type of p, a *Sender[T] or a
// *Receiver[T] (binder says which), into *stream (Sender[T] or
// Receiver[T]) and *msg (T).
func (h *handler) setMessageType(p reflect.Type, stream, msg *reflect.Type) error {
	t := reflect.New(p.Elem()).Interface().(interface{ messageType() reflect.Type }).messageType()
	if t.Kind() == reflect.Interface && t != reflect.TypeFor[any]() {
		return fmt.Errorf("the message type is the interface %v: JSON cannot be decoded into it; use a concrete type", t)
	}
	if err := checkJSONType(t); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "native: "))
	}
	*stream, *msg = p.Elem(), t
	return nil
}

func (h *handler) setRequestType(p reflect.Type) error {
	switch {
	case p == typeReader:
		return errors.New("io.Reader must be the last request parameter")
	case p.Kind() == reflect.Pointer && p.Elem() == typeReader:
		return errors.New("*io.Reader is a response type; a request stream is a plain io.Reader parameter")
	case p.Kind() == reflect.Interface && p != reflect.TypeFor[any]():
		return fmt.Errorf("the request parameter is the interface %v: JSON cannot be decoded into it; use a concrete type", p)
	}
	h.reqType, h.reqPtr = p, false
	if p.Kind() == reflect.Pointer {
		h.reqType, h.reqPtr = p.Elem(), true
	}
	if err := checkJSONType(h.reqType); err != nil {
		return fmt.Errorf("request: %s", strings.TrimPrefix(err.Error(), "native: "))
	}
	return nil
}

// results describes t's results: "nothing", "bool", "(int, error)".
func results(t reflect.Type) string {
	switch t.NumOut() {
	case 0:
		return "nothing"
	case 1:
		return t.Out(0).String()
	}
	out := make([]string, t.NumOut())
	for i := range out {
		out[i] = t.Out(i).String()
	}
	return "(" + strings.Join(out, ", ") + ")"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkEndpointName refuses names that cannot work.
func checkEndpointName(name string) error {
	switch {
	case name == "":
		return errors.New("native: Register: empty endpoint name")
	case strings.HasPrefix(name, "native."):
		return fmt.Errorf("native: Register(%q): names starting with \"native.\" are reserved for control endpoints", name)
	case len(name) > 256:
		return fmt.Errorf("native: Register(%q...): endpoint name longer than 256 bytes", name[:32])
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("native: Register(%q): endpoint names must not contain spaces or control characters", name)
		}
	}
	return nil
}

// admit finds the handler of a call to method that sends a request of kind
// body and accepts a response of kind accept: the checks of every call,
// remote (onHeader) or local (LocalClient).
func (s *Server) admit(method string, body, accept BodyKind) (*handler, *Error) {
	h := s.lookup(method)
	switch {
	case h == nil:
		return nil, Errorf(CodeUnimplemented, "unknown endpoint %s", clip.Quote(method))
	case body != h.request:
		return nil, Errorf(CodeInvalidArgument, "endpoint %q takes a %s request, the call sent %s", method, h.request, body)
	case accept != h.response:
		return nil, Errorf(CodeInvalidArgument, "endpoint %q answers %s, the caller expects %s", method, h.response, accept)
	}
	return h, nil
}

// decode decodes a request's JSON part into a new request value, if the
// handler takes one.
func (h *handler) decode(data []byte) (any, error) {
	if h.reqType == nil {
		return nil, nil
	}
	req := h.newRequest()
	return req, decodeRequest(h.name, data, req)
}

// run runs the handler on inv, logging a panic with the peer. Remote and
// local calls run their handlers so.
func (h *handler) run(ctx context.Context, inv *invocation, logger *slog.Logger, peer string) error {
	err := h.call(ctx, inv)
	if errors.Is(err, errPanic) {
		logger.Error("native: handler panicked", "endpoint", h.name, "peer", peer, "err", err)
	}
	return err
}

// encodeResponse is the JSON of inv's response, in scratch.
func (h *handler) encodeResponse(inv *invocation) (jsonScratch, error) {
	data, err := marshalScratch(inv.resp)
	if err != nil {
		return jsonScratch{}, Errorf(CodeInternal, "cannot encode the response of %q: %v", h.name, err)
	}
	return data, nil
}

// invocation is one call of a handler: arguments in, results out.
type invocation struct {
	ctx    context.Context // the handler's, set by call
	req    any             // decoded request (a pointer to reqType), nil without JSON part
	body   io.Reader       // request stream
	resp   any             // JSON response (pointer to respType)
	stream io.Reader       // response stream
	in     *msgRecv        // request messages
	out    *msgSend        // response messages
}

// newRequest returns a pointer to a new zero request value.
func (h *handler) newRequest() any {
	if h.reqType == nil {
		return nil
	}
	return reflect.New(h.reqType).Interface()
}

// call runs the handler, turning a panic into a CodeInternal error.
func (h *handler) call(ctx context.Context, inv *invocation) (err error) {
	if h.direct != nil {
		return h.callDirect(ctx, inv)
	}
	args := make([]reflect.Value, 0, 4)
	if h.withCtx {
		// The Value of a context.Context variable, which reflect takes as
		// it is. &inv.ctx, not &ctx: that would move ctx to the heap on
		// every call.
		inv.ctx = ctx
		args = append(args, reflect.ValueOf(&inv.ctx).Elem())
	}
	if h.reqType != nil {
		rv := reflect.ValueOf(inv.req)
		if !h.reqPtr {
			rv = rv.Elem()
		}
		args = append(args, rv)
	}
	switch {
	case h.reqRecv != nil:
		rx := reflect.New(h.reqRecv)
		rx.Interface().(receiverBinder).bindReceiver(inv.in)
		args = append(args, rx)
	case h.request.HasStream():
		args = append(args, reflect.ValueOf(&inv.body).Elem())
	}
	var respPtr reflect.Value
	switch {
	case h.respType != nil:
		respPtr = reflect.New(h.respType)
		inv.resp = respPtr.Interface()
	case h.respSend != nil:
		respPtr = reflect.New(h.respSend)
		respPtr.Interface().(senderBinder).bindSender(inv.out)
	default:
		respPtr = reflect.New(h.respStream)
	}
	args = append(args, respPtr)
	defer func() {
		// Also after a panic: a stream the handler set must be closed.
		if h.respStream != nil && !respPtr.Elem().IsNil() {
			inv.stream = respPtr.Elem().Interface().(io.Reader)
		}
		if p := recover(); p != nil {
			err = &Error{code: CodeInternal, msg: fmt.Sprintf("handler %s panicked: %v", h.name, p), err: errPanic}
		}
	}()
	out := h.fn.Call(args)
	if e := out[0].Interface(); e != nil {
		return e.(error)
	}
	return nil
}

// errPanic marks errors made from a handler's panic.
var errPanic = errors.New("handler panicked")
