package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/framegate/framegate/bench/internal/benchkit"
	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// The backend: Load.Stream answers a stream of N bytes of pattern, starting
// at Off (so every transfer has content of its own to check); Load.Echo
// answers its ~100-byte request with itself.

// chunk is the size of pattern, the known content of every stream.
const chunk = 1 << 20

var pattern = func() []byte {
	b := make([]byte, chunk)
	rand.NewChaCha8([32]byte{'f', 'r', 'a', 'm', 'e', 'g', 'a', 't', 'e', '-', 'l', 'o', 'a', 'd'}).Read(b)
	return b
}()

// StreamRequest asks Load.Stream for N bytes of pattern from offset Off
// (modulo its length).
type StreamRequest struct {
	N   int64 `json:"n"`
	Off int64 `json:"off"`
}

// EchoMsg is Load.Echo's request and response.
type EchoMsg struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Size  int64    `json:"size"`
	Owner string   `json:"owner"`
}

func newBackend() (*native.Server, error) {
	s := native.NewServer()
	err := errors.Join(
		s.Register("Load.Stream", func(ctx context.Context, req *StreamRequest, body *io.Reader) error {
			if req.N < 0 || req.Off < 0 {
				return native.Errorf(native.CodeInvalidArgument, "negative n or off")
			}
			*body = &benchkit.PatternReader{Pattern: pattern, Left: req.N, Off: int(req.Off % chunk)}
			return nil
		}, native.Safe()),
		s.Register("Load.Echo", func(ctx context.Context, req *EchoMsg, resp *EchoMsg) error {
			*resp = *req
			return nil
		}, native.Safe()),
	)
	return s, err
}

// env is one backend behind a gateway whose gRPC and HTTP servers listen on
// loopback TCP.
type env struct {
	kind     string // "inproc", "remote", "exec", "replicas" or "replicas-kill"
	cfg      *config
	nsrv     *native.Server
	nserved  chan error             // remote: the backend's Serve
	apart    *backendApart          // remote: the backend's child process (-clients-apart)
	rb       *gateway.RemoteBackend // remote and exec
	rs       *gateway.ReplicaSet    // replicas
	rprocs   []*backendApart        // replicas: the backend's processes
	execErr  *lockedBuffer          // exec: the backend's standard error
	procs    execProcs              // exec: the backend's processes
	g        *gateway.Gateway
	gsrv     *grpc.Server
	hsrv     *http.Server
	served   chan error // the gateway's two Serve calls
	grpcAddr string
	httpBase string // http://127.0.0.1:port
}

// startEnv starts a backend of kind and a gateway over it.
func startEnv(kind string, cfg *config) (e *env, err error) {
	nsrv, err := newBackend()
	if err != nil {
		return nil, err
	}
	e = &env{kind: kind, cfg: cfg, nsrv: nsrv, served: make(chan error, 2)}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch kind {
	case "inproc":
		if e.g, err = gateway.New(ctx, gateway.Local(nsrv)); err != nil {
			return e, err
		}
	case "remote":
		var addr string
		if cfg.clientsApart {
			if e.apart, err = startBackendApart("127.0.0.1:0"); err != nil {
				return e, err
			}
			addr = e.apart.addr
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return e, err
			}
			e.nserved = make(chan error, 1)
			go func() { e.nserved <- nsrv.Serve(l) }()
			addr = l.Addr().String()
		}
		// As gw serve -backend tcp://addr builds it (cmd/gw/transport.go).
		dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, native.NewError(native.CodeUnavailable, err)
			}
			return c, nil
		}
		if err := e.supervise(ctx, dial, "tcp://"+addr); err != nil {
			return e, err
		}
	case "exec":
		target, err := execTarget()
		if err != nil {
			return e, err
		}
		e.execErr = &lockedBuffer{}
		dial, err := execDialer(target, e.execErr, &e.procs)
		if err != nil {
			return e, err
		}
		exe, _ := os.Executable()
		if err := e.supervise(ctx, dial, "exec:"+exe); err != nil {
			return e, fmt.Errorf("%w%s", err, e.childStderr())
		}
	case "replicas", "replicas-kill":
		if err := e.startReplicas(ctx); err != nil {
			return e, err
		}
	default:
		return e, fmt.Errorf("unknown backend kind %q", kind)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return e, err
	}
	e.grpcAddr, e.httpBase = gl.Addr().String(), "http://"+hl.Addr().String()
	e.gsrv = e.g.NewGRPCServer()
	e.hsrv = &http.Server{Handler: e.g.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { e.served <- e.gsrv.Serve(gl) }()
	go func() { e.served <- e.hsrv.Serve(hl) }()
	return e, nil
}

// supervise puts the gateway in front of the backend dial reaches, as gw
// serve -backend does, and checks it is up.
func (e *env) supervise(ctx context.Context, dial gateway.DialFunc, name string) error {
	e.rb = gateway.NewRemoteBackend(dial, gateway.RemoteOptions{
		Name:          name,
		PoolSize:      e.cfg.pool,
		ClientOptions: []native.Option{native.WithCloseTimeout(2 * time.Second)},
	})
	var err error
	if e.g, err = gateway.New(ctx, e.rb); err != nil {
		return err
	}
	if st := e.rb.Status(); !st.Up {
		return fmt.Errorf("backend %s down after its first connection: %v", name, st.Err)
	}
	return nil
}

// close stops the gateway's servers, the remote backend's pool and the
// backend, and waits for them. Clients must be closed first.
func (e *env) close() error {
	var errs []error
	if e.gsrv != nil {
		e.gsrv.Stop()
		errs = append(errs, e.hsrv.Close())
		for range 2 {
			if err := <-e.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("gateway serve: %w", err))
			}
		}
		e.gsrv = nil
	}
	if e.rb != nil {
		errs = append(errs, e.rb.Close())
		e.rb = nil
	}
	if e.rs != nil {
		errs = append(errs, e.rs.Close())
		e.rs = nil
	}
	for _, p := range e.rprocs {
		errs = append(errs, p.stop())
	}
	e.rprocs = nil
	if e.apart != nil {
		errs = append(errs, e.apart.stop())
		e.apart = nil
	}
	if e.nserved != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, e.nsrv.Shutdown(ctx))
		cancel()
		if err := <-e.nserved; err != nil && !errors.Is(err, native.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("backend serve: %w", err))
		}
		e.nserved = nil
	} else {
		errs = append(errs, e.nsrv.Close())
	}
	return errors.Join(errs...)
}
