// Package gateway makes every endpoint of a native server reachable from the
// gRPC and REST ecosystems without a .proto file for it. It builds protobuf
// descriptors from the native server's schema (its Go types, or a remote
// server's self-description), serves them as real gRPC services with server
// reflection and health, and as REST through grpc-gateway's runtime.
//
// Endpoints may appear and disappear while the gateway serves: Refresh
// describes the backend again and swaps the whole descriptor set at once.
// A new schema that changes the number or type of a field already served
// is refused (schemachange.go): clients built from the served descriptors
// would misread it. Gateway.Descriptors, GET /v1/descriptors and
// WriteProto export what is served, for buf breaking.
//
// A gRPC call whose request is one JSON value is transcoded without a
// message object: the request's protobuf wire bytes become the native JSON
// in one pass (wirejson.go), and a JSON answer becomes wire bytes in one
// pass (jsonwire.go), both driven by the codec tables (codec.go). Uploads
// and REST requests go through dynamicpb messages (decode.go, encode.go),
// the path FuzzTranscodeDiff holds the direct one to. A unary call of an
// in-process backend (Local) whose request and response are plain Go
// structs skips JSON altogether: the wire bytes are decoded straight into
// the handler's struct and its answer encoded straight back
// (wirevalue.go, native.LocalClient.CallValue); FuzzWireValue holds that
// shortcut to the JSON path.
//
// The package depends on no tracing library. To trace calls through it,
// give NewGRPCServer otelgrpc's stats handler, wrap HTTPHandler in
// otelhttp, and give the native clients (RemoteOptions.ClientOptions) and
// servers nativeotel's hook (native.WithCallHook), which sends the trace
// context of the gateway's span over the native hop in place of any a
// client sent through the metadata allowlist; the hook writes it after
// the allowlist, so an allowlist without traceparent does not stop it.
// gw -otlp-endpoint does exactly this.
package gateway

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/native"
)

// Gateway serves a backend's native endpoints over gRPC (NewGRPCServer) and
// HTTP (Handler).
type Gateway struct {
	backend Backend
	cfg     config
	set     atomic.Pointer[protoSet]
	schema  atomic.Pointer[native.Schema]
	health  *health.Server
	refused atomic.Pointer[SchemaChangeError] // schemachange.go

	refreshMu sync.Mutex // serialises Refresh: describe and mount as one step
	mu        sync.Mutex // serialises mount and setServing
	serving   bool
	services  []string // names with a health status
	// healthOf, if set (by a Router), says whether the backend of a
	// service is up: the service is SERVING only then.
	healthOf func(service string) bool
}

