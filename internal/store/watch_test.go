package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// callers serves ts's endpoints and Echo on a native server and returns
// callers of it: in process, and over a connection.
func callers(t *testing.T, ts *testStore) map[string]native.Caller {
	t.Helper()
	srv := native.NewServer()
	if err := ts.Register(srv); err != nil {
		t.Fatal(err)
	}
	if err := (Echo{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	cc, sc := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(sc)
	}()
	c, err := native.NewClient(cc, native.WithStreamWindow(64<<10)) // a slow watcher is behind sooner
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		<-served
	})
	return map[string]native.Caller{"local": native.NewLocalClient(srv), "conn": c}
}

// eachCaller runs f for each of ts's callers.
func eachCaller(t *testing.T, opts []Option, f func(t *testing.T, ts *testStore, c native.Caller)) {
	for _, name := range []string{"local", "conn"} {
		t.Run(name, func(t *testing.T) {
			ts := newStore(t, opts...)
			f(t, ts, callers(t, ts)[name])
		})
	}
}

// watch starts a Store.Watch call that resumes after lastID unless it is
// "". The call ends with the test.
func watch(t *testing.T, ctx context.Context, c native.Caller, prefix, lastID string) *native.Receiver[Event] {
	t.Helper()
	var opts []native.CallOption
	if lastID != "" {
		opts = append(opts, native.WithMetadata(native.Metadata{LastEventIDKey: {lastID}}))
	}
	rx := new(native.Receiver[Event])
	if err := c.Call(ctx, "Store.Watch", &WatchRequest{Prefix: prefix}, rx, opts...); err != nil {
		t.Fatalf("Watch(%q, %q): %v", prefix, lastID, err)
	}
	t.Cleanup(func() { rx.Close() })
	return rx
}

// watchError is the error a Store.Watch call fails with: its Call's, for
// Watch refuses a call before it sends its header (a watch that began
// shows as an error without a code).
func watchError(ctx context.Context, c native.Caller, prefix, lastID string) error {
	var rx native.Receiver[Event]
	err := c.Call(ctx, "Store.Watch", &WatchRequest{Prefix: prefix}, &rx, native.WithMetadata(native.Metadata{LastEventIDKey: {lastID}}))
	if err == nil {
		rx.Close()
		return errors.New("Call returned: the watch began, want its refusal")
	}
	return err
}

// recvUntil receives events up to one named last (the test's last change:
// a missing event shows as a difference, not as a wait) and returns them as
// "id-offset kind name size" lines, ids relative to base.
func recvUntil(t *testing.T, rx *native.Receiver[Event], last string, base uint64) []string {
	t.Helper()
	var got []string
	for len(got) == 0 || !strings.Contains(got[len(got)-1], " "+last+" ") {
		ev, err := rx.Recv()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if ev.Time.IsZero() || ev.Time.Location() != time.UTC {
			t.Errorf("event %+v: time not set in UTC", ev)
		}
		got = append(got, fmt.Sprintf("%d %s %s %d", id(t, ev.ID)-base, ev.Kind, ev.Name, ev.Size))
	}
	return got
}

func id(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", s, err)
	}
	return n
}

// waitWatchers waits until the store has n watchers registered.
func (ts *testStore) waitWatchers(t *testing.T, n int) {
	t.Helper()
	for range 10000 {
		ts.changes.mu.Lock()
		got := len(ts.changes.watchers)
		ts.changes.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the store never had %d watchers", n)
}

func (ts *testStore) mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if _, err := ts.write(context.Background(), name, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
}

func (ts *testStore) mustDelete(t *testing.T, name string) {
	t.Helper()
	if err := ts.Delete(context.Background(), &DeleteRequest{Name: name}, &DeleteResponse{}); err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestWatchEvents(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx := context.Background()
		docs := watch(t, ctx, c, "docs/", "")
		all := watch(t, ctx, c, "", "")
		ts.waitWatchers(t, 2)
		base := id(t, ts.LastEventID())
		ts.mustWrite(t, "docs/a", "hello")
		ts.mustWrite(t, "other/x", "x")
		ts.mustWrite(t, "docs/a", "hi")
		ts.mustDelete(t, "docs/a")
		ts.mustDelete(t, "other/x")
		ts.put(t, "docs/b", "made behind the store's back") // not an event
		ts.mustWrite(t, "docs.txt", "a name with the prefix's first bytes")
		ts.mustWrite(t, "docs/c", "")

		equal(t, "docs/", recvUntil(t, docs, "docs/c", base), []string{
			"1 created docs/a 5", "3 written docs/a 2", "4 deleted docs/a 2", "7 created docs/c 0",
		})
		equal(t, "all", recvUntil(t, all, "docs/c", base), []string{
			"1 created docs/a 5", "2 created other/x 1", "3 written docs/a 2", "4 deleted docs/a 2",
			"5 deleted other/x 1", "6 created docs.txt 36", "7 created docs/c 0",
		})
	})
}

