package native

import "time"

// BodyMemoryInUse is the bytes of request bodies s holds now (its budget's
// use), for tests.
func BodyMemoryInUse(s *Server) int64 { return s.bodies.used.Load() }

// DecodeRequest is decodeRequest, for the fuzz target and the benchmark.
func DecodeRequest(method string, data []byte, v any) error { return decodeRequest(method, data, v) }

// defaultSettings are the settings a side announces by default, with the
// frame payload limit max.
func defaultSettings(max uint32) settings {
	return settings{maxFramePayload: max, maxCalls: DefaultMaxConcurrentCalls, streamWindow: DefaultStreamWindow, connWindow: DefaultConnWindow}
}

// WithLendAfter sets how long a handler run inline keeps the connection
// unread before the reading passes on (inline.go), for tests.
func WithLendAfter(d time.Duration) Option {
	return optionFunc(func(c *config) { c.lendAfter = d })
}

// WithSharedFor sets how long a connection counts as shared after a call
// started beside another (wire.go), for tests.
func WithSharedFor(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sharedFor = d })
}

// WithClientIdleAfter sets how long a client's reading role stays parked
// before its reader goroutine takes it (role.go), for tests.
func WithClientIdleAfter(d time.Duration) Option {
	return optionFunc(func(c *config) { c.clientIdleAfter = d })
}

// SharedQuantum is the largest DATA frame of a stream beside other calls.
const SharedQuantum = sharedQuantum
