package store

import (
	"context"
	"strconv"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// WatchRequest is the request of Store.Watch.
type WatchRequest struct {
	// Prefix keeps only the events of files whose names start with it, as
	// ListRequest.Prefix does. Empty watches every file.
	Prefix string `json:"prefix" native:"1"`
}

// LastEventIDKey is the request metadata key of the id of the last event a
// watcher received: Store.Watch resumes after it. The gateway sets it from
// an SSE client's Last-Event-ID header.
const LastEventIDKey = "last-event-id"

// Watch sends the changes the store's own Write and Delete make to files
// whose names start with req.Prefix, as they happen, until the caller goes
// away (an error of ctx) or the store closes (Unavailable). Changes made to
// the directory by other means are not seen. It sends only events, no
// initial listing. Watch sends its response header (native.SendHeader) as
// soon as the watcher is registered, so the caller's Call returns when the
// watch is in place: a client that needs the current files calls List
// then, and misses no change made after it.
//
// With request metadata LastEventIDKey (the Last-Event-ID of SSE), Watch
// first sends the kept events after that id that match the prefix, then
// the live ones: no event is missed or sent twice. An id older than the
// events the store keeps (see WatchLimits), or after its last event, fails
// with OutOfRange; one that is not a decimal number with InvalidArgument.
// These refusals come before the header: the caller's Call returns them
// (over the gateway's SSE, an HTTP error status rather than a stream that
// began and failed, which an EventSource would retry forever).
//
// A watcher never slows the store down: a client that falls more than
// WatchLimits.Queue events behind has its watch ended with
// ResourceExhausted, after the events it was sent, and may resume with
// Last-Event-ID. Past WatchLimits.Watchers watches at once, Watch fails
// with ResourceExhausted.
func (s *Store) Watch(ctx context.Context, req *WatchRequest, out *native.Sender[Event]) error {
	prefix := req.Prefix
	if len(prefix) > maxNameLen {
		return native.Errorf(native.CodeInvalidArgument, "store: watch %s: prefix longer than %d bytes", clip.Quote(prefix), maxNameLen)
	}
	after, resume, err := lastEventID(ctx)
	if err != nil {
		return err
	}
	w, replay, err := s.changes.subscribe(prefix, after, resume)
	if err != nil {
		return err
	}
	defer s.changes.unsubscribe(w)
	// Subscribed, and the replay decided: the caller may learn it.
	if err := native.SendHeader(ctx); err != nil {
		return err
	}
	send := func(ev *Event) error {
		select {
		case <-s.changes.done: // closing wins over queued events
			return errClosed("watch", prefix)
		default:
		}
		return out.Send(ev)
	}
	for _, ev := range replay {
		if err := send(ev); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctxError(ctx, "watch", prefix)
		case <-s.changes.done:
			return errClosed("watch", prefix)
		case ev, ok := <-w.ch:
			if !ok {
				return w.err // fell behind: set before ch was closed
			}
			if err := send(ev); err != nil {
				return err
			}
		}
	}
}

// LastEventID returns the id of the store's last change event. A Watch
// with it as its Last-Event-ID sends every change made after this call: a
// client that calls it before List, then watches from it, misses no change
// made after its listing (some may show in the listing already).
func (s *Store) LastEventID() string {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	return strconv.FormatUint(s.changes.last, 10)
}

// lastEventID returns the id in the call's LastEventIDKey metadata, and
// whether there is one.
func lastEventID(ctx context.Context) (uint64, bool, error) {
	v := native.IncomingMetadata(ctx).Get(LastEventIDKey)
	if v == "" {
		return 0, false, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, native.Errorf(native.CodeInvalidArgument, "store: watch: %s %s is not an event id (a decimal number from an event's id)", LastEventIDKey, clip.Quote(v))
	}
	return id, true, nil
}