// New describes backend and returns a gateway serving its endpoints. It fails
// if the backend cannot be described or its types cannot be mapped to
// protobuf (the error names the endpoint and field).
//
// A RemoteBackend is supervised by the gateway from then on: ctx bounds
// its first connection only, and if it cannot be reached now the gateway
// starts with no endpoints and NOT_SERVING, and gets them when the backend
// comes up (supervisor.go). A Router's backends are started the same way,
// each on its own. The gateway owns the backend: Drain stops the
// supervision, Close closes its connections. If New fails, the backend is
// not supervised, and the caller closes it.
func New(ctx context.Context, backend Backend, opts ...Option) (*Gateway, error) {
	g, err := newGateway(backend, opts)
	if err != nil {
		return nil, err
	}
	if sb, ok := backend.(supervisedBackend); ok {
		if err := sb.supervise(ctx, g); err != nil {
			return nil, err
		}
		return g, nil
	}
	if err := g.Refresh(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// supervisedBackend is a backend that watches itself and keeps the
// endpoints and health of its owner, the gateway serving it or the Router
// it is part of (RemoteBackend, Router): New starts it, Drain stops it.
type supervisedBackend interface {
	Backend
	supervise(ctx context.Context, owner backendOwner) error
	stop()
}

// backendOwner is what a supervised backend reports to: a Gateway, or its
// place in a Router.
type backendOwner interface {
	// mount serves s as the backend's endpoints; it fails, and what was
	// served stays, when they cannot be served.
	mount(ctx context.Context, s *native.Schema) error
	// setServing records whether the backend is up.
	setServing(ok bool)
}

// Drain turns every health status to NOT_SERVING for good, for a server
// about to shut down: the backend's supervisor is stopped first, so that a
// reconnect cannot turn it back to SERVING. Calls still go to the backend.
func (g *Gateway) Drain() {
	if sb, ok := g.backend.(supervisedBackend); ok {
		sb.stop()
	}
	g.setServing(false)
}

// Close drains the gateway and closes the backend's connections, if it
// has any of its own (a RemoteBackend: idle ones now, those with a call in
// progress when it completes).
func (g *Gateway) Close() error {
	g.Drain()
	if c, ok := g.backend.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// newGateway returns a gateway that serves nothing yet: mount gives it its
// endpoints.
func newGateway(backend Backend, opts []Option) (*Gateway, error) {
	g := &Gateway{backend: backend, cfg: newConfig(opts), health: health.NewServer(), serving: true}
	if err := checkPackage(g.cfg.pkg); err != nil {
		return nil, err
	}
	if err := checkCORSOrigins(g.cfg.corsOrigins); err != nil {
		return nil, err
	}
	return g, nil
}

// Refresh describes the backend again and, if that works, swaps in the new
// set of services; calls in flight finish on the old one. On failure the
// gateway keeps serving what it had.
func (g *Gateway) Refresh(ctx context.Context) error {
	// Without this, two concurrent refreshes could mount the older of
	// their two descriptions last.
	g.refreshMu.Lock()
	defer g.refreshMu.Unlock()
	if r, ok := g.backend.(*Router); ok {
		return r.refresh(ctx)
	}
	s, err := g.backend.Schema(ctx)
	if err != nil {
		return fmt.Errorf("gateway: describe the backend: %w", err)
	}
	return g.mount(ctx, s)
}

// mount serves the endpoints of s, replacing what was served. It fails,
// and the gateway keeps serving what it had, when s is past the gateway's
// SchemaLimits or cannot be mapped to protobuf, when ctx is done before the
// descriptors are built, or, with a *SchemaChangeError, when s changes the
// number or type of a field already served (schemachange.go).
func (g *Gateway) mount(ctx context.Context, s *native.Schema) error {
	set, err := buildProtoSet(ctx, s, g.cfg.pkg, g.cfg.limits)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.refuseChangesLocked(set); err != nil {
		return err
	}
	g.schema.Store(s)
	g.set.Store(set)
	names := map[string]bool{}
	for _, n := range set.serviceNames() {
		names[string(n)] = true
	}
	for _, old := range g.services {
		if !names[old] {
			g.health.SetServingStatus(old, healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
		}
	}
	g.services = g.services[:0]
	for _, n := range set.serviceNames() {
		g.services = append(g.services, string(n))
	}
	g.setHealthLocked()
	g.cfg.logger.Info("gateway: mounted endpoints", "endpoints", len(s.Endpoints), "services", len(g.services))
	return nil
}

// setServing sets the health of every service and of the whole server:
// NOT_SERVING while the backend is unreachable, SERVING otherwise.
func (g *Gateway) setServing(ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.serving = ok
	g.setHealthLocked()
}

func (g *Gateway) setHealthLocked() {
	st := healthpb.HealthCheckResponse_SERVING
	if !g.serving {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	g.health.SetServingStatus("", st)
	for _, n := range g.services {
		if st == healthpb.HealthCheckResponse_SERVING && g.healthOf != nil && !g.healthOf(n) {
			g.health.SetServingStatus(n, healthpb.HealthCheckResponse_NOT_SERVING)
			continue
		}
		g.health.SetServingStatus(n, st)
	}
}

// setHealthOf sets the per-service health of a Router's backends.
func (g *Gateway) setHealthOf(up func(service string) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.healthOf = up
}

// Health returns the gateway's health server (grpc.health.v1), for
// registration on other servers and for readiness checks.
func (g *Gateway) Health() *health.Server { return g.health }

// Schema returns the native schema currently served.
func (g *Gateway) Schema() *native.Schema { return g.schema.Load() }
