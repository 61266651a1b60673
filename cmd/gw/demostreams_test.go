package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/framegate/framegate/internal/store"
	"github.com/framegate/framegate/native"
)

// testDemoStreams checks the embedded demo's streams of messages over its
// native listener at addr: Store.Watch, resumed with last-event-id, and
// the bidi Echo.Chat through gw call.
func testDemoStreams(t *testing.T, addr string) {
	out, errOut, code := gwCall(t, nil, "-addr", addr, "-list")
	for _, want := range []string{`Store\.Watch\s+json \(store\.WatchRequest\)\s+messages \(store\.Event\)`, `Echo\.Chat\s+messages \(store\.EchoMessage\)\s+messages \(store\.EchoMessage\)`} {
		if code != 0 || !regexp.MustCompile(`(?m)^`+want+`$`).MatchString(out) {
			t.Errorf("gw call -list lacks %q: %d\n%s%s", want, code, out, errOut)
		}
	}
	out, errOut, code = gwCall(t, strings.NewReader("{\"text\":\"hi\"}\n{\"text\":\"there\"}\n"), "-addr", addr, "Echo.Chat")
	if want := "{\"seq\":1,\"text\":\"hi\"}\n{\"seq\":2,\"text\":\"there\"}\n"; code != 0 || out != want {
		t.Errorf("gw call Echo.Chat: %d %q, want %q\n%s", code, out, want, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := native.Dial(ctx, "tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var events native.Receiver[store.Event]
	if err := c.Call(ctx, "Store.Watch", &store.WatchRequest{Prefix: "watched/"}, &events); err != nil {
		t.Fatal(err)
	}
	// Write until the watch has started and sees a write.
	stop, wrote := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			var resp store.WriteResponse
			if err := c.Call(ctx, "Store.Write", native.StreamRequest{JSON: &store.WriteRequest{Name: "watched/f"}, Body: strings.NewReader("x")}, &resp); err != nil {
				wrote <- err
				return
			}
		}
	}()
	ev, err := events.Recv()
	close(stop)
	if werr := <-wrote; werr != nil {
		t.Fatal(werr)
	}
	if err != nil || ev.Name != "watched/f" || ev.Size != 1 || (ev.Kind != store.EventCreated && ev.Kind != store.EventWritten) {
		t.Fatalf("Store.Watch: %+v, %v", ev, err)
	}
	events.Close()

	// Resuming just before that event sends it again.
	n, err := strconv.ParseUint(ev.ID, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", ev.ID, err)
	}
	var again native.Receiver[store.Event]
	md := native.Metadata{store.LastEventIDKey: {strconv.FormatUint(n-1, 10)}}
	if err := c.Call(ctx, "Store.Watch", &store.WatchRequest{Prefix: "watched/"}, &again, native.WithMetadata(md)); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if ev2, err := again.Recv(); err != nil || *ev2 != *ev {
		t.Errorf("resumed Store.Watch: %+v, %v; want %+v", ev2, err, ev)
	}
}
