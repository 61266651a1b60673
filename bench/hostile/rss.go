package main

// Scenario rss (issue 13 item 1): memory reserved from a claimed length.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

func runRSS(ctx context.Context, e *env) error {
	cfg := e.cfg
	type variant struct {
		name  string
		conns int
		send  func(ctx context.Context, c net.Conn) error
		goal  *goal
	}
	variants := []variant{
		{fmt.Sprintf("stall %dx%s", cfg.stallConns, benchkit.SizeName(cfg.stallClaim)), cfg.stallConns, func(ctx context.Context, c net.Conn) error {
			_, err := c.Write(append(append(preface(), requestHeader("Store.List")...), frameHeader(typeBody, 0, uint32(cfg.stallClaim), 1)...))
			return err
		}, &goal{"< 64 MiB", 64}},
		{fmt.Sprintf("drip %dx%s", cfg.dripConns, benchkit.SizeName(cfg.dripBytes)), cfg.dripConns, func(ctx context.Context, c net.Conn) error {
			return drip(ctx, c, cfg.dripBytes)
		}, nil},
	}
	for _, v := range variants {
		var above, idle, hwm, open []float64
		for range cfg.rssRuns {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := rssRun(ctx, e, v.conns, v.send)
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			e.logf("rss %s: idle %.1f MiB, +%.1f MiB after %v (VmHWM %.1f MiB), %d of %d connections open",
				v.name, r.idle, r.rss-r.idle, cfg.settle, r.hwm, r.open, v.conns)
			idle, above, hwm, open = append(idle, r.idle), append(above, r.rss-r.idle), append(hwm, r.hwm), append(open, float64(r.open))
		}
		e.rep.add("rss", v.name+": RSS above idle", "MiB", above, v.goal, fmt.Sprintf("read %v after the attack", cfg.settle))
		e.rep.add("rss", v.name+": VmHWM", "MiB", hwm, nil, "")
		e.rep.add("rss", v.name+": idle RSS", "MiB", idle, nil, "before the attack")
		e.rep.add("rss", v.name+": conns left open", "count", open, nil, fmt.Sprintf("of %d, when RSS was read", v.conns))
	}
	return nil
}

type rssResult struct {
	idle, rss, hwm float64
	open           int
}

// rssRun starts a fresh gw serve, reads its idle RSS, opens conns native
// connections that each do send, waits cfg.settle and reads the RSS again.
func rssRun(ctx context.Context, e *env, conns int, send func(context.Context, net.Conn) error) (res rssResult, err error) {
	p, err := e.serveEmbedded()
	if err != nil {
		return res, err
	}
	defer p.stop(5 * time.Second)
	time.Sleep(300 * time.Millisecond) // let start-up garbage go
	if res.idle, err = p.status("VmRSS"); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second) // bounds the sends
	defer cancel()
	var (
		mu   sync.Mutex
		cs   []net.Conn
		errs []error
		wg   sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for _, c := range cs {
			c.Close()
		}
		mu.Unlock()
	}()
	sem := make(chan struct{}, 32)
	for range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", p.addr("native"))
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			mu.Lock()
			cs = append(cs, c)
			mu.Unlock()
			stopWrite := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Now()) })
			defer stopWrite()
			if err := send(ctx, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-time.After(e.cfg.settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if res.rss, err = p.status("VmRSS"); err != nil {
		return res, err
	}
	if res.hwm, err = p.status("VmHWM"); err != nil {
		return res, err
	}
	mu.Lock()
	for _, c := range cs {
		if connOpen(c) {
			res.open++
		}
	}
	mu.Unlock()
	if len(errs) > 0 {
		e.logf("rss: %d of %d connections failed to send all (first: %v)", len(errs), conns, errs[0])
	}
	return res, nil
}

// drip sends the preface, a request header and n body bytes in full BODY
// frames without END: the body grows to n and the request never ends.
func drip(ctx context.Context, c net.Conn, n int64) error {
	if _, err := c.Write(append(preface(), requestHeader("Store.List")...)); err != nil {
		return err
	}
	chunk := make([]byte, maxPayload)
	for i := range chunk {
		chunk[i] = ' ' // JSON whitespace
	}
	for n > 0 && ctx.Err() == nil {
		k := min(n, maxPayload)
		if _, err := c.Write(frameHeader(typeBody, 0, uint32(k), 1)); err != nil {
			return err
		}
		if _, err := c.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return ctx.Err()
}

// connOpen reports whether the peer has not closed c: whatever it sent is
// read and dropped until a read would block (open) or fails (closed).
func connOpen(c net.Conn) bool {
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		_, err := c.Read(b)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true
		}
		if err != nil {
			return false
		}
	}
}
