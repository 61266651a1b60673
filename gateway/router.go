package gateway

// Several backends behind one gateway. A Router is a Backend made of named
// backends, each serving its own services: the gateway serves the merge of
// their schemas (schemamerge.go), and every call, from every face, goes to
// the backend that serves its endpoint through the router's one routing
// table. Each backend keeps its own supervision (a RemoteBackend reconnects
// and follows its endpoints on its own), and the health of each gRPC
// service is its backend's: SERVING while it is up. The whole server ("")
// is SERVING while at least one backend is.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// NamedBackend is a backend and the name it goes by in errors, logs and
// the gateway API (an address; never put credentials in it).
type NamedBackend struct {
	Name    string
	Backend Backend
}

// RouterOptions configure a Router.
type RouterOptions struct {
	// Precedence settles a service that two backends serve: the first in
	// order serves it, and the other's endpoints of it are not served (a
	// warning is logged). Without it such a schema is refused with a
	// *ServiceConflictError naming both, and the gateway keeps serving
	// what it had.
	Precedence bool
	// Logger receives the router's events. The default discards them.
	Logger *slog.Logger
}

// Router routes calls to several backends. Give it to New.
type Router struct {
	o     RouterOptions
	parts []*routerPart

	route atomic.Pointer[map[string]*routerPart] // endpoint -> backend
	up    atomic.Pointer[map[string]bool]        // proto service (short name) -> its backend is up

	mu    sync.Mutex // serialises merges and health; guards the parts' state
	owner backendOwner
}

// routerPart is one backend of a Router.
type routerPart struct {
	r        *Router
	i        int
	name     string
	b        Backend
	schema   *native.Schema // described last; nil: never
	up       bool
	services []string // proto service names it serves
}

