package native_test

// The call suite: one table of cases, each taking a Caller factory, run
// against the remote Client over every transport and against LocalClient.
// This file holds the table, the transports and the fixtures; the cases are
// in suite_*_test.go.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// suiteCase is one case of the call suite. A case builds its own server,
// registers what it needs and asks mk for a Caller on it.
type suiteCase struct {
	name string
	// remote marks cases about the connection (teardown, a vanishing peer,
	// going away): they are skipped for LocalClient.
	remote bool
	run    func(t *testing.T, mk factory)
}

// suiteCases is the table; each file of the suite contributes a part.
func suiteCases() []suiteCase {
	var cs []suiteCase
	cs = append(cs, unaryCases...)
	cs = append(cs, streamCases...)
	cs = append(cs, messageCases...)
	cs = append(cs, messageAbortCases...)
	cs = append(cs, messageHeaderCases...)
	cs = append(cs, connCases...)
	cs = append(cs, serverCases...)
	cs = append(cs, limitCases...)
	cs = append(cs, turnCases...)
	cs = append(cs, hookCases...)
	return cs
}

// suiteTarget is a kind of Caller the suite runs against.
type suiteTarget struct {
	name  string
	local bool // LocalClient: no connection
	busy  bool // a connection carrying other calls (suite_busy_test.go)
	mk    factory
}

// TestCallSuite runs every case against every kind of Caller: LocalClient,
// a Client over each transport, and a Client over each transport whose
// connection carries other calls meanwhile.
func TestCallSuite(t *testing.T) {
	t.Parallel()
	targets := []suiteTarget{{name: "local", local: true, mk: localFactory}}
	for _, tr := range transports {
		targets = append(targets, suiteTarget{name: tr.name, mk: remoteFactory(tr)})
	}
	targets = append(targets, busyTargets()...)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range suiteCases() {
				t.Run(c.name, func(t *testing.T) {
					switch {
					case c.remote && tg.local:
						t.Skip("connection-level case; LocalClient has no connection")
					case c.remote && tg.busy:
						t.Skip("connection-level case: it asserts on the connection's own frames and end")
					}
					t.Parallel()
					c.run(t, tg.mk)
				})
			}
		})
	}
}

// fixture is a Caller on a server, and for a remote one the connection's
// ends.
type fixture struct {
	srv    *native.Server
	caller native.Caller
	client *native.Client // nil for LocalClient
	// kill closes the server's transport abruptly (remote only).
	kill func()
	// serveResult waits for ServeConn to return (remote only).
	serveResult func(t *testing.T) error
}

func (f *fixture) local() bool { return f.client == nil }

// factory makes a fixture for srv, with its handlers registered.
type factory func(t *testing.T, srv *native.Server, opts ...fixtureOption) *fixture

type fixtureOptions struct {
	wrap       func(client, server io.ReadWriteCloser) (io.ReadWriteCloser, io.ReadWriteCloser)
	clientOpts []native.Option
}

type fixtureOption func(*fixtureOptions)

// wrapConns wraps the two ends of the transport before they are used.
func wrapConns(w func(client, server io.ReadWriteCloser) (io.ReadWriteCloser, io.ReadWriteCloser)) fixtureOption {
	return func(o *fixtureOptions) { o.wrap = w }
}

func clientOptions(opts ...native.Option) fixtureOption {
	return func(o *fixtureOptions) { o.clientOpts = append(o.clientOpts, opts...) }
}

func localFactory(t *testing.T, srv *native.Server, _ ...fixtureOption) *fixture {
	return &fixture{srv: srv, caller: native.NewLocalClient(srv)}
}

func remoteFactory(tr transport) factory {
	return func(t *testing.T, srv *native.Server, opts ...fixtureOption) *fixture {
		t.Helper()
		var o fixtureOptions
		for _, opt := range opts {
			opt(&o)
		}
		c, s, kill, err := tr.pair(t)
		if err != nil {
			t.Fatal(err)
		}
		if o.wrap != nil {
			c, s = o.wrap(c, s)
		}
		f := &fixture{srv: srv, kill: kill}
		f.serveResult = startServeConn(t, srv, s)
		cl, err := native.NewClient(c, o.clientOpts...)
		if err != nil {
			kill()
			t.Fatalf("NewClient: %v", err)
		}
		f.client, f.caller = cl, cl
		t.Cleanup(func() {
			cl.Close()
			f.serveResult(t)
			kill()
		})
		return f
	}
}

