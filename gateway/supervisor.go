package gateway

// The remote-backend supervisor: a RemoteBackend watched and reconnected,
// its endpoints and health kept on the gateway that serves it.
//
// A RemoteBackend keeps a pool (native.Pool) for the calls, and takes one
// of its connections as the control connection, for describing the backend:
// connections multiplex, so a probe never waits behind long downloads for a
// slot, and a backend behind a pipe (exec:) runs one process. The pool
// dials more only when its connections are busy and its size allows. Loss
// is noticed three ways, and the first two are immediate:
//
//   - any connection's transport ends (a read fails, or it is closed: the
//     backend process died, its socket was reset, it shut down);
//   - a call fails with CodeUnavailable (a dial was refused, a connection
//     broke mid-call);
//   - the periodic probe (a describe on the control connection, every
//     ProbeInterval) fails or times out: a half-open connection, a hung
//     backend.
//
// Each of these wakes the supervisor, which describes the backend on the
// control connection. If that fails it takes that connection out of the
// pool and describes on another, dialled at once if need be (the backend
// may merely have dropped one connection); only if that fails too is the
// backend down: health turns NOT_SERVING and every call
// fails at once with UNAVAILABLE, without dialling, until a reconnect
// attempt succeeds. Attempts follow an exponential backoff with jitter
// (MinBackoff doubling up to MaxBackoff, each delay randomised by ±20%). A
// successful attempt describes the backend and mounts its endpoints (only
// when they changed), then health turns SERVING again. The periodic probe
// also mounts endpoints registered or unregistered on a backend that stayed
// up.
//
// With the defaults, a backend process that dies is seen down within
// milliseconds (its connections end), calls fail at once from then on, and
// a backend that comes back is used again at the next attempt: one at once,
// then after about 100ms, 200ms, 400ms, ... and then every 5s or so.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/framegate/framegate/native"
)

// supervise connects to the backend (ctx bounds this first attempt), mounts
// its endpoints on owner, and supervises the backend until stop: New calls
// it, once, directly or through a Router. If the backend cannot be reached
// now, owner gets no endpoints and NOT_SERVING, and gets them when the
// backend comes up. It fails only if the backend's types cannot be mapped
// to protobuf.
func (r *RemoteBackend) supervise(ctx context.Context, owner backendOwner) error {
	if !r.supervised.CompareAndSwap(false, true) {
		return errors.New("gateway: a RemoteBackend serves one gateway, once")
	}
	r.mu.Lock()
	r.owner = owner
	r.since = time.Now()
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.stopCtx, cancel)
	c, s, err := r.connectOnce(ctx)
	if err == nil {
		err = r.mount(ctx, s)
		stop()
		cancel()
		if err != nil {
			r.pool.Remove(c)
			return err
		}
		r.setUp(c)
	} else {
		stop()
		cancel()
		if err := owner.mount(context.Background(), &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}}); err != nil {
			return err
		}
		r.setDown(err)
	}
	r.loopStarted.Store(true)
	go r.loop()
	return nil
}

// stop ends the supervision: health and endpoints are no longer changed,
// calls keep going to the pool (Gateway.Drain stops it first so that a
// reconnect cannot turn health back to SERVING). It waits for the
// supervisor to return.
func (r *RemoteBackend) stop() {
	r.stopOnce.Do(func() {
		r.cancelStop()
		close(r.stopCh)
	})
	if r.loopStarted.Load() {
		<-r.done
	}
}

// loop is the supervisor.
func (r *RemoteBackend) loop() {
	defer close(r.done)
	var tick <-chan time.Time
	if r.o.ProbeInterval > 0 {
		t := time.NewTicker(r.o.ProbeInterval)
		defer t.Stop()
		tick = t.C
	}
	attempt := 0
	for {
		if r.down.Load() {
			t := time.NewTimer(backoffDelay(r.o.MinBackoff, r.o.MaxBackoff, attempt, rand.Float64()))
			attempt++
			select {
			case <-r.stopCh:
				t.Stop()
				return
			case <-t.C:
			}
			if r.reconnect() {
				attempt = 0
			}
			continue
		}
		select {
		case <-r.stopCh:
			return
		case <-r.kick:
		case <-tick:
		}
		if err := r.probe(); err != nil {
			r.o.Logger.Debug("gateway: backend probe failed; reconnecting", "backend", r.o.Name, "err", err)
			// Not on the connection that failed: the pool dials another.
			r.mu.Lock()
			c := r.control
			r.mu.Unlock()
			if c != nil {
				r.pool.Remove(c)
			}
			r.reconnect()
		}
	}
}

