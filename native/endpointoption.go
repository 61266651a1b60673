package native

// An EndpointOption declares, at Register, what calling an endpoint does.
// The declarations travel in the Schema (Endpoint.Safe and
// Endpoint.Idempotent), so that the gateway can give each face its
// semantics: which HTTP methods reach the endpoint, and the
// idempotency_level of its gRPC method.
type EndpointOption func(*endpointDecl)

// endpointDecl is what an endpoint's options declare.
type endpointDecl struct {
	safe, idempotent bool
}

// Safe declares an endpoint read-only: a call changes no state that any
// caller can observe, as HTTP's GET and HEAD may not. The gateway routes
// GET and HEAD only to safe endpoints, and its gRPC method has
// idempotency_level NO_SIDE_EFFECTS. Safe implies Idempotent.
func Safe() EndpointOption {
	return func(d *endpointDecl) { d.safe, d.idempotent = true, true }
}

// Idempotent declares that calling an endpoint twice with the same request
// leaves the same state as calling it once (as HTTP's PUT and DELETE), so a
// client may retry a call whose outcome it did not learn. Its gRPC method
// has idempotency_level IDEMPOTENT.
func Idempotent() EndpointOption {
	return func(d *endpointDecl) { d.idempotent = true }
}
