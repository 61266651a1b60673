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
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

	mu    sync.Mutex // serialises merges and health; guards parts and their state
	owner backendOwner

	updateMu  sync.Mutex     // serialises Updates
	retire    sync.WaitGroup // the removed backends waiting for their calls to end
	closed    chan struct{}  // closed by Close
	closeOnce sync.Once
}

// routerPart is one backend of a Router.
type routerPart struct {
	r    *Router
	name string
	b    Backend
	// inflight counts the calls routed to it; removed is set when an
	// Update takes it out of the routing table (see Call and Update).
	inflight atomic.Int64
	removed  atomic.Bool
	// r.mu:
	i        int            // its place in r.parts
	pending  bool           // added by an Update not yet applied: not merged
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
	if err := checkBackends(backends); err != nil {
		return nil, err
	}
	r := &Router{o: o, closed: make(chan struct{})}
	for i, nb := range backends {
		r.parts = append(r.parts, &routerPart{r: r, i: i, name: nb.Name, b: nb.Backend})
	}
	empty := map[string]*routerPart{}
	r.route.Store(&empty)
	r.up.Store(&map[string]bool{})
	return r, nil
}

// checkBackends checks the names of a router's backends: unique and not
// empty.
func checkBackends(backends []NamedBackend) error {
	if len(backends) == 0 {
		return errors.New("gateway: a router needs at least one backend")
	}
	seen := map[string]bool{}
	for i, nb := range backends {
		switch {
		case nb.Name == "":
			return fmt.Errorf("gateway: backend %d has no name", i+1)
		case seen[nb.Name]:
			return fmt.Errorf("gateway: two backends are named %s", clip.Quote(nb.Name))
		case nb.Backend == nil:
			return fmt.Errorf("gateway: backend %s is nil", clip.Quote(nb.Name))
		}
		seen[nb.Name] = true
	}
	return nil
}

// Call makes the call on the backend that serves method.
func (r *Router) Call(ctx context.Context, method string, req, resp any, opts ...native.CallOption) error {
	p, err := r.enter(method)
	if err != nil {
		return err
	}
	err = p.b.Call(ctx, method, req, resp, opts...)
	p.inflight.Add(-1)
	return err
}

// enter returns the part that serves method, counting a call in flight
// on it, which the caller ends with p.inflight.Add(-1).
func (r *Router) enter(method string) (*routerPart, error) {
	for {
		p := (*r.route.Load())[method]
		if p == nil {
			return nil, native.Errorf(native.CodeUnimplemented, "gateway: no backend serves endpoint %s", clip.Quote(method))
		}
		// Counted before removed is read: an Update that removes p sets
		// removed after it stores the new table, then waits for inflight
		// to reach zero, so either it waits for this call or this call
		// sees removed and reads the new table.
		p.inflight.Add(1)
		if p.removed.Load() {
			p.inflight.Add(-1)
			continue
		}
		return p, nil
	}
}

// valueInfo is valueBackend's: the Router takes values for the endpoints
// of its in-process backends.
func (r *Router) valueInfo(endpoint string) (native.ValueInfo, bool) {
	p := (*r.route.Load())[endpoint]
	if p == nil {
		return native.ValueInfo{}, false
	}
	vb, ok := p.b.(valueBackend)
	if !ok {
		return native.ValueInfo{}, false
	}
	return vb.valueInfo(endpoint)
}

// callValue is valueBackend's: native.ErrValueType when the endpoint's
// backend is not (or no longer) one in this process.
func (r *Router) callValue(ctx context.Context, endpoint string, req any, opts ...native.CallOption) (any, error) {
	p, err := r.enter(endpoint)
	if err != nil {
		return nil, err
	}
	defer p.inflight.Add(-1)
	vb, ok := p.b.(valueBackend)
	if !ok {
		return nil, native.ErrValueType
	}
	return vb.callValue(ctx, endpoint, req, opts...)
}

