package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// Gateway rows: the benchmark's native server (Bench.Stream, Bench.Echo;
// nativerows.go) mounted in a gateway in this process (gateway.Local), its
// gRPC server and its REST handler each on a loopback TCP listener.
//
//	gateway/grpc/tcp       Bench.Stream as a server stream of
//	                       google.api.HttpBody chunks (1 MiB), received with
//	                       the plain grpc-go rows' client settings
//	gateway/grpc/tcp/client-win16M
//	                       the same, from a client with static 16 MiB
//	                       windows (grpcClientWin), beside
//	                       grpc/tcp/1MiB/client-win16M: whether the
//	                       client's window bounds a download
//	gateway/rest/tcp       GET /native.Bench/Stream?n=..., the body read
//	                       with a 1 MiB buffer and dropped
//	gateway/rest/range     GET /native.Bench/File of a sparse 4 GiB file
//	                       with Range: bytes=-1048576 (its last MiB),
//	                       one caller: 206s per second
//	unary/gateway-grpc/N   Bench.Echo (~100 bytes) from N callers on one
//	                       ClientConn, as unary/grpc/N does
//
// The gRPC client knows no .proto file: it reads the descriptors from the
// gateway's server reflection and builds its messages with dynamicpb, as a
// generic client (grpcurl) does.

func init() {
	register(contender{name: "gateway/grpc/tcp", unit: "GiB/s", order: 230, run: gatewayGRPCStream})
	register(contender{name: "gateway/grpc/tcp/client-win16M", unit: "GiB/s", order: 233,
		run: func(r *round) (float64, error) {
			return gatewayGRPCStreamWith(r, gatewaySetup{server: grpcBest, client: grpcClientWin})
		}})
	register(contender{name: "gateway/rest/tcp", unit: "GiB/s", order: 231, run: gatewayRESTStream})
	register(contender{name: "gateway/rest/range", unit: "calls/s", order: 232, run: gatewayRESTRange})
	for i, callers := range []int{1, 16} {
		register(contender{name: fmt.Sprintf("unary/gateway-grpc/%d", callers), unit: "calls/s", order: 510 + i,
			run: func(r *round) (float64, error) {
				return gatewayUnary(r, callers, gatewaySetup{server: grpcDefaults, client: grpcDefaults})
			}})
		register(contender{name: fmt.Sprintf("unary/gateway-remote/%d", callers), unit: "calls/s", order: 512 + i,
			run: func(r *round) (float64, error) {
				return gatewayUnary(r, callers, gatewaySetup{server: grpcDefaults, client: grpcDefaults, remote: true})
			}})
		registerRatio(ratio{name: fmt.Sprintf("unary gateway-remote/grpc %d", callers), num: fmt.Sprintf("unary/gateway-remote/%d", callers), den: fmt.Sprintf("unary/grpc/%d", callers)})
		registerRatio(ratio{name: fmt.Sprintf("unary gateway-remote/grpc-proxy %d", callers), num: fmt.Sprintf("unary/gateway-remote/%d", callers), den: fmt.Sprintf("unary/grpc-proxy/%d", callers)})
	}
	registerRatio(ratio{name: "gateway/grpc tcp 1MiB", num: "gateway/grpc/tcp", den: "grpc/tcp/1MiB", target: atLeast(1.2)})
	registerRatio(ratio{name: "cpu gateway/grpc tcp 1MiB", num: "gateway/grpc/tcp cpu", den: "grpc/tcp/1MiB cpu"})
	registerRatio(ratio{name: "client-win16M/BDP gateway/grpc tcp", num: "gateway/grpc/tcp/client-win16M", den: "gateway/grpc/tcp"})
	registerRatio(ratio{name: "gateway/grpc tcp 1MiB client-win16M", num: "gateway/grpc/tcp/client-win16M", den: "grpc/tcp/1MiB/client-win16M"})
	registerRatio(ratio{name: "gateway-rest/raw tcp", num: "gateway/rest/tcp", den: "raw/tcp"})
	registerRatio(ratio{name: "unary gateway/grpc 1", num: "unary/gateway-grpc/1", den: "unary/grpc/1", target: atLeast(0.9)})
	registerRatio(ratio{name: "unary gateway/grpc 16", num: "unary/gateway-grpc/16", den: "unary/grpc/16", target: atLeast(0.9)})
	// CPU per call, both ends, through the gateway against plain grpc-go.
	registerRatio(ratio{name: "cpu unary gateway/grpc 1", num: "unary/gateway-grpc/1 cpu", den: "unary/grpc/1 cpu"})
	registerRatio(ratio{name: "cpu unary gateway/grpc 16", num: "unary/gateway-grpc/16 cpu", den: "unary/grpc/16 cpu"})
}