// Watch's Call returns once the watcher is registered, before any event
// (Watch sends its header then): a change made right after it is seen.
func TestWatchSubscribedAtCall(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rx := new(native.Receiver[Event])
		called := make(chan error, 1)
		go func() { called <- c.Call(ctx, "Store.Watch", &WatchRequest{}, rx) }()
		select {
		case err := <-called:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			cancel()
			t.Fatal("Watch's Call did not return before its first event")
		}
		defer rx.Close()
		ts.changes.mu.Lock()
		n := len(ts.changes.watchers)
		ts.changes.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d watchers registered when Call returned, want 1", n)
		}
		ts.mustWrite(t, "a", "x")
		if ev, err := rx.Recv(); err != nil || ev.Name != "a" || ev.Kind != "created" {
			t.Fatalf("first event %+v, %v", ev, err)
		}
	})
}

func TestWatchResume(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx := context.Background()
		base := id(t, ts.LastEventID())
		ts.mustWrite(t, "a/1", "1")
		ts.mustWrite(t, "b/2", "22")
		ts.mustWrite(t, "a/3", "333")
		last := strconv.FormatUint(base+1, 10)

		// The kept events after last, then the live ones.
		rx := watch(t, ctx, c, "a/", last)
		equal(t, "replayed", recvUntil(t, rx, "a/3", base), []string{"3 created a/3 3"})
		ts.mustWrite(t, "a/4", "4444")
		equal(t, "live", recvUntil(t, rx, "a/4", base), []string{"4 created a/4 4"})

		// Resuming after the last event: only live ones.
		rx = watch(t, ctx, c, "", ts.LastEventID())
		ts.mustDelete(t, "a/1")
		equal(t, "resumed at the end", recvUntil(t, rx, "a/1", base), []string{"5 deleted a/1 1"})
	})
}

// Resuming while the store changes: the events before and after the
// resume are each change once, in order.
func TestWatchResumeExact(t *testing.T) {
	eachCaller(t, nil, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx := context.Background()
		const n = 40
		base := ts.LastEventID()
		rx := watch(t, ctx, c, "", base)
		wrote := make(chan error, 1)
		go func() {
			for i := range n {
				if _, err := ts.write(ctx, fmt.Sprintf("f%02d", i), strings.NewReader("x")); err != nil {
					wrote <- err
					return
				}
			}
			wrote <- nil
		}()
		var got []string
		for _, k := range []int{3, 10} {
			ev := recvEvents(t, rx, k)
			for _, e := range ev {
				got = append(got, e.ID+" "+e.Name)
			}
			rx.Close()
			rx = watch(t, ctx, c, "", ev[len(ev)-1].ID) // while writes go on
		}
		for _, line := range recvUntil(t, rx, fmt.Sprintf("f%02d", n-1), 0) {
			f := strings.Fields(line)
			got = append(got, f[0]+" "+f[2])
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("%d f%02d", id(t, base)+uint64(i)+1, i))
		}
		equal(t, "events across resumes", got, want)
	})
}

func recvEvents(t *testing.T, rx *native.Receiver[Event], n int) []*Event {
	t.Helper()
	var evs []*Event
	for range n {
		ev, err := rx.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestWatchLastEventIDErrors(t *testing.T) {
	eachCaller(t, []Option{WithWatchLimits(WatchLimits{Kept: 4})}, func(t *testing.T, ts *testStore, c native.Caller) {
		ctx := context.Background()
		for i := range 6 {
			ts.mustWrite(t, fmt.Sprint("f", i), "x")
		}
		last := id(t, ts.LastEventID())
		at := func(d int64) string { return strconv.FormatUint(uint64(int64(last)+d), 10) }

		// Four kept: the oldest is last-3, so last-4 resumes without a gap.
		rx := watch(t, ctx, c, "", at(-4))
		equal(t, "replayed", recvUntil(t, rx, "f5", last-4), []string{
			"1 created f2 1", "2 created f3 1", "3 created f4 1", "4 created f5 1",
		})

		long := strings.Repeat("9", 5000) // within the header's limit
		for _, tc := range []struct {
			id   string
			code native.Code
			msg  string
		}{
			{at(-5), native.CodeOutOfRange, "is older than the events the store keeps (the oldest kept is " + at(-3) + "; it keeps the last 4)"},
			{"1", native.CodeOutOfRange, "older than the events the store keeps"},
			{at(1), native.CodeOutOfRange, "is after the store's last event (" + at(0) + ")"},
			{"abc", native.CodeInvalidArgument, `last-event-id "abc" is not an event id`},
			{"-1", native.CodeInvalidArgument, "is not an event id"},
			{" 1", native.CodeInvalidArgument, "is not an event id"},
			{long, native.CodeInvalidArgument, "(5000 bytes) is not an event id"},
		} {
			err := watchError(ctx, c, "", tc.id)
			ts.wantCode(t, "last-event-id "+clipped(tc.id), err, tc.code)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || len(err.Error()) > 1000 {
				t.Errorf("last-event-id %s: error %q, want one of at most 1000 bytes with %q", clipped(tc.id), clipped(fmt.Sprint(err)), tc.msg)
			}
		}

		err := watchError(ctx, c, strings.Repeat("p", maxNameLen+1), "")
		ts.wantCode(t, "a long prefix", err, native.CodeInvalidArgument)
	})
}

func clipped(s string) string { return s[:min(len(s), 200)] }

func formatID(n uint64) string { return strconv.FormatUint(n, 10) }