// NewRouter returns a router over backends, in order (the order decides
// precedence and who keeps a shared message name). Names must be unique
// and not empty.
func NewRouter(backends []NamedBackend, o RouterOptions) (*Router, error) {
	if len(backends) == 0 {
		return nil, errors.New("gateway: a router needs at least one backend")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{o: o}
	seen := map[string]bool{}
	for i, nb := range backends {
		switch {
		case nb.Name == "":
			return nil, fmt.Errorf("gateway: backend %d has no name", i+1)
		case seen[nb.Name]:
			return nil, fmt.Errorf("gateway: two backends are named %s", clip.Quote(nb.Name))
		case nb.Backend == nil:
			return nil, fmt.Errorf("gateway: backend %s is nil", clip.Quote(nb.Name))
		}
		seen[nb.Name] = true
		r.parts = append(r.parts, &routerPart{r: r, i: i, name: nb.Name, b: nb.Backend})
	}
	empty := map[string]*routerPart{}
	r.route.Store(&empty)
	r.up.Store(&map[string]bool{})
	return r, nil
}

// Call makes the call on the backend that serves method.
func (r *Router) Call(ctx context.Context, method string, req, resp any, opts ...native.CallOption) error {
	p := (*r.route.Load())[method]
	if p == nil {
		return native.Errorf(native.CodeUnimplemented, "gateway: no backend serves endpoint %s", clip.Quote(method))
	}
	return p.b.Call(ctx, method, req, resp, opts...)
}

// Schema describes every backend and returns their merged schema. A
// backend that cannot be described counts with the schema it was last
// described with; it fails if none can be.
func (r *Router) Schema(ctx context.Context) (*native.Schema, error) {
	schemas, err := r.describe(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.mergeLocked(schemas)
	if err != nil {
		return nil, err
	}
	return m.schema, nil
}

// describe describes every backend, in parallel: a backend that fails
// keeps its last schema (an error if it has none and none answered).
func (r *Router) describe(ctx context.Context) ([]*native.Schema, error) {
	out := make([]*native.Schema, len(r.parts))
	errs := make([]error, len(r.parts))
	var wg sync.WaitGroup
	for i, p := range r.parts {
		wg.Go(func() {
			s, err := p.b.Schema(ctx)
			if err != nil {
				errs[i] = fmt.Errorf("backend %s: %w", p.name, err)
			}
			out[i] = s
		})
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	answered := 0
	for i, p := range r.parts {
		if out[i] == nil {
			out[i] = p.schema
		} else {
			answered++
		}
	}
	if answered == 0 {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		if err != nil {
			r.o.Logger.Warn("gateway: cannot describe a backend; keeping its endpoints", "err", err)
		}
	}
	return out, nil
}

// refresh describes every backend again and serves the merge
// (Gateway.Refresh).
func (r *Router) refresh(ctx context.Context) error {
	schemas, err := r.describe(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := make([]*native.Schema, len(r.parts))
	for i, p := range r.parts {
		old[i], p.schema = p.schema, schemas[i]
	}
	return r.remountLocked(ctx, func() {
		for i, p := range r.parts {
			p.schema = old[i]
		}
	})
}

// Backends returns the name of each backend and the proto services it
// serves now (short names, without the package), in order.
func (r *Router) Backends() []BackendServices {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]BackendServices, len(r.parts))
	for i, p := range r.parts {
		out[i] = BackendServices{Name: p.name, Up: p.up, Services: append([]string(nil), p.services...)}
	}
	return out
}

// BackendServices is one backend of a Router, as Backends reports it.
type BackendServices struct {
	Name     string
	Up       bool
	Services []string
}

// BackendOf returns the name of the backend that serves endpoint, or "".
func (r *Router) BackendOf(endpoint string) string {
	if p := (*r.route.Load())[endpoint]; p != nil {
		return p.name
	}
	return ""
}

// mergeLocked merges schemas, one per backend (nil: the backends' own);
// r.mu is held.
func (r *Router) mergeLocked(schemas []*native.Schema) (*merged, error) {
	parts := make([]partSchema, len(r.parts))
	for i, p := range r.parts {
		parts[i] = partSchema{name: p.name, s: p.schema}
		if schemas != nil {
			parts[i].s = schemas[i]
		}
	}
	m, err := mergeSchemas(parts, r.o.Precedence)
	if err != nil {
		return nil, err
	}
	for _, s := range m.shadowed {
		r.o.Logger.Warn("gateway: a service two backends serve goes to the first in order", "service", s)
	}
	return m, nil
}

// applyLocked makes m the routing table and the backends' services; r.mu
// is held.
func (r *Router) applyLocked(m *merged) {
	route := make(map[string]*routerPart, len(m.route))
	for name, i := range m.route {
		route[name] = r.parts[i]
	}
	for i, p := range r.parts {
		p.services = m.services[i]
	}
	r.route.Store(&route)
}

// supervise starts every backend (New): a supervised one (RemoteBackend)
// reports to the router from then on, any other is described now, within
// ctx. It fails if a backend's types cannot be served or two backends
// serve one service (without precedence).
func (r *Router) supervise(ctx context.Context, owner backendOwner) error {
	r.mu.Lock()
	r.owner = owner
	r.mu.Unlock()
	if g, ok := owner.(*Gateway); ok {
		g.setHealthOf(r.serviceUp)
	}
	for _, p := range r.parts {
		if sb, ok := p.b.(supervisedBackend); ok {
			if err := sb.supervise(ctx, p); err != nil {
				r.stop()
				return fmt.Errorf("backend %s: %w", p.name, err)
			}
			continue
		}
		s, err := p.b.Schema(ctx)
		if err != nil {
			r.stop()
			return fmt.Errorf("gateway: describe backend %s: %w", p.name, err)
		}
		if err := p.mount(ctx, s); err != nil {
			r.stop()
			return err
		}
		p.setServing(true)
	}
	return nil
}

// stop stops the supervision of every backend.
func (r *Router) stop() {
	for _, p := range r.parts {
		if sb, ok := p.b.(supervisedBackend); ok {
			sb.stop()
		}
	}
}

// Close closes the backends that have connections of their own.
func (r *Router) Close() error {
	var errs []error
	for _, p := range r.parts {
		if c, ok := p.b.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// serviceUp reports whether the backend serving the proto service full
// (with its package) is up. It takes no lock: the gateway asks while the
// router holds r.mu (healthLocked).
func (r *Router) serviceUp(full string) bool {
	return (*r.up.Load())[full[strings.LastIndexByte(full, '.')+1:]]
}

// mount serves s as this backend's schema (backendOwner): the router
// merges it with the others' and mounts the result. If that fails, the
// backend keeps its previous schema.
func (p *routerPart) mount(ctx context.Context, s *native.Schema) error {
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	old := p.schema
	p.schema = s
	return r.remountLocked(ctx, func() { p.schema = old })
}

// remountLocked mounts the merge of the backends' schemas on the owner,
// and makes it the routing table; if that fails, undo restores the
// schemas. r.mu is held.
func (r *Router) remountLocked(ctx context.Context, undo func()) error {
	m, err := r.mergeLocked(nil)
	if err == nil {
		err = r.owner.mount(ctx, m.schema)
	}
	if err != nil {
		undo()
		return err
	}
	r.applyLocked(m)
	r.healthLocked()
	return nil
}

// setServing records whether this backend is up (backendOwner).
func (p *routerPart) setServing(ok bool) {
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	p.up = ok
	r.healthLocked()
}

// healthLocked has the owner recompute health: each service is up while
// its backend is, the whole server while any backend is; r.mu is held.
func (r *Router) healthLocked() {
	up := map[string]bool{}
	anyUp := false
	for _, p := range r.parts {
		anyUp = anyUp || p.up
		for _, s := range p.services {
			up[s] = p.up
		}
	}
	r.up.Store(&up)
	r.owner.setServing(anyUp)
}