// gatewayService is the gRPC service the gateway makes of Bench.*.
const gatewayService = "native.Bench"

// gatewaySession is a native server behind a gateway whose gRPC and HTTP
// servers listen on loopback TCP, with a client of each.
type gatewaySession struct {
	srv      *native.Server // in process, or over TCP to a pool (remote)
	pool     *native.Pool   // the remote backend's, or nil
	nsrvDone chan error     // the native server's Serve, when remote
	gsrv     *grpc.Server
	hsrv     *http.Server
	served   chan error // one per serving goroutine (goServe)
	cc       *grpc.ClientConn
	hc       *http.Client
	httpBase string                   // http://127.0.0.1:port
	tp       *sdktrace.TracerProvider // when traced
	spans    *droppedSpans            // tp's exporter

	stream, echo protoreflect.MethodDescriptor
}

// startGateway starts the servers and connects the clients; the gRPC ends
// use s, as the plain grpc-go rows do.
func startGateway(s grpcSettings) (gs *gatewaySession, err error) {
	return startGatewayWith(gatewaySetup{server: s, client: s})
}

// gatewaySetup says how startGatewayWith builds a session.
type gatewaySetup struct {
	// server adds its options to the gateway's gRPC server (whose own
	// defaults the gateway sets); client is the gRPC client's settings.
	server, client grpcSettings
	// remote puts the native server on loopback TCP, reached through a
	// pool of the gateway's default size; otherwise it is in process.
	remote bool
	gw     []gateway.Option
	// onePort serves gRPC and REST on one listener (oneportrows.go).
	onePort onePortMode
	// traced instruments the servers and the native hop as gw
	// -otlp-endpoint does (tracerows.go).
	traced bool
}

// startGatewayWith is startGateway as set up by su.
func startGatewayWith(su gatewaySetup) (gs *gatewaySession, err error) {
	remote := su.remote
	tp, tr, spans := benchTracing(su.traced)
	srv, err := newNativeServer(tr.NativeOptions()...)
	if err != nil {
		return nil, err
	}
	gs = &gatewaySession{srv: srv, tp: tp, spans: spans}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	backend := gateway.Local(srv)
	if remote {
		nl, err := listenTCP()
		if err != nil {
			return nil, errors.Join(err, srv.Close())
		}
		gs.nsrvDone = make(chan error, 1)
		go func() { gs.nsrvDone <- srv.Serve(nl) }()
		addr := nl.Addr().String()
		gs.pool = native.NewPool(func(ctx context.Context) (*native.Client, error) {
			return native.Dial(ctx, "tcp", addr, tr.NativeOptions()...)
		}, gateway.DefaultPoolSize)
		backend = gateway.Remote(gs.pool)
	}
	g, err := gateway.New(ctx, backend, su.gw...)
	if err != nil {
		return nil, errors.Join(err, gs.closeBackend())
	}
	gs.gsrv = g.NewGRPCServer(append(su.server.serverOptions(), tr.GRPCServerOptions()...)...)
	grpcAddr, httpAddr, err := gs.serveGateway(su.onePort, tr.RESTHandler(g.HTTPHandler(), g))
	if err != nil {
		gs.gsrv = nil
		return nil, errors.Join(err, gs.closeBackend())
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, gs.close())
		}
	}()
	gs.httpBase = "http://" + httpAddr
	gs.hc = &http.Client{Transport: &http.Transport{
		Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
	}}
	if gs.cc, err = grpc.NewClient("passthrough:///"+grpcAddr, su.client.dialOptions()...); err != nil {
		return nil, err
	}
	sd, err := reflectService(ctx, gs.cc, gatewayService)
	if err != nil {
		return nil, err
	}
	if gs.stream, gs.echo = sd.Methods().ByName("Stream"), sd.Methods().ByName("Echo"); gs.stream == nil || gs.echo == nil {
		return nil, fmt.Errorf("gateway service %s lacks Stream or Echo", gatewayService)
	}
	if !gs.stream.IsStreamingServer() || gs.stream.Output().FullName() != "google.api.HttpBody" || gs.stream.Input().Fields().ByJSONName("n") == nil {
		return nil, fmt.Errorf("gateway method %s: unexpected shape (server stream %v of %s)", gs.stream.FullName(), gs.stream.IsStreamingServer(), gs.stream.Output().FullName())
	}
	return gs, nil
}

