// Package bufpool pools byte buffers by size, for the stream copies of
// native and of the gateway: a buffer of each size in use is reused rather
// than allocated per stream.
package bufpool

import (
	"sync"
	"sync/atomic"
)

// sized is the pool of one size.
type sized struct {
	size int
	pool sync.Pool // of *[]byte
}

var (
	pools sync.Map // int -> *sized, every size asked for
	// recent holds the first sizes asked for, found by a scan of a few
	// words: a process uses a handful of sizes, and a call's buffers are
	// taken and given back on every call, where the map's hashing of an
	// interface key showed in profiles.
	recent [8]atomic.Pointer[sized]
)

func poolOf(size int, create bool) *sized {
	for i := range recent {
		p := recent[i].Load()
		if p == nil {
			break
		}
		if p.size == size {
			return p
		}
	}
	v, ok := pools.Load(size)
	if !ok {
		if !create {
			return nil
		}
		p := &sized{size: size}
		p.pool.New = func() any {
			b := make([]byte, size)
			return &b
		}
		v, _ = pools.LoadOrStore(size, p)
	}
	p := v.(*sized)
	for i := range recent {
		if recent[i].CompareAndSwap(nil, p) || recent[i].Load() == p {
			break
		}
	}
	return p
}

// Get returns a buffer of exactly size bytes.
func Get(size int) *[]byte {
	return poolOf(size, true).pool.Get().(*[]byte)
}

// Put gives back a buffer Get returned, at its full length.
func Put(b *[]byte) {
	if p := poolOf(len(*b), false); p != nil {
		p.pool.Put(b)
	}
}
