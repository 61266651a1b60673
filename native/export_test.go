package native

// BodyMemoryInUse is the bytes of request bodies s holds now (its budget's
// use), for tests.
func BodyMemoryInUse(s *Server) int64 { return s.bodies.used.Load() }
