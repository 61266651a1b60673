package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

// anyWatcherEnded reports whether a watcher fell behind.
func (ts *testStore) anyWatcherEnded() bool {
	ts.changes.mu.Lock()
	defer ts.changes.mu.Unlock()
	for w := range ts.changes.watchers {
		if w.ended {
			return true
		}
	}
	return false
}

// A watcher that does not read is ended once it is more than its queue
// behind, after the events it was sent; writes and other watchers go on,
// and it can resume where it stopped.
func TestWatchSlowWatcher(t *testing.T) {
	eachCaller(t, []Option{WithWatchLimits(WatchLimits{Queue: 2})}, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx := context.Background()
		base := id(t, ts.LastEventID())
		slow := watch(t, ctx, c, "", "")
		fast := watch(t, ctx, c, "", "")
		ts.waitWatchers(t, 2)
		fastIDs := make(chan uint64, 3000)
		fastDone := make(chan error, 1)
		go func() {
			for {
				ev, err := fast.Recv()
				if err != nil {
					fastDone <- err
					return
				}
				fastIDs <- id(t, ev.ID)
			}
		}()

		// Large events fill the transport's buffers sooner.
		name := strings.Repeat(strings.Repeat("d", 250)+"/", 15) + "f"
		n := 0
		for ; n < cap(fastIDs) && !ts.anyWatcherEnded(); n++ {
			ts.mustWrite(t, name, "x") // never blocked by the slow watcher
		}
		if !ts.anyWatcherEnded() {
			t.Fatalf("after %d writes, the slow watcher is still watching", n)
		}
		for i := range n {
			if got := <-fastIDs; got != base+uint64(i)+1 {
				t.Fatalf("fast watcher: event %d has id %d, want %d", i, got, base+uint64(i)+1)
			}
		}
		fast.Close()
		<-fastDone

		var last uint64
		var err error
		for last = base; ; last++ {
			var ev *Event
			if ev, err = slow.Recv(); err != nil {
				break
			}
			if got := id(t, ev.ID); got != last+1 {
				t.Fatalf("slow watcher: id %d after %d", got, last)
			}
		}
		ts.wantCode(t, "the slow watcher's end", err, native.CodeResourceExhausted)
		if msg := err.Error(); !strings.Contains(msg, "fell behind by more than the 2 events") || !strings.Contains(msg, "Last-Event-ID") {
			t.Errorf("slow watcher's error %q does not say it fell behind and how to resume", msg)
		}
		if last == base+uint64(n) {
			t.Fatalf("the slow watcher received all %d events, yet was ended", n)
		}
		t.Logf("%d writes; the slow watcher received %d events before it was ended", n, last-base)

		// Resuming after the last event received: the rest, then live.
		resumed := watch(t, ctx, c, "", formatID(last))
		ts.mustDelete(t, name)
		for want := last + 1; want <= base+uint64(n)+1; want++ {
			ev, err := resumed.Recv()
			if err != nil {
				t.Fatalf("resumed watch, want id %d: %v", want, err)
			}
			if got := id(t, ev.ID); got != want {
				t.Fatalf("resumed watch: id %d, want %d", got, want)
			}
		}
	})
}

func TestWatchLimit(t *testing.T) {
	eachCaller(t, []Option{WithWatchLimits(WatchLimits{Watchers: 2})}, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx := context.Background()
		first := watch(t, ctx, c, "", "")
		watch(t, ctx, c, "b", "")
		ts.waitWatchers(t, 2)
		err := watchError(ctx, c, "c", "")
		ts.wantCode(t, "a third watch", err, native.CodeResourceExhausted)
		if err == nil || !strings.Contains(err.Error(), "at most 2 watches at once") {
			t.Errorf("a third watch: %v", err)
		}

		first.Close()
		ts.waitWatchers(t, 1)
		third := watch(t, ctx, c, "c", "")
		ts.waitWatchers(t, 2)
		ts.mustWrite(t, "c", "x")
		if ev, err := third.Recv(); err != nil || ev.Name != "c" {
			t.Errorf("a watch after one ended: %+v, %v", ev, err)
		}
	})
}

func TestWatchEnds(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx, cancel := context.WithCancel(context.Background())
		rx := watch(t, ctx, c, "", "")
		ts.waitWatchers(t, 1)
		cancel()
		if _, err := rx.Recv(); native.CodeOf(err) != native.CodeCanceled {
			t.Errorf("after the caller cancelled: %v, want Canceled", err)
		}
		ts.waitWatchers(t, 0)

		ctx = context.Background()
		rx = watch(t, ctx, c, "", "")
		ts.waitWatchers(t, 1)
		if err := ts.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := rx.Recv()
		ts.wantCode(t, "a watch when the store closed", err, native.CodeUnavailable)
		if err == nil || !strings.Contains(err.Error(), "store is closed") {
			t.Errorf("a watch when the store closed: %v", err)
		}
		ts.waitWatchers(t, 0)
		err = watchError(ctx, c, "", "")
		ts.wantCode(t, "a watch of a closed store", err, native.CodeUnavailable)
		if errors.Is(err, context.Canceled) {
			t.Errorf("a watch of a closed store: %v", err)
		}
	})
}