// close closes the clients and stops the servers and waits for them.
func (gs *gatewaySession) close() error {
	var errs []error
	if gs.cc != nil {
		errs = append(errs, gs.cc.Close())
	}
	if gs.hc != nil {
		gs.hc.CloseIdleConnections()
	}
	if gs.gsrv != nil {
		gs.gsrv.Stop()
		errs = append(errs, gs.hsrv.Close())
		for range cap(gs.served) {
			if err := <-gs.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("serve: %w", err))
			}
		}
	}
	errs = append(errs, gs.closeBackend())
	return errors.Join(errs...)
}

// closeBackend closes the pool and the native server.
func (gs *gatewaySession) closeBackend() error {
	var errs []error
	if gs.pool != nil {
		errs = append(errs, gs.pool.Close())
	}
	errs = append(errs, gs.srv.Close())
	if gs.nsrvDone != nil {
		if err := <-gs.nsrvDone; err != nil && !errors.Is(err, native.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("native serve: %w", err))
		}
	}
	if gs.tp != nil {
		errs = append(errs, gs.tp.Shutdown(context.Background()))
	}
	return errors.Join(errs...)
}

// reflectService fetches the descriptor of service (and of the files it
// needs) over server reflection v1.
func reflectService(ctx context.Context, cc *grpc.ClientConn, service string) (protoreflect.ServiceDescriptor, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx, grpc.WaitForReady(true))
	if err != nil {
		return nil, err
	}
	if err := st.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service},
	}); err != nil {
		return nil, err
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, fmt.Errorf("reflection: %s", e.GetErrorMessage())
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fdp := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fdp); err != nil {
			return nil, err
		}
		set.File = append(set.File, fdp)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("reflection: %s is not a service", service)
	}
	return sd, nil
}

// fullMethod is md's gRPC method name, "/native.Bench/Stream".
func fullMethod(md protoreflect.MethodDescriptor) string {
	return "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
}

// gatewayGRPCGet streams n bytes of Bench.Stream through the gateway's gRPC
// server, as HttpBody chunks.
func (gs *gatewaySession) grpcGet(n int64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := dynamicpb.NewMessage(gs.stream.Input())
	req.Set(gs.stream.Input().Fields().ByJSONName("n"), protoreflect.ValueOfInt64(n))
	st, err := gs.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod(gs.stream))
	if err != nil {
		return err
	}
	if err := st.SendMsg(req); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	var got int64
	var m httpbody.HttpBody
	for {
		if err := st.RecvMsg(&m); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		got += int64(len(m.Data))
	}
	if got != n {
		return fmt.Errorf("stream carried %d bytes, want %d", got, n)
	}
	return nil
}

// restGet downloads n bytes of Bench.Stream from the gateway's REST front
// door, reading the body with buf (the raw rows' 1 MiB buffer).
func (gs *gatewaySession) restGet(n int64, buf []byte) error {
	resp, err := gs.hc.Get(fmt.Sprintf("%s/%s?n=%d", gs.httpBase, gatewayService+"/Stream", n))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("GET: %s: %s", resp.Status, b)
	}
	if err := readToEOF(resp.Body, n, buf); err != nil {
		return err
	}
	if st := resp.Trailer.Get("Grpc-Status"); st != "0" {
		return fmt.Errorf("GET: trailer Grpc-Status %q, want 0", st)
	}
	return nil
}

func gatewayGRPCStream(r *round) (float64, error) {
	return gatewayGRPCStreamWith(r, gatewaySetup{server: grpcBest, client: grpcBest})
}

// gatewayGRPCStreamWith is gateway/grpc/tcp as set up by su.
func gatewayGRPCStreamWith(r *round, su gatewaySetup) (float64, error) {
	gs, err := startGatewayWith(su)
	if err != nil {
		return 0, err
	}
	v, err := r.transfer(gs.grpcGet)
	return v, errors.Join(err, gs.close())
}

func gatewayRESTStream(r *round) (float64, error) {
	return gatewayRESTStreamWith(r, gatewaySetup{server: grpcBest, client: grpcBest})
}