// Schema describes every backend and returns their merged schema. A
// backend that cannot be described counts with the schema it was last
// described with; it fails if none can be.
func (r *Router) Schema(ctx context.Context) (*native.Schema, error) {
	parts, schemas, err := r.describe(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(parts, r.parts) {
		return nil, errBackendsChanged
	}
	m, err := r.mergeLocked(schemas)
	if err != nil {
		return nil, err
	}
	return m.schema, nil
}

// describe describes every backend, in parallel: a backend that fails
// keeps its last schema (an error if it has none and none answered).
func (r *Router) describe(ctx context.Context) ([]*routerPart, []*native.Schema, error) {
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	out := make([]*native.Schema, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
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
	for i, p := range parts {
		if out[i] == nil {
			out[i] = p.schema
		} else {
			answered++
		}
	}
	if answered == 0 {
		return nil, nil, errors.Join(errs...)
	}
	for _, err := range errs {
		if err != nil {
			r.o.Logger.Warn("gateway: cannot describe a backend; keeping its endpoints", "err", err)
		}
	}
	return parts, out, nil
}

// errBackendsChanged is the error of a describe that an Update
// overtook: its schemas are of backends no longer served.
var errBackendsChanged = native.Errorf(native.CodeUnavailable, "gateway: the backends changed while they were described")

// refresh describes every backend again and serves the merge
// (Gateway.Refresh).
func (r *Router) refresh(ctx context.Context) error {
	parts, schemas, err := r.describe(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(parts, r.parts) {
		return errBackendsChanged
	}
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
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	for _, p := range parts {
		if err := r.start(ctx, p); err != nil {
			r.stop()
			return err
		}
	}
	return nil
}

// stop stops the supervision of every backend.
func (r *Router) stop() {
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	for _, p := range parts {
		if sb, ok := p.b.(supervisedBackend); ok {
			sb.stop()
		}
	}
}

// Close closes the backends that have connections of their own, those an
// Update removed too, without waiting for their calls to end.
func (r *Router) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	r.retire.Wait()
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	var errs []error
	for _, p := range parts {
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
	if p.pending || p.removed.Load() {
		return nil // merged when the Update applies; or no longer served
	}
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
	if !p.pending && !p.removed.Load() {
		r.healthLocked()
	}
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

// Update replaces the router's backends, for a reload, without dropping a
// call: a backend given that the router has (the same Backend value) is
// kept as it is, running; a new one is started and described within ctx;
// then the merge of all their schemas is mounted and becomes the routing
// table. A backend left out gets no more calls, and is stopped and closed
// (if it is an io.Closer) once its calls in flight have ended.
//
// If a new backend cannot be started, or the merge cannot be served (two
// backends serve one service without o.Precedence, or a served field would
// change its number or type), nothing changes: the new backends are
// closed and the error is returned. o.Logger nil keeps the router's.
func (r *Router) Update(ctx context.Context, backends []NamedBackend, o RouterOptions) error {
	if err := checkBackends(backends); err != nil {
		return err
	}
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	r.mu.Lock()
	if r.owner == nil {
		r.mu.Unlock()
		return errors.New("gateway: Update of a router no gateway serves")
	}
	have := map[Backend]*routerPart{}
	for _, p := range r.parts {
		have[p.b] = p
	}
	parts := make([]*routerPart, len(backends))
	var added []*routerPart
	for i, nb := range backends {
		if p := have[nb.Backend]; p != nil {
			parts[i] = p
			delete(have, nb.Backend)
			continue
		}
		p := &routerPart{r: r, name: nb.Name, b: nb.Backend, pending: true}
		parts[i] = p
		added = append(added, p)
	}
	r.mu.Unlock()

	discard := func() {
		for _, p := range added {
			p.removed.Store(true)
			if sb, ok := p.b.(supervisedBackend); ok {
				sb.stop()
			}
			if c, ok := p.b.(io.Closer); ok {
				c.Close()
			}
		}
	}
	for _, p := range added {
		if err := r.start(ctx, p); err != nil {
			discard()
			return err
		}
	}

	r.mu.Lock()
	oldParts, oldOpts := r.parts, r.o
	r.parts = parts
	if o.Logger == nil {
		o.Logger = r.o.Logger
	}
	r.o = o
	for i, p := range parts {
		p.i = i
	}
	m, err := r.mergeLocked(nil)
	if err == nil {
		err = r.owner.mount(ctx, m.schema)
	}
	if err != nil {
		r.parts, r.o = oldParts, oldOpts
		for i, p := range oldParts {
			p.i = i
		}
		r.mu.Unlock()
		discard()
		return err
	}
	for _, p := range added {
		p.pending = false
	}
	r.applyLocked(m)
	gone := slices.Collect(maps.Values(have))
	for _, p := range gone {
		p.removed.Store(true) // after the new table is stored: see Call
	}
	r.healthLocked()
	r.mu.Unlock()

	for _, p := range gone {
		r.o.Logger.Info("gateway: backend removed; closing it once its calls end", "backend", p.name)
		if sb, ok := p.b.(supervisedBackend); ok {
			sb.stop()
		}
		r.retire.Go(func() {
			// Calls have deadlines of their own; Close cuts the wait
			// short.
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
		wait:
			for p.inflight.Load() > 0 {
				select {
				case <-t.C:
				case <-r.closed:
					break wait
				}
			}
			if c, ok := p.b.(io.Closer); ok {
				c.Close()
			}
		})
	}
	for _, p := range added {
		r.o.Logger.Info("gateway: backend added", "backend", p.name)
	}
	return nil
}

// start starts one backend: a supervised one reports to its part from
// then on, any other is described now.
func (r *Router) start(ctx context.Context, p *routerPart) error {
	if sb, ok := p.b.(supervisedBackend); ok {
		if err := sb.supervise(ctx, p); err != nil {
			return fmt.Errorf("backend %s: %w", p.name, err)
		}
		return nil
	}
	s, err := p.b.Schema(ctx)
	if err != nil {
		return fmt.Errorf("gateway: describe backend %s: %w", p.name, err)
	}
	if err := p.mount(ctx, s); err != nil {
		return err
	}
	p.setServing(true)
	return nil
}
