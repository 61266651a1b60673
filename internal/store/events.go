package store

// The store's change log: the events its own Write and Delete make, a
// bounded ring of the recent ones for resuming, and the watchers that
// receive them. Publishing never waits for a watcher: each has a bounded
// queue, and a watcher whose queue is full is ended with an error, never
// silently skipped.

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// EventKind says what a change did to a file.
type EventKind string

// The kinds of change events.
const (
	// EventCreated: Write made a file that did not exist.
	EventCreated EventKind = "created"
	// EventWritten: Write replaced an existing file.
	EventWritten EventKind = "written"
	// EventDeleted: Delete removed a file.
	EventDeleted EventKind = "deleted"
)

// Event is one change the store made, as Store.Watch sends it.
type Event struct {
	// ID is the event's store-wide sequence number, in decimal: the
	// Last-Event-ID to resume after it. It is a string because a JSON
	// number loses precision past 2^53 in browsers, and because proto3
	// JSON writes 64-bit integers as strings anyway: so native, REST, SSE
	// and gRPC clients all see the same "id":"17". Ids increase by one per
	// event; a store's first id is one more than the microseconds since
	// 1970 at Open, so ids keep increasing across restarts (while the
	// clock does), and an id from an earlier run is older than any kept.
	ID string `json:"id" native:"1"`
	// Kind is what the change did: created, written or deleted.
	Kind EventKind `json:"kind" native:"2"`
	// Name is the file's name.
	Name string `json:"name" native:"3"`
	// Size is the file's size in bytes: written, or removed by a delete.
	Size int64 `json:"size" native:"4"`
	// Time is when the store made the change, in UTC.
	Time time.Time `json:"time" native:"5"`
}

// WatchLimits bounds what Store.Watch holds; a zero field takes its
// default.
type WatchLimits struct {
	// Kept is how many recent events the store keeps to resume a watch
	// from (Last-Event-ID); default 1024.
	Kept int
	// Queue is how many events a watcher may be behind its client before
	// the store ends its watch; default 256.
	Queue int
	// Watchers is how many watches the store serves at once; default
	// 1024.
	Watchers int
}

// DefaultWatchLimits are the limits of a store opened without
// WithWatchLimits.
var DefaultWatchLimits = WatchLimits{Kept: 1024, Queue: 256, Watchers: 1024}

// Option configures a Store at Open.
type Option func(*options)

type options struct{ watch WatchLimits }

// WithWatchLimits sets the limits of Store.Watch; zero fields keep their
// defaults.
func WithWatchLimits(l WatchLimits) Option {
	return func(o *options) {
		if l.Kept > 0 {
			o.watch.Kept = l.Kept
		}
		if l.Queue > 0 {
			o.watch.Queue = l.Queue
		}
		if l.Watchers > 0 {
			o.watch.Watchers = l.Watchers
		}
	}
}

// changes is a store's change log.
type changes struct {
	// mu serialises the store's changes (the rename of a write, the
	// removal of a delete) with the events that report them, so that ids
	// follow the order of the changes on disk, and guards what follows.
	mu       sync.Mutex
	lim      WatchLimits
	last     uint64   // the id of the last event
	ring     []*Event // the event with id x is ring[x%len(ring)] while kept
	kept     int      // events in ring
	watchers map[*watcher]struct{}
	closed   bool
	done     chan struct{} // closed by close
}

func newChanges(lim WatchLimits) *changes {
	return &changes{
		lim:      lim,
		last:     uint64(time.Now().UnixMicro()),
		ring:     make([]*Event, lim.Kept),
		watchers: make(map[*watcher]struct{}),
		done:     make(chan struct{}),
	}
}

// watcher is one watch's place in the change log.
type watcher struct {
	prefix string
	// ch queues the watch's events; publish closes it, after setting err,
	// when the watcher fell behind. Guarded by changes.mu except for
	// receiving.
	ch    chan *Event
	err   error
	ended bool
}

// publishLocked records a change and queues it for the watchers whose
// prefix it matches; c.mu is held.
func (c *changes) publishLocked(kind EventKind, name string, size int64) {
	c.last++
	ev := &Event{ID: strconv.FormatUint(c.last, 10), Kind: kind, Name: name, Size: size, Time: time.Now().UTC()}
	c.ring[c.last%uint64(len(c.ring))] = ev
	c.kept = min(c.kept+1, len(c.ring))
	for w := range c.watchers {
		if w.ended || !strings.HasPrefix(name, w.prefix) {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			w.err = native.Errorf(native.CodeResourceExhausted,
				"store: watch %s fell behind by more than the %d events a watcher may queue (the client reads too slowly); watch again with Last-Event-ID set to the id of the last event received to resume",
				clip.Quote(w.prefix), cap(w.ch))
			w.ended = true
			close(w.ch)
		}
	}
}

// subscribe registers a watcher of the events whose names start with
// prefix and returns it with the kept events after id after to send first
// (none unless resume).
func (c *changes) subscribe(prefix string, after uint64, resume bool) (*watcher, []*Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, errClosed("watch", prefix)
	}
	if len(c.watchers) >= c.lim.Watchers {
		return nil, nil, native.Errorf(native.CodeResourceExhausted, "store: watch %s: the store serves at most %d watches at once; try again later", clip.Quote(prefix), c.lim.Watchers)
	}
	var replay []*Event
	if resume {
		oldest := c.last - uint64(c.kept) + 1
		switch {
		case after > c.last:
			return nil, nil, native.Errorf(native.CodeOutOfRange, "store: watch: last-event-id %d is after the store's last event (%d): it is not an id of this store", after, c.last)
		case after < oldest-1:
			return nil, nil, native.Errorf(native.CodeOutOfRange, "store: watch: last-event-id %d is older than the events the store keeps (the oldest kept is %d; it keeps the last %d): events were missed; list the files again and watch without it", after, oldest, len(c.ring))
		}
		for id := after + 1; id <= c.last; id++ {
			if ev := c.ring[id%uint64(len(c.ring))]; strings.HasPrefix(ev.Name, prefix) {
				replay = append(replay, ev)
			}
		}
	}
	w := &watcher{prefix: prefix, ch: make(chan *Event, c.lim.Queue)}
	c.watchers[w] = struct{}{}
	return w, replay, nil
}

// unsubscribe removes a watcher whose watch ended.
func (c *changes) unsubscribe(w *watcher) {
	c.mu.Lock()
	delete(c.watchers, w)
	c.mu.Unlock()
}

// close ends every watch, and refuses new ones.
func (c *changes) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
}

// errClosed is the error of an operation on a closed store.
func errClosed(op, name string) *native.Error {
	return native.Errorf(native.CodeUnavailable, "store: %s %s: store is closed", op, clip.Quote(name))
}
