package gateway

import (
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Option configures a Gateway.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	pkg    string
	logger *slog.Logger
	allow  []string // exact lower-case keys, or prefixes ending in "*"
	// exactAllow says allow has no prefix (set by newConfig).
	exactAllow bool
	observe    func(CallEvent)
	chunkSize  int
	maxJSON    int64
	limits     SchemaLimits
	// bodyTimeout bounds a request body's silence (progress.go).
	bodyTimeout time.Duration
	// onSchemaChange observes refused schema changes (schemachange.go).
	onSchemaChange func(*SchemaChangeError)
	// corsOrigins are the web origins allowed to call (crosssite.go).
	corsOrigins []string
	// compress compresses JSON answers of the REST front door (compress.go).
	compress bool
	// heartbeat is the interval of SSE comments and WebSocket pings
	// (restmessages.go).
	heartbeat time.Duration
}

// DefaultMetadataAllowlist is the request metadata passed to the backend
// unless WithMetadataAllowlist says otherwise.
var DefaultMetadataAllowlist = []string{"x-request-id", "traceparent", "tracestate"}

// DefaultChunkSize is the largest chunk of a response stream sent in one
// gRPC message. A gRPC download holds at most two chunks (1 MiB) whatever
// the client's pace; 512 KiB streams as fast as 1 MiB did (make bench),
// and 256 KiB was 10% slower.
const DefaultChunkSize = 512 << 10

func newConfig(opts []Option) config {
	c := config{pkg: "native", logger: slog.New(slog.DiscardHandler), allow: DefaultMetadataAllowlist, chunkSize: DefaultChunkSize, maxJSON: DefaultMaxJSONBody, limits: DefaultSchemaLimits, bodyTimeout: DefaultBodyTimeout, compress: true, heartbeat: DefaultStreamHeartbeat}
	for _, o := range opts {
		o.apply(&c)
	}
	c.exactAllow = !slices.ContainsFunc(c.allow, func(a string) bool { return strings.HasSuffix(a, "*") })
	return c
}

// WithPackage sets the proto package of the synthesized services (default
// "native"): endpoint "Store.List" is served as /<pkg>.Store/List.
func WithPackage(pkg string) Option { return optionFunc(func(c *config) { c.pkg = pkg }) }

// WithLogger sets the logger for gateway-level events (mounting, refresh
// failures). Per-call logging is the CallEvent observer's job. The default
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithMetadataAllowlist sets which request metadata keys (gRPC metadata
// and HTTP headers alike) are passed to the backend: exact names, or
// prefixes ending in "*" ("x-app-*"). Keys are compared in lower case.
func WithMetadataAllowlist(keys ...string) Option {
	return optionFunc(func(c *config) {
		c.allow = make([]string, len(keys))
		for i, k := range keys {
			c.allow[i] = strings.ToLower(k)
		}
	})
}

// WithCallObserver sets a function called once at the end of every call
// through the gateway, for logs and metrics.
func WithCallObserver(f func(CallEvent)) Option {
	return optionFunc(func(c *config) { c.observe = f })
}

// WithSchemaChangeObserver sets a function called each time the gateway
// refuses a new schema because it would change the number or type of a
// field already served (Refresh returns the same error), for metrics and
// alerts.
func WithSchemaChangeObserver(f func(*SchemaChangeError)) Option {
	return optionFunc(func(c *config) { c.onSchemaChange = f })
}

// WithChunkSize sets the largest response-stream chunk sent in one gRPC
// message (default DefaultChunkSize, 512 KiB). A gRPC download holds at
// most two chunks at a time, a REST one one chunk.
func WithChunkSize(n int) Option {
	return optionFunc(func(c *config) { c.chunkSize = max(n, 1024) })
}

// WithMaxJSONBody sets the largest JSON request body the REST front door
// reads (default DefaultMaxJSONBody); a larger one is refused with 413 and
// code RESOURCE_EXHAUSTED. Request byte streams (uploads) are not JSON
// bodies and have no such limit.
func WithMaxJSONBody(n int64) Option {
	return optionFunc(func(c *config) { c.maxJSON = max(n, 1) })
}

// WithCompression sets whether the REST front door compresses its JSON
// answers (unary results, error statuses, the gateway's API) with gzip or
// zstd for clients whose Accept-Encoding asks for it (default true). Byte
// streams are never compressed.
func WithCompression(on bool) Option {
	return optionFunc(func(c *config) { c.compress = on })
}

// SchemaLimits bound the schemas a gateway mounts. A backend's describe
// answer past any of them is refused with an error that names the limit
// (and wraps ErrSchemaLimit); the gateway keeps serving what it had. The
// defaults are far above what any real service declares, and keep the
// work of mounting a hostile schema small (the describe answer itself is
// bounded by the native client's body limit, native.WithMaxBodySize).
type SchemaLimits struct {
	// MaxDepth bounds how deeply list and map types nest in one another
	// (list<list<int64>> is 2).
	MaxDepth int
	// MaxMessages bounds the messages of a schema.
	MaxMessages int
	// MaxFieldsPerMessage bounds the fields of one message.
	MaxFieldsPerMessage int
	// MaxFields bounds the fields of all messages together.
	MaxFields int
	// MaxEndpoints bounds the endpoints of a schema.
	MaxEndpoints int
}

// DefaultSchemaLimits are the schema limits unless WithSchemaLimits says
// otherwise. Protobuf's own parsers stop nesting at 100.
var DefaultSchemaLimits = SchemaLimits{
	MaxDepth:            64,
	MaxMessages:         10_000,
	MaxFieldsPerMessage: 10_000,
	MaxFields:           100_000,
	MaxEndpoints:        10_000,
}

// WithSchemaLimits sets the limits on mounted schemas; a zero member keeps
// its default (DefaultSchemaLimits).
func WithSchemaLimits(l SchemaLimits) Option {
	return optionFunc(func(c *config) {
		d := DefaultSchemaLimits
		for _, p := range []struct{ v, def *int }{
			{&l.MaxDepth, &d.MaxDepth}, {&l.MaxMessages, &d.MaxMessages},
			{&l.MaxFieldsPerMessage, &d.MaxFieldsPerMessage}, {&l.MaxFields, &d.MaxFields},
			{&l.MaxEndpoints, &d.MaxEndpoints},
		} {
			if *p.v <= 0 {
				*p.v = *p.def
			}
		}
		c.limits = l
	})
}

// CallEvent describes one finished call through the gateway.
type CallEvent struct {
	Endpoint string        // native endpoint name; the gRPC method if unknown
	Protocol string        // "grpc" or "http"
	Code     uint32        // status code, gRPC numbering
	Duration time.Duration // from the request's arrival to the response's end
	BytesIn  int64         // request stream bytes passed to the backend
	BytesOut int64         // response stream bytes passed to the client
	Err      error         // the error, if any
}

// allowed reports whether metadata key k passes the allowlist.
func (c *config) allowed(k string) bool {
	for _, a := range c.allow {
		if p, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(k, p) {
				return true
			}
		} else if k == a {
			return true
		}
	}
	return false
}
