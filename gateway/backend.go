package gateway

import (
	"context"

	"github.com/framegate/framegate/native"
)

// Backend is where a gateway sends its calls: a native server in this
// process, or a remote one behind a connection or a pool.
type Backend interface {
	native.Caller
	// Schema describes the backend's endpoints.
	Schema(ctx context.Context) (*native.Schema, error)
}

// Local returns a Backend that calls srv's handlers in this process, with
// no frames and no sockets; unary gRPC calls of plain-struct endpoints
// also skip JSON (native.LocalClient.CallValue).
func Local(srv *native.Server) Backend {
	return localBackend{LocalClient: native.NewLocalClient(srv), srv: srv}
}

type localBackend struct {
	*native.LocalClient
	srv *native.Server
}

func (b localBackend) Schema(context.Context) (*native.Schema, error) { return b.srv.Schema() }

// Remote returns a Backend that calls through c (a *native.Client or, for
// concurrent calls, a *native.Pool) and learns the endpoints from the
// server's describe endpoint.
func Remote(c native.Caller) Backend { return remoteBackend{c} }

type remoteBackend struct{ native.Caller }

func (b remoteBackend) Schema(ctx context.Context) (*native.Schema, error) {
	var s native.Schema
	if err := b.Call(ctx, native.DescribeEndpoint, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
