package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two backends of three replicas each behind one gw serve, under load over
// REST: a replica of the first is killed; calls that fail, fail loudly
// (an error status, never a 200 with a wrong answer), and none started
// after the gateway marked the replica down fails; it comes back and is
// marked up again.
func TestServeReplicasUnderLoad(t *testing.T) {
	storeDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(storeDir, "f.txt"), []byte("replicated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var procs [2][3]*proc
	var addrs [2][3]string
	for i := range 3 {
		procs[0][i], addrs[0][i] = startBackend(t, "127.0.0.1:0", storeDir)
		procs[1][i], addrs[1][i] = startBackend(t, "127.0.0.1:0", t.TempDir(), "-extra-endpoint", "Extra.Echo")
	}
	value := func(b int) string {
		var ts []string
		for _, a := range addrs[b] {
			ts = append(ts, "tcp://"+a)
		}
		return strings.Join(ts, ",")
	}
	store, extra := value(0), value(1)
	gw := startGW(t, "gw serve", nil, "serve", "-backend", store, "-backend", extra, "-backend-precedence",
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "", "-reconnect-max", "200ms")
	httpAddr := gw.addr("http")
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	replicaUp := func(b, i int) float64 {
		_, m := httpGet(t, "http://"+httpAddr+"/metrics")
		return metricValue(m, `framegate_backend_up{backend="`+value(b)+`",replica="tcp://`+addrs[b][i]+`"}`)
	}
	waitFor(t, 5*time.Second, "all six replicas up", func() bool {
		for b := range 2 {
			for i := range 3 {
				if replicaUp(b, i) != 1 {
					return false
				}
			}
		}
		return true
	})

	type result struct {
		start  time.Time
		status int
		body   string
	}
	var mu sync.Mutex
	var results []result
	var stop atomic.Bool
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for !stop.Load() {
				start := time.Now()
				r := result{start: start}
				var resp *http.Response
				var err error
				if w%2 == 0 {
					resp, err = client.Get("http://" + httpAddr + "/native.Store/Read?name=f.txt")
				} else {
					resp, err = client.Post("http://"+httpAddr+"/native.Extra/Echo", "application/json", strings.NewReader(`{"text":"hi"}`))
				}
				if err != nil {
					r.body = err.Error()
				} else {
					b := make([]byte, 4096)
					n, _ := resp.Body.Read(b)
					resp.Body.Close()
					r.status, r.body = resp.StatusCode, string(b[:n])
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	procs[0][1].kill()
	var ejected time.Time
	waitFor(t, 5*time.Second, "the killed replica marked down", func() bool {
		if replicaUp(0, 1) == 0 {
			ejected = time.Now()
			return true
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	procs[0][1], _ = startBackend(t, addrs[0][1], storeDir)
	waitFor(t, 5*time.Second, "the replica back", func() bool { return replicaUp(0, 1) == 1 })
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	failed := 0
	for _, r := range results {
		ok := r.status == 200 && (r.body == "replicated\n" || r.body == `{"text":"hi"}`)
		switch {
		case ok:
		case r.status == 200:
			t.Errorf("a 200 with a wrong answer: %q", r.body)
		case r.start.After(ejected):
			t.Errorf("a call started %v after the ejection failed: %d %s", r.start.Sub(ejected), r.status, r.body)
		case r.status != http.StatusServiceUnavailable:
			t.Errorf("a call failed with %d %s, want 503 (UNAVAILABLE)", r.status, r.body)
		default:
			failed++
		}
	}
	t.Logf("%d calls, %d failed loudly before the ejection", len(results), failed)
	if len(results) < 100 {
		t.Errorf("only %d calls: not much of a load", len(results))
	}
}

// -backend dns:///localhost:PORT: the replicas are the addresses localhost
// resolves to (127.0.0.1, and ::1 where it resolves to it too, where
// nothing listens: that replica stays down and takes no calls).
func TestServeDNSReplicas(t *testing.T) {
	_, addr := startBackend(t, "127.0.0.1:0", t.TempDir())
	_, port, _ := strings.Cut(addr, ":")
	value := "dns:///localhost:" + port
	gw := startGW(t, "gw serve", nil, "serve", "-backend", value, "-resolve-interval", "100ms",
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "")
	httpAddr := gw.addr("http")
	waitHealthz(t, httpAddr, 200, 5*time.Second)
	for range 20 {
		if code, body := httpGet(t, "http://"+httpAddr+"/native.Store/Stat?name=missing"); code != http.StatusNotFound {
			t.Fatalf("a call through the resolved replicas: %d %s", code, body)
		}
	}
	_, m := httpGet(t, "http://"+httpAddr+"/metrics")
	if metricValue(m, `framegate_backend_up{backend="`+value+`",replica="tcp://127.0.0.1:`+port+`"}`) != 1 {
		t.Errorf("metrics:\n%s", grepLines(m, "framegate_backend_up"))
	}
}

// A dns:/// name that resolves to nothing yet (a Service not created yet):
// the gateway starts, NOT_SERVING, and /healthz says why.
func TestServeDNSUnresolved(t *testing.T) {
	gw := startGW(t, "gw serve", nil, "serve", "-backend", "dns:///framegate-none.invalid:7070",
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "")
	code, body := httpGet(t, "http://"+gw.addr("http")+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "dns:///framegate-none.invalid:7070: no replica") {
		t.Errorf("/healthz: %d %q", code, body)
	}
}
