package gateway

// Tests of Router.Update, the reload of a gateway's backends: calls in
// flight on a backend taken out finish on it, new calls go to the new
// backends, and an update that cannot be served changes nothing.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// blockingNotes serves Notes.Get like notesServer, but a request for the
// text "block" waits for release to be closed.
func blockingNotes(t testing.TB, from string, entered chan<- struct{}, release <-chan struct{}) *native.Server {
	type item struct {
		Text string `json:"text"`
	}
	srv := native.NewServer()
	if err := srv.Register("Notes.Get", func(req *item, resp *item) error {
		if req.Text == "block" {
			entered <- struct{}{}
			<-release
		}
		resp.Text = from + ":" + req.Text
		return nil
	}, native.Safe()); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestRouterUpdate(t *testing.T) {
	checkLeaks(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	oldNotes := startStoppable(t, func() *native.Server { return blockingNotes(t, "old", entered, release) })
	newNotes := startStoppable(t, func() *native.Server { return notesServer(t, "new") })
	files := startStoppable(t, func() *native.Server { return filesServer(t) })
	remote := func(s *stoppable) *RemoteBackend { return NewRemoteBackend(tcpDial(s.addr), fastOptions(s.addr)) }

	oldB := remote(oldNotes)
	r, g := routed(t, RouterOptions{}, []NamedBackend{{"notes", oldB}})
	h := g.HTTPHandler()
	if code, body := get(t, h, "/native.Notes/Get?text=x"); code != 200 || body != `{"text":"old:x"}` {
		t.Fatalf("Notes.Get before the update: %d %s", code, body)
	}
	inFlight := make(chan string, 1)
	go func() {
		code, body := get(t, h, "/native.Notes/Get?text=block")
		inFlight <- strings.Join([]string{http.StatusText(code), body}, " ")
	}()
	<-entered

	newB, filesB := remote(newNotes), remote(files)
	if err := r.Update(context.Background(), []NamedBackend{{"notes-v2", newB}, {"files", filesB}}, RouterOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "/native.Notes/Get?text=x"); code != 200 || body != `{"text":"new:x"}` {
		t.Errorf("Notes.Get after the update: %d %s, want the new backend's", code, body)
	}
	if code, body := get(t, h, "/native.Files/Stat?name=abc"); code != 200 || body != `{"name":"abc","size":"3"}` {
		t.Errorf("Files.Stat, added by the update: %d %s", code, body)
	}
	if got := r.BackendOf("Files.Stat"); got != "files" {
		t.Errorf("BackendOf(Files.Stat) = %q", got)
	}
	// The call in flight on the backend taken out is not cut: it ends on
	// it, and only then is the backend closed.
	select {
	case got := <-inFlight:
		t.Fatalf("the call in flight ended before it was released: %s", got)
	case <-time.After(50 * time.Millisecond):
	}
	if oldB.PoolStats().Open == 0 {
		t.Errorf("the removed backend's connections were closed under its call in flight")
	}
	close(release)
	if got := <-inFlight; got != `OK {"text":"old:block"}` {
		t.Errorf("the call in flight across the update: %s", got)
	}
	waitFor(t, 5*time.Second, "the removed backend closed", func() bool { return oldB.PoolStats().Open == 0 })

	// An update that cannot be served changes nothing: a second backend
	// serving Notes, without precedence.
	clash := startStoppable(t, func() *native.Server { return notesServer(t, "clash") })
	clashB := remote(clash)
	err := r.Update(context.Background(), []NamedBackend{{"notes-v2", newB}, {"files", filesB}, {"clash", clashB}}, RouterOptions{})
	var conflict *ServiceConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("an update with a service served twice: %v, want a *ServiceConflictError", err)
	}
	if code, body := get(t, h, "/native.Notes/Get?text=y"); code != 200 || body != `{"text":"new:y"}` {
		t.Errorf("Notes.Get after a refused update: %d %s", code, body)
	}
	if bs := r.Backends(); len(bs) != 2 || bs[0].Name != "notes-v2" || bs[1].Name != "files" {
		t.Errorf("Backends() after a refused update: %+v", bs)
	}
	if n := clashB.PoolStats().Open; n != 0 {
		t.Errorf("the refused update's backend keeps %d connections", n)
	}
	// With precedence the same update is served: the first in order keeps
	// Notes.
	clashB = remote(clash)
	if err := r.Update(context.Background(), []NamedBackend{{"notes-v2", newB}, {"files", filesB}, {"clash", clashB}}, RouterOptions{Precedence: true}); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "/native.Notes/Get?text=z"); code != 200 || body != `{"text":"new:z"}` {
		t.Errorf("Notes.Get with precedence: %d %s", code, body)
	}
	// A backend kept by an update is the same, running: no reconnect.
	before := newB.Status()
	if err := r.Update(context.Background(), []NamedBackend{{"notes-v2", newB}}, RouterOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := newB.Status(); !after.Up || after.Reconnects != before.Reconnects {
		t.Errorf("a kept backend: %+v, before %+v", after, before)
	}
	if code, _ := get(t, h, "/native.Files/Stat?name=abc"); code != http.StatusNotFound {
		t.Errorf("Files.Stat after its backend was removed: %d, want 404", code)
	}
}

// Calls racing an update all succeed: each goes to the old backend or the
// new one, never to a closed one.
func TestRouterUpdateUnderLoad(t *testing.T) {
	checkLeaks(t)
	a := startStoppable(t, func() *native.Server { return notesServer(t, "a") })
	b := startStoppable(t, func() *native.Server { return notesServer(t, "b") })
	remote := func(s *stoppable) *RemoteBackend { return NewRemoteBackend(tcpDial(s.addr), fastOptions(s.addr)) }
	r, g := routed(t, RouterOptions{}, []NamedBackend{{"a", remote(a)}})
	h := g.HTTPHandler()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			for ctx.Err() == nil {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/native.Notes/Get?text=x", nil))
				if body := strings.TrimSpace(w.Body.String()); w.Code != 200 || (body != `{"text":"a:x"}` && body != `{"text":"b:x"}`) {
					errs <- w.Body.String()
					return
				}
			}
			errs <- ""
		}()
	}
	names := []string{"a", "b"}
	stoppables := []*stoppable{a, b}
	for i := range 6 {
		s := stoppables[(i+1)%2]
		if err := r.Update(context.Background(), []NamedBackend{{names[(i+1)%2], remote(s)}}, RouterOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	for range 4 {
		if e := <-errs; e != "" {
			t.Errorf("a call across updates failed: %s", e)
		}
	}
}
