// Package bufpool pools byte buffers by size, for the stream copies of
// native and of the gateway: a buffer of each size in use is reused rather
// than allocated per stream.
package bufpool

import "sync"

var pools sync.Map // int -> *sync.Pool of *[]byte

// Get returns a buffer of exactly size bytes.
func Get(size int) *[]byte {
	p, ok := pools.Load(size)
	if !ok {
		p, _ = pools.LoadOrStore(size, &sync.Pool{New: func() any {
			b := make([]byte, size)
			return &b
		}})
	}
	return p.(*sync.Pool).Get().(*[]byte)
}

// Put gives back a buffer Get returned, at its full length.
func Put(b *[]byte) {
	if p, ok := pools.Load(len(*b)); ok {
		p.(*sync.Pool).Put(b)
	}
}
