package native

import (
	"context"
	"errors"
	"sync"
	"testing"
)

type ctxKey struct{}

func newCallContext(parent context.Context) *callContext {
	c := &callContext{}
	c.init(parent, &callInfo{req: &requestHeader{Method: "E"}})
	return c
}

// The call's info needs no context made; anything else makes it.
func TestCallContextMadeOnDemand(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	c := newCallContext(parent)
	if callInfoFrom(c) == nil || callInfoFrom(c).req.Method != "E" || c.made.Load() {
		t.Fatalf("callInfo %v, made %v", callInfoFrom(c), c.made.Load())
	}
	if _, ok := c.Deadline(); ok || c.made.Load() {
		t.Fatal("Deadline made the context or has a deadline")
	}
	if c.Value(ctxKey{}) != "v" || !c.made.Load() {
		t.Fatal("the parent's value is not seen, or no context was made for it")
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

// A cancel before the context is made is kept, with the first cause.
func TestCallContextCancelledEarly(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	c := newCallContext(context.Background())
	c.cancel(first)
	c.cancel(second)
	<-c.Done()
	if !errors.Is(c.Err(), context.Canceled) || context.Cause(c) != first {
		t.Fatalf("Err %v, Cause %v", c.Err(), context.Cause(c))
	}
}

// A cancel after the context is made cancels it, and contexts derived
// from it, as a cancelCtx does.
func TestCallContextCancelledLate(t *testing.T) {
	why := errors.New("why")
	c := newCallContext(context.Background())
	child, stop := context.WithCancel(c)
	defer stop()
	after := make(chan struct{})
	context.AfterFunc(c, func() { close(after) })
	if c.Err() != nil || child.Err() != nil {
		t.Fatal("cancelled before cancel")
	}
	c.cancel(why)
	<-child.Done()
	<-after
	if context.Cause(c) != why || context.Cause(child) != why {
		t.Fatalf("Cause %v, child's %v", context.Cause(c), context.Cause(child))
	}
}

// The connection's end reaches a call in progress whether or not its
// context was made, and its cause with it; a call that ended before keeps
// its own cause.
func TestCallContextParent(t *testing.T) {
	gone := errors.New("connection gone")
	done := errors.New("call done")
	parent, cancel := context.WithCancelCause(context.Background())
	made, unmade, ended := newCallContext(parent), newCallContext(parent), newCallContext(parent)
	made.Done()
	ended.cancel(done)
	cancel(gone)
	for name, c := range map[string]*callContext{"made": made, "unmade": unmade} {
		<-c.Done()
		if context.Cause(c) != gone {
			t.Fatalf("%s: Cause %v, want %v", name, context.Cause(c), gone)
		}
	}
	if <-ended.Done(); context.Cause(ended) != done {
		t.Fatalf("ended: Cause %v, want %v", context.Cause(ended), done)
	}
}

// Goroutines may make and cancel it at once (run with -race).
func TestCallContextConcurrent(t *testing.T) {
	for range 100 {
		c := newCallContext(context.Background())
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { <-c.Done() })
		}
		wg.Go(func() { c.cancel(context.Canceled) })
		wg.Wait()
	}
}
