package main

// Scenario siege (issue 13 item 2): well-behaved clients while idle native
// connections, stalled REST bodies and header-only gRPC streams are held.

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

func runSiege(ctx context.Context, e *env) error {
	cfg := e.cfg
	p, err := e.serveEmbedded()
	if err != nil {
		return err
	}
	defer p.stop(5 * time.Second)
	idleRSS, _ := p.status("VmRSS")

	// The attack, held until the clients are done.
	nat, natErr := dialMany(ctx, p.addr("native"), cfg.idleNative, func(c net.Conn) error {
		if _, err := c.Write(preface()); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := readPreface(c)
		c.SetReadDeadline(time.Time{})
		return err
	})
	defer closeAll(nat)
	restReq := "POST /native.Store/List HTTP/1.1\r\nHost: " + p.addr("http") + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	rest, restErr := dialMany(ctx, p.addr("http"), cfg.stalledREST, func(c net.Conn) error {
		_, err := c.Write([]byte(restReq))
		return err
	})
	defer closeAll(rest)
	gs, err := openStreams(ctx, p.addr("grpc"), cfg.grpcStreams)
	if err != nil {
		return err
	}
	defer gs.close()
	e.logf("siege: holding %d idle native connections (%d refused), %d stalled REST bodies (%d refused), %d of %d gRPC streams opened",
		len(nat), natErr, len(rest), restErr, gs.opened.Load(), cfg.grpcStreams)
	attackRSS, _ := p.status("VmRSS")

	t0 := time.Now()
	clients := []struct {
		name string
		cmd  func(ctx context.Context) *exec.Cmd
	}{
		{"gw", func(ctx context.Context) *exec.Cmd {
			return exec.CommandContext(ctx, e.tools.gw, "call", "-addr", "tcp://"+p.addr("native"), "Store.List", `{"prefix":""}`)
		}},
		{"grpcurl", func(ctx context.Context) *exec.Cmd {
			return exec.CommandContext(ctx, e.tools.grpcurl, "-plaintext", "-d", `{"prefix":""}`, p.addr("grpc"), "native.Store/List")
		}},
		{"curl", func(ctx context.Context) *exec.Cmd {
			return exec.CommandContext(ctx, e.tools.curl, "-sS", "--fail-with-body", "-X", "POST", "-H", "Content-Type: application/json",
				"-d", `{"prefix":""}`, "http://"+p.addr("http")+"/native.Store/List")
		}},
	}
	for _, c := range clients {
		if !cfg.clients[c.name] {
			continue
		}
		var ms []float64
		ok, fails := 0, map[string]int{}
		for range cfg.n {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d, err := runClient(ctx, c.cmd, cfg.callTimeout)
			ms = append(ms, float64(d)/float64(time.Millisecond))
			if err != nil {
				fails[err.Error()]++
			} else {
				ok++
			}
		}
		note := fmt.Sprintf("%d/%d ok", ok, cfg.n)
		if len(fails) > 0 {
			note += "; failed: " + countsString(fails)
		}
		e.logf("siege: %s: %s", c.name, note)
		e.rep.add("siege", c.name+" latency", "ms", ms, &goal{"< 1000 ms, all ok", 1000}, note)
		if ok < cfg.n {
			e.rep.failLast()
		}
		e.rep.add("siege", c.name+" ok", "count", []float64{float64(ok)}, nil, fmt.Sprintf("of %d runs, each capped at %v", cfg.n, cfg.callTimeout))
	}
	if cfg.siegeHold > 0 {
		e.logf("siege: holding the attack %v more", cfg.siegeHold)
		select {
		case <-time.After(cfg.siegeHold):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	held := time.Since(t0)

	natOpen, restOpen := countOpen(nat), countOpen(rest)
	ended, endedAfter := gs.endings()
	e.rep.add("siege", "native idle: accepted", "count", []float64{float64(len(nat))}, nil,
		fmt.Sprintf("of %d; the gateway answered the preface", cfg.idleNative))
	e.rep.add("siege", "native idle: closed by gw", "count", []float64{float64(len(nat) - natOpen)}, nil, fmt.Sprintf("of those accepted, within ~%.0fs", held.Seconds()))
	e.rep.add("siege", "REST stalled: connected", "count", []float64{float64(len(rest))}, nil, fmt.Sprintf("of %d", cfg.stalledREST))
	e.rep.add("siege", "REST stalled: closed by gw", "count", []float64{float64(len(rest) - restOpen)}, nil, fmt.Sprintf("of those connected, within ~%.0fs", held.Seconds()))
	e.rep.add("siege", "gRPC streams: opened", "count", []float64{float64(gs.opened.Load())}, nil, fmt.Sprintf("of %d on one connection", cfg.grpcStreams))
	e.rep.add("siege", "gRPC streams: ended by gw", "count", []float64{float64(gs.ended.Load())}, nil, countsString(ended))
	if len(endedAfter) > 0 {
		e.rep.add("siege", "gRPC streams: ended after", "s", endedAfter, nil, "from opening the first stream")
	}
	e.rep.add("siege", "gw RSS under siege", "MiB", []float64{attackRSS}, nil, fmt.Sprintf("idle %.1f MiB", idleRSS))
	return nil
}

// runClient runs one client call, capped at timeout; the error names the
// failure briefly (exit status and the first line of stderr).
func runClient(ctx context.Context, mk func(context.Context) *exec.Cmd, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := mk(ctx)
	cmd.SysProcAttr = sysAttr()
	cmd.WaitDelay = time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if ctx.Err() != nil {
		return d, fmt.Errorf("timeout after %v", timeout)
	}
	if err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ") // grpcurl spreads its error over lines
		return d, fmt.Errorf("%v: %s", err, capStr(msg, 120))
	}
	return d, nil
}

// dialMany opens n connections to addr, each set up by hello, and returns
// those that succeeded and the number that failed.
func dialMany(ctx context.Context, addr string, n int, hello func(net.Conn) error) ([]net.Conn, int) {
	var (
		mu     sync.Mutex
		cs     []net.Conn
		failed int
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, 32)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d := net.Dialer{Timeout: 5 * time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err = hello(c); err != nil {
					c.Close()
				}
				c.SetWriteDeadline(time.Time{})
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			cs = append(cs, c)
		})
	}
	wg.Wait()
	return cs, failed
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