// gatewayRESTStreamWith is gateway/rest/tcp as set up by su.
func gatewayRESTStreamWith(r *round, su gatewaySetup) (float64, error) {
	gs, err := startGatewayWith(su)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, chunk)
	v, err := r.transfer(func(n int64) error { return gs.restGet(n, buf) })
	return v, errors.Join(err, gs.close())
}

// gatewayRESTRange reads the last MiB of a sparse 4 GiB file through the
// REST face, one range request at a time.
func gatewayRESTRange(r *round) (float64, error) {
	dir, err := os.MkdirTemp("", "bench-range-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return 0, err
	}
	if err := os.Truncate(path, 4<<30); err != nil {
		return 0, err
	}
	gs, err := startGateway(grpcBest)
	if err != nil {
		return 0, err
	}
	u := gs.httpBase + "/" + gatewayService + "/File?path=" + url.QueryEscape(path)
	buf := make([]byte, chunk)
	v, err := r.calls(1, func() error {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Range", "bytes=-1048576")
		resp, err := gs.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 4293918720-4294967295/4294967296" {
			return fmt.Errorf("range GET: %s, Content-Range %q", resp.Status, resp.Header.Get("Content-Range"))
		}
		return readToEOF(resp.Body, 1<<20, buf)
	})
	return v, errors.Join(err, gs.close())
}

// gatewayUnary: Bench.Echo through the gateway's gRPC server, callers
// sharing one ClientConn (grpc-go defaults, as unary/grpc/N); the request
// is echoRequest, and the answer must carry its fields back.
//
// The client sends the request's wire bytes and compares the answer's
// bytes with the first answer, which it decodes and checks field by field:
// a client with generated code costs about what the unary/grpc rows'
// client spends on its StringValue of the same size, while dynamicpb on
// the client (which this row used before) cost the gateway side about a
// tenth of the machine's CPU in this 2-core run.
func gatewayUnary(r *round, callers int, su gatewaySetup) (float64, error) {
	return gatewayUnaryWith(r, callers, su, func(gs *gatewaySession) (func(req rawBytes) (rawBytes, error), error) {
		method := fullMethod(gs.echo)
		return func(req rawBytes) (rawBytes, error) {
			var got rawBytes
			err := gs.cc.Invoke(context.Background(), method, &req, &got, grpc.WaitForReady(true), grpc.ForceCodec(rawCodec{}))
			return got, err
		}, nil
	})
}

// gatewayUnaryWith is a unary row of Bench.Echo through the gateway, whose
// calls newCall makes: it sends the request's wire bytes and returns the
// answer's.
func gatewayUnaryWith(r *round, callers int, su gatewaySetup, newCall func(gs *gatewaySession) (func(req rawBytes) (rawBytes, error), error)) (float64, error) {
	gs, err := startGatewayWith(su)
	if err != nil {
		return 0, err
	}
	call, err := newCall(gs)
	if err != nil {
		return 0, errors.Join(err, gs.close())
	}
	in, out := gs.echo.Input(), gs.echo.Output()
	req := dynamicpb.NewMessage(in)
	if err := protojson.Unmarshal([]byte(echoJSON), req); err != nil {
		return 0, errors.Join(fmt.Errorf("echo request: %w", err), gs.close())
	}
	idF, nameF := out.Fields().ByJSONName("id"), out.Fields().ByJSONName("name")
	if idF == nil || nameF == nil {
		return 0, errors.Join(fmt.Errorf("echo response %s lacks id or name", out.FullName()), gs.close())
	}
	wire, err := proto.Marshal(req)
	if err != nil {
		return 0, errors.Join(err, gs.close())
	}
	rawReq := rawBytes(wire)
	want, err := call(append(rawBytes(nil), rawReq...))
	if err != nil {
		return 0, errors.Join(err, gs.close())
	}
	resp := dynamicpb.NewMessage(out)
	if err := proto.Unmarshal(want, resp); err != nil || resp.Get(idF).Int() != echoRequest.ID || resp.Get(nameF).String() != echoRequest.Name {
		return 0, errors.Join(fmt.Errorf("echo answered %v (%v)", resp, err), gs.close())
	}
	v, err := r.calls(callers, func() error {
		got, err := call(append(rawBytes(nil), rawReq...))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("echo answered %x, want %x", got, want)
		}
		return nil
	})
	return v, errors.Join(err, gs.close())
}
