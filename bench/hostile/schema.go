package main

// Scenario schema (issue 13 item 4): a backend whose describe answer nests
// list types N deep; how long gw serve takes to start (or refuse), and how
// long it takes to exit on SIGTERM during that startup. Scenario openapi:
// GET /openapi.json with a backend of many endpoints.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

func runSchema(ctx context.Context, e *env) error {
	cfg := e.cfg
	for _, depth := range cfg.depths {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		size := len(nestedSchema(depth, ""))
		b, err := startFakeBackend(func(int64) []byte { return nestedSchema(depth, "") })
		if err != nil {
			return err
		}
		p, err := e.serveRemote(b.addr())
		if err != nil {
			b.close()
			return err
		}
		d, outcome := waitStarted(ctx, p, cfg.schemaCap)
		p.kill()
		b.close()
		note := fmt.Sprintf("%s answer; %s", benchkit.SizeName(int64(size)), outcome)
		e.logf("schema: depth %d: %.2fs, %s", depth, d.Seconds(), note)
		e.rep.add("schema", fmt.Sprintf("startup, lists %d deep", depth), "s", []float64{d.Seconds()},
			&goal{"< 1 s", 1}, note)
	}
	if len(cfg.depths) == 0 || ctx.Err() != nil {
		return ctx.Err()
	}
	// SIGTERM during the startup against a schema that changes at every
	// describe (as a backend that keeps changing it would).
	depth := cfg.sigtermDepth
	b, err := startFakeBackend(func(k int64) []byte { return nestedSchema(depth, strconv.FormatInt(k, 10)) })
	if err != nil {
		return err
	}
	defer b.close()
	p, err := e.serveRemote(b.addr(), "-shutdown-timeout", "2s")
	if err != nil {
		return err
	}
	defer p.kill()
	select {
	case <-time.After(cfg.sigtermAfter):
	case <-ctx.Done():
		return ctx.Err()
	}
	alreadyUp := p.addr("http") != ""
	t0 := time.Now()
	p.signal(syscall.SIGTERM)
	outcome := ""
	select {
	case <-p.exited:
		outcome = fmt.Sprintf("exited: %s", exitString(p))
	case <-time.After(cfg.schemaCap):
		outcome = fmt.Sprintf("still running after %v: killed", cfg.schemaCap)
	case <-ctx.Done():
		return ctx.Err()
	}
	d := time.Since(t0)
	if alreadyUp {
		outcome += "; it was serving already when signalled"
	}
	outcome += fmt.Sprintf("; %d describes answered", b.describes.Load())
	e.logf("schema: SIGTERM %v into startup, lists %d deep: %.2fs, %s", cfg.sigtermAfter, depth, d.Seconds(), outcome)
	e.rep.add("schema", fmt.Sprintf("exit on SIGTERM %v into startup, lists %d deep", cfg.sigtermAfter, depth), "s",
		[]float64{d.Seconds()}, &goal{"< 3 s", 3}, "-shutdown-timeout 2s; "+outcome)
	return nil
}

// serveRemote starts gw serve against a backend at addr (no native
// listener), without waiting.
func (e *env) serveRemote(addr string, extra ...string) (*proc, error) {
	dir, err := e.dataDir()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "-data-dir", dir, "-backend", "tcp://" + addr, "-native-addr", ""}, extra...)
	return startGW(e.reap, e.tools.gw, args...)
}

// waitStarted waits until gw serve answers /healthz, exits, or capped
// passes; it returns the time from the start and what happened.
func waitStarted(ctx context.Context, p *proc, capped time.Duration) (time.Duration, string) {
	hc := &http.Client{Timeout: time.Second}
	deadline := p.started.Add(capped)
	for {
		if a := p.addr("http"); a != "" {
			if code, body, err := healthz(hc, a); err == nil {
				return time.Since(p.started), fmt.Sprintf("healthz %d %q", code, capStr(body, 120))
			}
		}
		select {
		case <-p.exited:
			return time.Since(p.started), "exited: " + exitString(p)
		case <-ctx.Done():
			return time.Since(p.started), "run stopped"
		case <-time.After(min(20*time.Millisecond, time.Until(deadline))):
		}
		if !time.Now().Before(deadline) {
			return time.Since(p.started), fmt.Sprintf("> %v: neither serving nor refused; killed", capped)
		}
	}
}

// exitString is the exit status and the last log message of an exited gw.
func exitString(p *proc) string {
	last := p.lastLog()
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	var rec struct{ Msg, Err string }
	if json.Unmarshal([]byte(last), &rec) == nil && rec.Msg != "" {
		last = rec.Msg
		if rec.Err != "" {
			last += ": " + rec.Err
		}
	}
	st := "exit 0"
	if p.waitErr != nil {
		st = p.waitErr.Error()
	}
	return fmt.Sprintf("%s, last log %q", st, capStr(last, 200))
}

func capStr(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}

// runOpenAPI measures GET /openapi.json (time, size, bytes the gateway
// allocated, its RSS) against a backend of cfg.openapiEndpoints endpoints.
func runOpenAPI(ctx context.Context, e *env) error {
	cfg := e.cfg
	schema := wideSchema(cfg.openapiEndpoints)
	b, err := startFakeBackend(func(int64) []byte { return schema })
	if err != nil {
		return err
	}
	defer b.close()
	p, err := e.serveRemote(b.addr())
	if err != nil {
		return err
	}
	defer p.stop(5 * time.Second)
	t0 := time.Now()
	if err := p.waitServing(cfg.schemaCap); err != nil {
		return fmt.Errorf("%d endpoints: %w", cfg.openapiEndpoints, err)
	}
	startup := time.Since(t0)
	idle, _ := p.status("VmRSS")
	hc := &http.Client{Timeout: cfg.schemaCap}
	base := "http://" + p.addr("http")
	var ms, mib, sizes []float64
	for range cfg.n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		before, err := allocated(hc, base)
		if err != nil {
			return err
		}
		t := time.Now()
		resp, err := hc.Get(base + "/openapi.json")
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /openapi.json: %d, %v", resp.StatusCode, err)
		}
		ms = append(ms, float64(time.Since(t))/float64(time.Millisecond))
		after, err := allocated(hc, base)
		if err != nil {
			return err
		}
		mib = append(mib, (after-before)/(1<<20))
		sizes = append(sizes, float64(n)/(1<<20))
	}
	rss, _ := p.status("VmRSS")
	hwm, _ := p.status("VmHWM")
	name := fmt.Sprintf("%d endpoints", cfg.openapiEndpoints)
	e.rep.add("openapi", name+": GET time", "ms", ms, nil, "")
	e.rep.add("openapi", name+": allocated per GET", "MiB", mib, nil, "go_memstats_alloc_bytes_total of gw, before and after (includes the /metrics scrape)")
	e.rep.add("openapi", name+": document size", "MiB", sizes, nil, "")
	e.rep.add("openapi", name+": RSS after the GETs", "MiB", []float64{rss}, nil, fmt.Sprintf("%.0f MiB before them; VmHWM %.0f MiB", idle, hwm))
	e.rep.add("openapi", name+": startup", "s", []float64{startup.Seconds()}, nil, "until /healthz answered 200")
	return nil
}

// allocated reads go_memstats_alloc_bytes_total from gw's /metrics.
func allocated(hc *http.Client, base string) (float64, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_memstats_alloc_bytes_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no go_memstats_alloc_bytes_total in /metrics (%d)", resp.StatusCode)
}