// reconnect makes one attempt to connect, describe and mount, and records
// the outcome; it reports whether the backend is up.
func (r *RemoteBackend) reconnect() bool {
	c, s, err := r.connectOnce(r.stopCtx)
	if err != nil {
		if r.stopCtx.Err() == nil {
			r.setDown(err)
		}
		return false
	}
	if err := r.mount(r.stopCtx, s); err != nil {
		if r.stopCtx.Err() != nil {
			r.pool.Remove(c)
			return false
		}
		// The backend answers but its endpoints cannot be served: keep
		// serving the ones mounted before (the backend refuses the calls
		// to endpoints it no longer has).
		r.o.Logger.Error("gateway: cannot serve the backend's endpoints; keeping the previous ones", "backend", r.o.Name, "err", err)
	}
	r.setUp(c)
	return true
}

// connectOnce takes the pool's connection (dialling it if need be) as the
// control connection, and describes the backend on it.
func (r *RemoteBackend) connectOnce(ctx context.Context) (*native.Client, *native.Schema, error) {
	c, err := r.pool.Client(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := r.describe(ctx, c)
	if err != nil {
		r.pool.Remove(c)
		return nil, nil, err
	}
	return c, s, nil
}

func (r *RemoteBackend) describe(ctx context.Context, c *native.Client) (*native.Schema, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.ProbeTimeout)
	defer cancel()
	var s native.Schema
	if err := c.Call(ctx, native.DescribeEndpoint, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// probe describes the backend on the control connection and mounts its
// endpoints if they changed.
func (r *RemoteBackend) probe() error {
	r.mu.Lock()
	c := r.control
	r.mu.Unlock()
	if c == nil {
		return native.ErrClosed
	}
	s, err := r.describe(r.stopCtx, c)
	if err != nil {
		return err
	}
	if err := r.mount(r.stopCtx, s); err != nil && r.stopCtx.Err() == nil {
		r.o.Logger.Error("gateway: cannot serve the backend's endpoints; keeping the previous ones", "backend", r.o.Name, "err", err)
	}
	return nil
}

// mount serves s unless it is what is served already; ctx (cancelled by
// Stop) bounds the building of its descriptors.
func (r *RemoteBackend) mount(ctx context.Context, s *native.Schema) error {
	b, err := json.Marshal(s) // map keys sorted: equal schemas, equal bytes
	if err != nil {
		return err
	}
	r.mu.Lock()
	same := r.schemaJSON != nil && bytes.Equal(b, r.schemaJSON)
	first := r.schemaJSON == nil
	g := r.owner
	r.mu.Unlock()
	if same {
		return nil
	}
	if err := g.mount(ctx, s); err != nil {
		if ctx.Err() == nil {
			r.mu.Lock()
			r.schemaJSON = b // say it once, not at every probe
			r.mu.Unlock()
		}
		return err
	}
	r.mu.Lock()
	r.schemaJSON = b
	r.endpoints = len(s.Endpoints)
	r.mu.Unlock()
	if !first {
		r.o.Logger.Info("gateway: backend endpoints changed", "backend", r.o.Name, "endpoints", len(s.Endpoints))
	}
	return nil
}

// setUp makes c the control connection and the backend up.
func (r *RemoteBackend) setUp(c *native.Client) {
	r.mu.Lock()
	old := r.control
	r.control = c
	wasDown := r.down.Load() || !r.everUp
	back := r.down.Load() && r.everUp
	var downtime time.Duration
	if wasDown {
		downtime = time.Since(r.since)
		r.since = time.Now()
	}
	if back {
		r.reconnects++
	}
	r.everUp = true
	r.lastErr = nil
	r.down.Store(false)
	g, endpoints := r.owner, r.endpoints
	r.mu.Unlock()
	if old != nil && old != c {
		r.pool.Remove(old)
	}
	if wasDown {
		g.setServing(true)
		attrs := []any{"backend", r.o.Name, "endpoints", endpoints}
		if back {
			attrs = append(attrs, "downtime", downtime)
		}
		r.o.Logger.Info("gateway: backend connected", attrs...)
	}
}

// setDown records that the backend cannot be reached, and why.
func (r *RemoteBackend) setDown(err error) {
	r.mu.Lock()
	wasUp := !r.down.Load()
	r.lastErr = err
	if wasUp {
		r.since = time.Now()
	}
	old := r.control
	r.control = nil
	r.down.Store(true)
	g := r.owner
	r.mu.Unlock()
	if old != nil {
		r.pool.Remove(old)
	}
	if wasUp {
		g.setServing(false)
		r.o.Logger.Warn("gateway: backend unavailable; calls fail until it is back", "backend", r.o.Name, "err", err)
	} else {
		r.o.Logger.Debug("gateway: backend still unavailable", "backend", r.o.Name, "err", err)
	}
}

// backoffDelay is the wait before reconnect attempt n (from 0): min
// doubled n times, at most max, times a factor in [0.8, 1.2) drawn from rnd
// in [0, 1), and never more than max.
func backoffDelay(minD, maxD time.Duration, n int, rnd float64) time.Duration {
	d := maxD
	if n < 32 && minD<<n > 0 && minD<<n < maxD {
		d = minD << n
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rnd))
	return min(d, maxD)
}