func countOpen(cs []net.Conn) int {
	n := 0
	for _, c := range cs {
		if connOpen(c) {
			n++
		}
	}
	return n
}

// streams are header-only gRPC streams on one connection.
type streams struct {
	cc     *grpc.ClientConn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	opened atomic.Int64
	ended  atomic.Int64
	mu     sync.Mutex
	codes  map[string]int // how the ended streams ended
	start  time.Time
	after  []float64 // seconds from the start to each end
}

// openStreams opens n streams to /native.Store/List that send HEADERS and
// never a message, and waits up to 5s for them to open (a stream the
// server has no room for waits, and counts as not opened).
func openStreams(ctx context.Context, addr string, n int) (*streams, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	s := &streams{cc: cc, codes: map[string]int{}, start: time.Now()}
	var sctx context.Context
	sctx, s.cancel = context.WithCancel(ctx)
	desc := &grpc.StreamDesc{StreamName: "List", ClientStreams: true, ServerStreams: true}
	var tries sync.WaitGroup
	for range n {
		tries.Add(1)
		s.wg.Go(func() {
			st, err := cc.NewStream(sctx, desc, "/native.Store/List")
			tries.Done()
			if err != nil {
				s.end(err)
				return
			}
			s.opened.Add(1)
			err = st.RecvMsg(new(emptypb.Empty))
			if sctx.Err() == nil {
				s.end(err)
			}
		})
	}
	done := make(chan struct{})
	go func() { tries.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	time.Sleep(500 * time.Millisecond) // let the server see the last ones
	return s, nil
}

func (s *streams) end(err error) {
	s.ended.Add(1)
	code := "OK"
	if err != nil {
		code = status.Code(err).String()
	}
	s.mu.Lock()
	s.codes[code]++
	s.after = append(s.after, time.Since(s.start).Seconds())
	s.mu.Unlock()
}

// endings is how the ended streams ended, and when (seconds after the
// first was opened).
func (s *streams) endings() (map[string]int, []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.codes), slices.Clone(s.after)
}

// close cancels every stream, closes the connection and waits.
func (s *streams) close() {
	s.cancel()
	s.cc.Close()
	s.wg.Wait()
}

// countsString is "a x3, b x1", most frequent first.
func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