// startServeConn serves s on srv in a goroutine; the returned func waits
// for ServeConn's result (once; later calls return the same).
func startServeConn(t *testing.T, srv *native.Server, s io.ReadWriteCloser) func(t *testing.T) error {
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(s) }()
	var once sync.Once
	var res error
	return func(t *testing.T) error {
		t.Helper()
		once.Do(func() {
			select {
			case res = <-done:
			case <-time.After(15 * time.Second):
				s.Close()
				res = errors.New("ServeConn did not return within 15s")
				t.Error(res)
				<-done
			}
		})
		return res
	}
}

// localAndPipe returns a LocalClient of srv and a Client over a pipe to
// it, by name; the pipe is closed and ServeConn's end checked at cleanup.
func localAndPipe(t *testing.T, srv *native.Server) map[string]native.Caller {
	cc, sc := net.Pipe()
	serveErr := startServeConn(t, srv, sc)
	c, err := native.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); serveErr(t) })
	return map[string]native.Caller{"local": native.NewLocalClient(srv), "pipe": c}
}

// eachListener runs f for every transport that has a listener, each in a
// parallel subtest named after it.
func eachListener(t *testing.T, f func(t *testing.T, tr transport)) {
	t.Parallel()
	for _, tr := range transports {
		if tr.listen == nil {
			continue
		}
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

// transport makes connected pairs of one kind.
type transport struct {
	name string
	// pair returns the client end, the server end, and a func that closes
	// the server's underlying connection abruptly.
	pair func(t *testing.T) (client, server io.ReadWriteCloser, kill func(), err error)
	// listen, if set, returns a listener and a dial func for it.
	listen func(t *testing.T) (net.Listener, func(ctx context.Context, opts ...native.Option) (*native.Client, error))
}

var transports = []transport{
	{name: "pipe", pair: pipePair},
	{name: "socketpair", pair: socketPair, listen: unixListen},
	{name: "tcp", pair: tcpPair, listen: tcpListen},
	{name: "tls", pair: tlsPair, listen: tlsListen},
}

func pipePair(t *testing.T) (io.ReadWriteCloser, io.ReadWriteCloser, func(), error) {
	c, s := net.Pipe()
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s, func() { s.Close() }, nil
}

func socketPair(t *testing.T) (io.ReadWriteCloser, io.ReadWriteCloser, func(), error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	conn := func(fd int, name string) (net.Conn, error) {
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		return net.FileConn(f)
	}
	c, err := conn(fds[0], "client")
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, nil, err
	}
	s, err := conn(fds[1], "server")
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s, func() { s.Close() }, nil
}

// tcpConns returns both ends of a loopback TCP connection.
func tcpConns(t *testing.T) (net.Conn, net.Conn, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	r := <-ch
	if err != nil || r.err != nil {
		if c != nil {
			c.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
		return nil, nil, errors.Join(err, r.err)
	}
	t.Cleanup(func() { c.Close(); r.c.Close() })
	return c, r.c, nil
}

func tcpPair(t *testing.T) (io.ReadWriteCloser, io.ReadWriteCloser, func(), error) {
	c, s, err := tcpConns(t)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, s, func() { s.Close() }, nil
}

func tlsPair(t *testing.T) (io.ReadWriteCloser, io.ReadWriteCloser, func(), error) {
	c, s, err := tcpConns(t)
	if err != nil {
		return nil, nil, nil, err
	}
	sc, cc := tlsConfigs()
	return tls.Client(c, cc), tls.Server(s, sc), func() { s.Close() }, nil
}

func tcpListen(t *testing.T) (net.Listener, func(context.Context, ...native.Option) (*native.Client, error)) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, func(ctx context.Context, opts ...native.Option) (*native.Client, error) {
		return native.Dial(ctx, "tcp", l.Addr().String(), opts...)
	}
}

func tlsListen(t *testing.T) (net.Listener, func(context.Context, ...native.Option) (*native.Client, error)) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	sc, cc := tlsConfigs()
	return tls.NewListener(l, sc), func(ctx context.Context, opts ...native.Option) (*native.Client, error) {
		return native.DialTLS(ctx, "tcp", l.Addr().String(), cc, opts...)
	}
}

func unixListen(t *testing.T) (net.Listener, func(context.Context, ...native.Option) (*native.Client, error)) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, func(ctx context.Context, opts ...native.Option) (*native.Client, error) {
		return native.Dial(ctx, "unix", path, opts...)
	}
}

// tlsConfigs returns a server and a client config sharing a self-signed
// ECDSA certificate for localhost, made once per test binary.
var tlsConfigs = sync.OnceValues(func() (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13}
	return server, client
})
