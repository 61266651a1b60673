package native_test

// Going away is exact: when a server shuts down under load, every call it
// took is answered there, every call it did not take is made again by a Pool
// on another server, and no call is run twice or lost.

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// ledger records which server ran each call.
type ledger struct {
	mu  sync.Mutex
	ran map[int][]string
}

func (l *ledger) register(t *testing.T, srv *native.Server, name string) {
	mustRegister(t, srv, "Ledger.Add", func(ctx context.Context, id *int, resp *string) error {
		time.Sleep(time.Duration(*id%3) * 100 * time.Microsecond) // calls overlap
		l.mu.Lock()
		l.ran[*id] = append(l.ran[*id], name)
		l.mu.Unlock()
		*resp = name
		return nil
	})
}

// TestGoAwayRetryIsExact shuts a server down under load and checks that
// every call ran exactly once. Whether a call crosses the CLOSE (it was
// sent before the client read the CLOSE, and is made again elsewhere) is a
// race of a few microseconds: in about one run in fifty none does. So the
// scenario runs up to five times, each checked whole, until one has calls
// made again; five without any fail.
func TestGoAwayRetryIsExact(t *testing.T) {
	eachListener(t, func(t *testing.T, tr transport) {
		const attempts = 5
		for attempt := 1; ; attempt++ {
			retries := goAwayUnderLoad(t, tr)
			if retries > 0 || t.Failed() {
				return
			}
			if attempt == attempts {
				// The callers waiting on the connection when the CLOSE came
				// cross it: they are made again, and run once.
				t.Errorf("no call was made again in %d runs: none crossed the CLOSE, and the retry went untested", attempts)
				return
			}
		}
	})
}

// goAwayUnderLoad is one run of TestGoAwayRetryIsExact: it returns the
// calls made again.
func goAwayUnderLoad(t *testing.T, tr transport) int64 {
	led := &ledger{ran: map[int][]string{}}
	first, _ := newServer(t)
	second, _ := newServer(t)
	led.register(t, first, "first")
	led.register(t, second, "second")
	l1, dial1 := tr.listen(t)
	l2, dial2 := tr.listen(t)
	served1, served2 := make(chan error, 1), make(chan error, 1)
	go func() { served1 <- first.Serve(l1) }()
	go func() { served2 <- second.Serve(l2) }()

	// The pool's first connection goes to the first server, every
	// later one to the second.
	var dials atomic.Int32
	p := native.NewPool(func(ctx context.Context) (*native.Client, error) {
		if dials.Add(1) == 1 {
			return dial1(ctx)
		}
		return dial2(ctx)
	}, 1)

	const callers, each = 16, 60
	var done atomic.Int32
	shutdown := make(chan error, 1)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				id := g*each + i
				var by string
				if err := p.Call(context.Background(), "Ledger.Add", id, &by); err != nil {
					t.Errorf("call %d: %v", id, err)
					return
				}
				// Shut the first server down in the middle of the load.
				if done.Add(1) == callers*each/3 {
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						shutdown <- first.Shutdown(ctx)
					}()
				}
			}
		})
	}
	wg.Wait()
	if err := waitFor(t, shutdown, 10*time.Second, "Shutdown"); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	retries := p.Stats().Retries
	p.Close()
	second.Close()
	for _, ch := range []chan error{served1, served2} {
		if err := waitFor(t, ch, 10*time.Second, "Serve"); err != native.ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	}

	led.mu.Lock()
	defer led.mu.Unlock()
	byServer := map[string]int{}
	for id := range callers * each {
		ran := led.ran[id]
		if len(ran) != 1 {
			t.Errorf("call %d ran on %v, want exactly one server", id, ran)
			continue
		}
		byServer[ran[0]]++
	}
	if byServer["first"] == 0 || byServer["second"] == 0 {
		t.Errorf("calls per server %v: want both to have served", byServer)
	}
	t.Logf("calls per server %v, %d dials, %d calls made again", byServer, dials.Load(), retries)
	return retries
}
