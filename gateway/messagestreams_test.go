package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

type msEvent struct {
	Name string `json:"name"`
}

// TestMessageStreamsSkipped checks that the gateway leaves endpoints with
// streams of messages out, with a warning naming them, and serves the
// others: their gRPC and REST faces are not built yet.
func TestMessageStreamsSkipped(t *testing.T) {
	srv := native.NewServer()
	reg := func(name string, fn any) {
		if err := srv.Register(name, fn); err != nil {
			t.Fatal(err)
		}
	}
	reg("Store.Get", func(req *msEvent, resp *msEvent) error { return nil })
	reg("Store.Watch", func(req *msEvent, out *native.Sender[msEvent]) error { return nil })
	reg("Store.Append", func(in *native.Receiver[msEvent], resp *msEvent) error { return nil })
	var logs bytes.Buffer
	g, err := New(context.Background(), Local(srv), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer g.Close()
	set := g.set.Load()
	if set.methods["/native.Store/Get"] == nil {
		t.Errorf("Store.Get not served; methods %v", set.methods)
	}
	for _, m := range []string{"/native.Store/Watch", "/native.Store/Append"} {
		if set.methods[m] != nil {
			t.Errorf("%s is served", m)
		}
	}
	if n := len(g.Schema().Endpoints); n != 1 {
		t.Errorf("served schema has %d endpoints, want 1", n)
	}
	out := logs.String()
	for _, w := range []string{"level=WARN", "streams of messages are not served", "Store.Append", "Store.Watch"} {
		if !strings.Contains(out, w) {
			t.Errorf("log %q does not say %q", out, w)
		}
	}
	// The backend's own schema is left as it is.
	if s, _ := srv.Schema(); len(s.Endpoints) != 3 {
		t.Errorf("backend schema has %d endpoints, want 3", len(s.Endpoints))
	}
}
