package native

// A handler of the commonest shape, JSON in and JSON out through pointers,
// is called through a function type of the same calling convention
// instead of reflect.Value.Call. Call allocates its results and looks up
// the function's frame layout on every call; a small call spent about 2%
// of its CPU and two of its allocations there.

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"
)

// directFunc is func(ctx context.Context, req *Req, resp *Resp) error with
// its pointers unnamed; a handler without ctx is wrapped by directCall.
type directFunc func(ctx context.Context, req, resp unsafe.Pointer) error

// directCall returns h's function as a directFunc, or nil when h has
// another shape. Every pointer type is passed as unsafe.Pointer is, so a
// func(context.Context, *Req, *Resp) error stored where a directFunc is
// expected is called as itself.
func directCall(h *handler, fn reflect.Value) directFunc {
	if h.reqType == nil || !h.reqPtr || h.respType == nil || h.request != BodyJSON || h.response != BodyJSON {
		return nil
	}
	if h.withCtx {
		var d directFunc
		reflect.NewAt(fn.Type(), unsafe.Pointer(&d)).Elem().Set(fn)
		return d
	}
	var f func(req, resp unsafe.Pointer) error
	reflect.NewAt(fn.Type(), unsafe.Pointer(&f)).Elem().Set(fn)
	return func(_ context.Context, req, resp unsafe.Pointer) error { return f(req, resp) }
}

// callDirect is call for a handler with direct set.
func (h *handler) callDirect(ctx context.Context, inv *invocation) (err error) {
	resp := reflect.New(h.respType)
	inv.resp = resp.Interface()
	defer func() {
		if p := recover(); p != nil {
			err = &Error{code: CodeInternal, msg: fmt.Sprintf("handler %s panicked: %v", h.name, p), err: errPanic}
		}
	}()
	return h.direct(ctx, reflect.ValueOf(inv.req).UnsafePointer(), resp.UnsafePointer())
}
