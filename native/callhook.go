package native

import "context"

// CallHook sees the calls of a Client and a Server as they start and, on
// a server, as they end: tracing is its purpose. It carries a trace
// context across the native hop without tying this package to a tracing
// library: a client's hook writes the caller's trace context into the
// request metadata, and a server's hook reads it back and starts the
// call's span (package nativeotel does both for OpenTelemetry, with the
// W3C trace context). WithCallHook installs one; a side without a hook
// pays nothing.
type CallHook interface {
	// ClientCall is called by a Client (and a Pool's clients) as a call
	// starts, on the caller's goroutine, before the request header is
	// written. md is the call's own request metadata, never nil: the
	// hook may set keys in it and must not keep it.
	ClientCall(ctx context.Context, method string, md Metadata)
	// ServerCall is called by a Server (and by a LocalClient for the
	// server it calls) before the handler of an admitted call runs; ctx
	// carries the call's Method, Peer and IncomingMetadata, which the
	// hook must not modify. The handler runs with the context returned.
	// end is called once with the call's outcome when its response has
	// been written, a response stream and its trailer included (a local
	// stream when its reader reaches its end or is closed): nil for
	// success, else the error that ended it, the handler's (CodeOf gives
	// the code the caller sees) or the one that stopped the response.
	// Calls refused before their handler (an unknown method, a limit)
	// are not seen.
	ServerCall(ctx context.Context) (hctx context.Context, end func(error))
}

// WithCallHook installs h on a Client or a Server (see CallHook).
func WithCallHook(h CallHook) Option {
	return optionFunc(func(c *config) { c.hook = h })
}

// startServerCall runs the server hook of a call, if any: the handler's
// context and the function that ends the call (nil without a hook).
func (c *config) startServerCall(ctx context.Context) (context.Context, func(error)) {
	if c.hook == nil {
		return ctx, nil
	}
	return c.hook.ServerCall(ctx)
}
