// Package native is a framed RPC for moving bulk data over any
// io.ReadWriteCloser: TCP, unix sockets, TLS, the stdin and stdout of
// "ssh host cmd", an in-memory pipe. Its wire format is inspired by HTTP/2
// (typed frames with a fixed header) and its API by net/rpc: a server
// registers plain Go functions by name, reflection infers the request and
// response types, and no stub or generated code is needed.
//
// # Handlers
//
// A handler is a function of this form, the parts in brackets optional:
//
//	func([ctx context.Context,] [req *Req,] [body io.Reader,] resp *Resp) error
//	func([ctx context.Context,] [req *Req,] [body io.Reader,] stream *io.Reader) error
//	func([ctx context.Context,] [req *Req,] [in *native.Receiver[In],] out *native.Sender[Out]) error
//	func([ctx context.Context,] [req *Req,] in *native.Receiver[In], resp *Resp) error
//
// req is the JSON request (a pointer or a value of any type encoding/json
// decodes); body is a request byte stream, read as it arrives; the last
// parameter receives the response: a *Resp is encoded as JSON, a *io.Reader
// (or *io.ReadCloser) is set by the handler to a reader whose bytes are sent
// as they are read, and closed afterwards if it is an io.Closer. The form
// without ctx, func(req *Req, resp *Resp) error, is net/rpc's. The last two
// forms take streams of messages (below). Register refuses any other form
// with an error saying what would fix it.
//
// The returned error decides the status code the caller sees: an *Error
// (Errorf, NewError) carries its own code, context errors become
// CodeCanceled or CodeDeadlineExceeded, anything else CodeUnknown. A panic
// becomes CodeInternal. The handler's ctx carries the caller's deadline and
// is cancelled when the caller gives up; IncomingMetadata, SetHeader and
// SetTrailer read and write metadata.
//
// Requests are read strictly: a JSON member the request type does not
// have (in any case but its own), a member given twice and text that is
// not UTF-8 are refused with CodeInvalidArgument naming the member, before
// the handler runs.
//
// Calls run at once, each handler in a goroutine of its own, as net/rpc
// does, with one exception that saves a goroutine hand-off per small call:
// a handler that answers JSON to a request without a stream, and whose
// recent calls returned within 20 µs, runs on the goroutine that read its
// request. A handler that blocks, waiting on I/O, thus takes no other call
// of its connection with it: after its first long call (which the reading
// leaves after 1-2 ms when calls overlap on the connection, 10-20 ms when
// they come one at a time) its calls run in their own goroutines, until a
// run of quick calls shows it quick again (inline.go).
//
// # Streams of messages
//
// A handler whose last parameter is a *Sender[Out] sends a stream of
// messages of type Out (a server stream: a watch, a log tail, progress);
// one that takes a *Receiver[In] in the request stream's place receives one
// (a client stream); with both it does both at once (bidi). Register infers
// In and Out by reflection, and the Schema carries them
// (Endpoint.RequestMessage, Endpoint.ResponseMessage). Each message travels
// as JSON, read as strictly as a request, except that a caller skips the
// members its type does not have (a newer server may add fields).
//
//	func (s *Store) Watch(ctx context.Context, req *WatchRequest, out *native.Sender[Event]) error {
//		for ev := range s.events(ctx, req.Prefix) {
//			if err := out.Send(&ev); err != nil {
//				return err // the caller went away
//			}
//		}
//		return ctx.Err()
//	}
//
// A caller passes a *Receiver as Call's resp and a *Sender as its request
// (or StreamRequest.Messages, beside a JSON value); Call binds them:
//
//	var events native.Receiver[Event]
//	err := c.Call(ctx, "Store.Watch", &WatchRequest{Prefix: "logs/"}, &events)
//	for ev, err := events.Recv(); err == nil; ev, err = events.Recv() { ... }
//
//	var tx native.Sender[Line]
//	var rx native.Receiver[Reply]
//	err = c.Call(ctx, "Chat.Talk", &tx, &rx) // bidi: returns at once
//	tx.Send(&Line{Text: "hi"}); reply, err := rx.Recv(); tx.Close()
//
//	var tx native.Sender[Record]
//	err = c.Call(ctx, "Log.Append", &tx, &summary) // client stream
//	tx.Send(&rec) ...; err = tx.Close() // waits for summary, the call's error
//
// The rules of byte streams hold: Recv returns io.EOF only after the
// sender ended the stream cleanly (the handler returned nil, the caller
// closed its Sender); a handler's error after N messages reaches the caller
// as that error, with its code, after the N messages; Receiver.Close and a
// cancelled ctx abort the call with RST and cancel the handler's context
// (its Recv returns the messages that arrived, then the reason, even when
// the abort came before the handler started); a slow reader blocks its
// sender's Send through flow control; and a message over
// WithMaxMessageSize fails the stream with CodeResourceExhausted naming the
// limit.
//
// The response header goes out lazily, as grpc-go and connect-go send a
// server stream's: at the handler's first Send, at SendHeader, or at its
// return. Until then SetHeader works (after it, the handler's metadata
// goes in the trailer, SetTrailer), and the caller waits: a server-stream
// caller's Call returns when the header arrives, a bidi caller's Call at
// once and its first Recv then. A handler that fails before the header
// went out answers an ordinary error, which Call (or that first Recv)
// returns: no stream began. One that returns nil first answers an empty
// stream. A handler that waits before its first message, such as a watch
// that registered and waits for events, calls SendHeader to tell its
// caller the call was taken:
//
//	if err := s.subscribe(ctx, req); err != nil {
//		return err // the caller's Call returns it
//	}
//	if err := native.SendHeader(ctx); err != nil {
//		return err
//	}
//
// A caller's Send returns io.EOF once the call ended on
// the server's side; why is Recv's error, or Close's. The gateway serves
// them as gRPC client, server and bidi streams of the messages' own types,
// and over HTTP as newline-delimited JSON, Server-Sent Events and
// WebSocket.
//
// # Safe and idempotent endpoints
//
// Register takes options that declare what a call does: Safe for an
// endpoint that only reads, Idempotent for one that may be repeated. They
// travel in the Schema, and the gateway gives them their meaning on each
// face: GET and HEAD reach safe endpoints only, and the gRPC method's
// idempotency_level is NO_SIDE_EFFECTS or IDEMPOTENT.
//
//	srv.Register("Store.Stat", store.Stat, native.Safe())
//	srv.Register("Store.Delete", store.Delete, native.Idempotent())
//
// # Field numbers
//
// A gateway (package gateway) serves each struct as a protobuf message. By
// default a field's number is its position among the struct's JSON fields,
// from 1: stable while the struct is unchanged, but inserting or removing a
// field renumbers the fields after it, and a gRPC client built against the
// old numbers then reads and writes the wrong fields. A struct whose
// messages must stay compatible pins its numbers with a struct tag:
//
//	type Entry struct {
//		Name string `json:"name" native:"1"`
//		Size int64  `json:"size" native:"2"`
//		Mode string `json:"mode" native:"4"` // 3 was a field since removed
//	}
//
// The rule is all or nothing per struct: if one field of a struct (its
// promoted fields included) has a native tag, every field must have one.
// A mix is refused because no rule for the unpinned fields keeps their
// numbers stable: numbered by position or after the highest pinned number,
// inserting one would still move the others. To pin a struct that was
// served unpinned, give each field its position as it is today (the
// refusal of a partly pinned struct names that number). A new field takes
// a number never used before; a removed field's number is not reused.
// Numbers run from 1 to 536870911, except 19000-19999, which protobuf
// reserves; two fields of a struct never share one. Register refuses a
// struct that breaks these rules, naming the field. Field.Number carries
// the pinned number in the Schema (0, absent from its JSON, when the
// struct pins none).
//
// # Calls
//
// Client.Call sends one call and waits for its response. A Client runs
// many calls at once on its one connection, up to the most the server
// accepts (WithMaxConcurrentCalls), each with its own flow-control window;
// Pool keeps up to its size of connections to one address: a call takes an
// idle one, else a new one while the pool has room, else shares the least
// loaded one. LocalClient calls the handlers of a
// Server in the same process through the same Caller interface.
//
//	err := c.Call(ctx, "Store.List", &ListRequest{}, &resp)            // JSON both ways
//	var r io.ReadCloser
//	err = c.Call(ctx, "Store.Read", &ReadRequest{Name: "x"}, &r)      // response stream
//	err = c.Call(ctx, "Blob.Put", file, &putResp)                     // request stream
//	err = c.Call(ctx, "Store.Write", native.StreamRequest{JSON: &w, Body: file}, &resp)
//
// A response stream arrives as it is sent. Its Read returns io.EOF only
// after the sender's trailer said the stream is complete: a source that
// failed, a connection that broke and a call that was aborted all end the
// stream with an error, never with a clean EOF. Closing the stream early or
// cancelling ctx aborts the call (an RST frame); the handler's context is
// cancelled and the connection stays usable for the next call.
//
// # Transports
//
// Any io.ReadWriteCloser carries a connection. ParseTarget reads the URLs
// of the usual ones (tcp://host:port, tls://host:port, unix:///path, and
// exec:command, the stdin and stdout of a command such as "ssh host gw
// backend -stdio"), and Target.Dialer opens them. On the other side of a
// pipe, Server.ServeConn(JoinConn(os.Stdin, os.Stdout)) serves the
// process's stdin and stdout.
//
// # Layers
//
//	io.ReadWriteCloser   the transport; closed last
//	  frame layer        frame.go: preface, 12-byte frame headers, limits
//	  wire layer         wire.go, wireframes.go, flow.go, heartbeat.go, role.go: writes
//	                     and their turns, flow control, PING, who reads the connection
//	  message layer      stream.go, header*.go: HEADER [BODY...] [DATA... TRAILER] | RST;
//	                     messages.go: streams of messages inside DATA
//	  call layer         handler.go, servercall.go, serverframes.go, serverconn.go,
//	                     inline.go, client.go, clientconn.go, clientread.go, local.go,
//	                     localmessages.go: calls, close handshake
//
// Teardown is stack-wise: Client.Close sends CLOSE, the server answers
// CLOSE_ACK, both sides leave the message layer, then close the transport.
// Server.Shutdown asks each client to go away the same way. PROTOCOL.md
// beside this file describes the wire format.
//
// # Limits
//
// Every peer may be hostile, so every resource a peer can take has a limit
// with a default (PROTOCOL.md lists them): memory grows with the bytes
// received, never with a length a frame claims; a server bounds the request
// bodies of all its connections together (WithMaxBodyMemory), the
// connections it serves (WithMaxConns: at the limit the one idle the longest
// makes room), the calls of all of them (WithMaxServerCalls) and of one
// (WithMaxConcurrentCalls), the bytes a peer may send ahead of their reader
// (WithStreamWindow, WithConnWindow), and how long a connection may stay
// idle (WithIdleTimeout) or silent in the middle of a request
// (WithReadTimeout). A peer that sends nothing, not even the answer to a
// PING, is dead after the heartbeat's timeout (WithHeartbeat): its calls
// fail with UNAVAILABLE, while a slow one that answers lives. A connection the
// server closes between calls goes through the close handshake; Pool
// redials, and makes again a call the server refused unprocessed as it
// closed the connection.
//
// # Tracing
//
// A trace context crosses the native hop in the request metadata.
// WithCallHook installs a CallHook on a Client, whose hook writes the
// caller's trace context into each call's metadata, and on a Server, whose
// hook reads it, starts the call's span and ends it when the response has
// been written. The package itself depends on no tracing library; package
// nativeotel is the hook for OpenTelemetry (W3C trace context):
//
//	srv := native.NewServer(native.WithCallHook(nativeotel.NewHook()))
//	c, err := native.Dial(ctx, "tcp", addr, native.WithCallHook(nativeotel.NewHook()))
//
// # Logging
//
// The package logs nothing unless given a logger with WithLogger; it then
// logs connection-level events (protocol errors, handler panics), never
// per call or per frame.
package native
