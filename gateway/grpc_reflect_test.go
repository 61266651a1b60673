package gateway

// Issue 4: health, reflection, the GatewayService and Refresh.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
)

// fixtureServices are the synthesized services of the fixture.
var fixtureServices = []string{"native.Blob", "native.Default", "native.Errors", "native.Meta", "native.Slow", "native.Values"}

func TestGRPCHealth(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		hc := healthpb.NewHealthClient(e.conn)
		check := func(svc string, want healthpb.HealthCheckResponse_ServingStatus) {
			t.Helper()
			resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != want {
				t.Errorf("health of %q: %v %v, want %v", svc, resp.GetStatus(), err, want)
			}
		}
		for _, s := range append([]string{""}, fixtureServices...) {
			check(s, healthpb.HealthCheckResponse_SERVING)
		}
		_, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "native.Nope"})
		wantCode(t, err, codes.NotFound, "")
		e.gw.setServing(false)
		for _, s := range append([]string{""}, fixtureServices...) {
			check(s, healthpb.HealthCheckResponse_NOT_SERVING)
		}
		e.gw.setServing(true)
		check("native.Values", healthpb.HealthCheckResponse_SERVING)
	})
}

// listV1alpha lists the services over reflection v1alpha and fetches the
// file of sym with its imports.
func listV1alpha(t *testing.T, conn *grpc.ClientConn, sym string) ([]string, []*descriptorpb.FileDescriptorProto) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.CloseSend()
	if err := st.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if err := st.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: sym}}); err != nil {
		t.Fatal(err)
	}
	if resp, err = st.Recv(); err != nil {
		t.Fatal(err)
	}
	var files []*descriptorpb.FileDescriptorProto
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fdp := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fdp); err != nil {
			t.Fatal(err)
		}
		files = append(files, fdp)
	}
	return names, files
}

func TestGRPCReflection(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		want := append([]string{"framegate.gateway.v1.GatewayService", "grpc.health.v1.Health",
			"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}, fixtureServices...)
		sort.Strings(want)

		// v1: every service resolves, with its imports.
		d := newDyn(t, e.conn)
		var v1 []string
		d.files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				v1 = append(v1, string(fd.Services().Get(i).FullName()))
			}
			return true
		})
		sort.Strings(v1)
		if !slices.Equal(v1, want) {
			t.Errorf("v1 services %v, want %v", v1, want)
		}
		for _, f := range []string{"native/native_endpoints.proto", "google/api/httpbody.proto", "google/protobuf/empty.proto",
			"google/protobuf/struct.proto", "google/protobuf/timestamp.proto", "google/protobuf/any.proto"} {
			if _, err := d.files.FindFileByPath(f); err != nil {
				t.Errorf("file %s: %v", f, err)
			}
		}
		// The synthesized types are the native ones, by JSON name.
		in := d.method("native.Values/Echo").Input()
		for name, kind := range map[string]protoreflect.Kind{"i64": protoreflect.Int64Kind, "u64": protoreflect.Uint64Kind,
			"raw": protoreflect.BytesKind, "t": protoreflect.MessageKind, "optI64": protoreflect.Int64Kind, "node": protoreflect.MessageKind} {
			fd := in.Fields().ByJSONName(name)
			if fd == nil || fd.Kind() != kind {
				t.Errorf("Echo input field %s: %v", name, fd)
			}
		}
		if fd := in.Fields().ByJSONName("optI64"); fd == nil || !fd.HasPresence() {
			t.Errorf("optI64 has no presence")
		}
		if fd := in.Fields().ByJSONName("t"); fd.Message().FullName() != "google.protobuf.Timestamp" {
			t.Errorf("t is %s", fd.Message().FullName())
		}
		if md := d.method("native.Blob/Download"); !md.IsStreamingServer() || md.Output().FullName() != "google.api.HttpBody" {
			t.Errorf("Download: %v", md)
		}

		// v1alpha: the same services, and the files build.
		alpha, files := listV1alpha(t, e.conn, "native.Blob")
		sort.Strings(alpha)
		if !slices.Equal(alpha, want) {
			t.Errorf("v1alpha services %v, want %v", alpha, want)
		}
		if _, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: files}); err != nil {
			t.Errorf("v1alpha files: %v", err)
		}
	})
}

func TestGRPCGatewayService(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := gatewayv1.NewGatewayServiceClient(e.conn)
		ctx := context.Background()
		list, err := c.ListEndpoints(ctx, &gatewayv1.ListEndpointsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ep := range list.GetEndpoints() {
			names = append(names, ep.GetName())
		}
		schema, _ := e.srv.Schema()
		var want []string
		for _, ep := range schema.Endpoints {
			want = append(want, ep.Name)
		}
		sort.Strings(want)
		if !slices.Equal(names, want) {
			t.Fatalf("endpoints %v, want %v", names, want)
		}
		for _, ep := range list.GetEndpoints() {
			if ep.GetName() == "Blob.Put" && (ep.GetGrpcMethod() != "/native.Blob/Put" || !ep.GetClientStreaming() || ep.GetServerStreaming() ||
				ep.GetRequestKind() != "json+stream" || ep.GetResponseType() != "native.fxPutResp") {
				t.Errorf("Blob.Put: %v", ep)
			}
		}

		resp, err := c.GetSchema(ctx, &gatewayv1.GetSchemaRequest{Name: "Values.Echo"})
		if err != nil {
			t.Fatal(err)
		}
		files, err := protodesc.NewFiles(resp.GetDescriptors())
		if err != nil {
			t.Fatalf("GetSchema descriptors: %v", err)
		}
		if _, err := files.FindDescriptorByName("native.Values.Echo"); err != nil {
			t.Error(err)
		}
		msgs := resp.GetSchema().GetFields()["messages"].GetStructValue().GetFields()
		for _, m := range []string{"gateway.fxValues", "gateway.fxNode"} {
			if msgs[m] == nil {
				t.Errorf("schema lacks message %s: %v", m, resp.GetSchema())
			}
		}
		_, err = c.GetSchema(ctx, &gatewayv1.GetSchemaRequest{Name: "Values.Nope"})
		wantCode(t, err, codes.NotFound, "Values.Nope")
	})
}

func TestGRPCRefresh(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		hello := func(req *fxPut, resp *fxPut) error { *resp = *req; resp.Name = "hello " + req.Name; return nil }
		if err := e.srv.Register("Extra.Hello", hello); err != nil {
			t.Fatal(err)
		}
		if err := e.gw.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		d := newDyn(t, e.conn) // sees the new service over reflection
		out, err := d.call(ctx, "native.Extra/Hello", d.in("native.Extra/Hello", `{"name":"you","mode":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := field(out, "name").String(); got != "hello you" {
			t.Fatalf("Hello: %q", got)
		}
		hc := healthpb.NewHealthClient(e.conn)
		if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "native.Extra"}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of a new service: %v %v", r, err)
		}

		e.srv.Unregister("Extra.Hello")
		if err := e.gw.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = d.call(ctx, "native.Extra/Hello", d.in("native.Extra/Hello", `{"name":"you"}`))
		wantCode(t, err, codes.Unimplemented, "")
		if _, err := newDyn(t, e.conn).files.FindDescriptorByName("native.Extra"); err == nil {
			t.Error("reflection still lists native.Extra")
		}
		if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "native.Extra"}); err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			t.Errorf("a removed service is still SERVING")
		}
	})
}

// Refresh while calls run: the calls to endpoints that stay never fail.
func TestGRPCRefreshConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		d := newDyn(t, e.conn)
		echo := d.in("native.Values/Echo", `{"name":"stay","i64":"9007199254740993"}`)
		dl := d.in("native.Blob/Download", `{"size":"100000","seed":"3"}`)
		stop := make(chan struct{})
		errc := make(chan error, 8)
		called := make(chan struct{}, 4) // each caller's first call is done
		var wg sync.WaitGroup
		halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer halt() // also when the test fails early
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					if n == 1 {
						called <- struct{}{}
					}
					select {
					case <-stop:
						return
					default:
					}
					var err error
					if i%2 == 0 {
						var out proto.Message
						if out, err = d.call(ctx, "native.Values/Echo", echo); err == nil && !proto.Equal(out, echo) {
							err = fmt.Errorf("echo changed: %v", out)
						}
					} else {
						var data []byte
						if data, _, err = d.download(ctx, "native.Blob/Download", dl); err == nil && len(data) != 100000 {
							err = fmt.Errorf("download: %d bytes", len(data))
						}
					}
					if err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		for i := range 20 {
			name := fmt.Sprintf("Extra%d.Hello", i%3)
			e.srv.Register(name, func(req *fxPut, resp *fxPut) error { return nil })
			if err := e.gw.Refresh(ctx); err != nil {
				t.Error(err)
			}
			newDyn(t, e.conn)
			e.srv.Unregister(name)
			if err := e.gw.Refresh(ctx); err != nil {
				t.Error(err)
			}
		}
	wait:
		for range 4 {
			select {
			case <-called:
			case err := <-errc:
				t.Error(err)
				break wait
			case <-time.After(30 * time.Second):
				t.Error("a caller made no call")
				break wait
			}
		}
		halt()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
	})
}

// Another proto package moves every synthesized name and path.
func TestGRPCPackage(t *testing.T) {
	e := newEnv(t, "remote", WithPackage("acme.files"))
	d := newDyn(t, e.conn)
	in := d.in("acme.files.Values/Echo", `{"name":"x","u64":"18446744073709551615"}`)
	out, err := d.call(context.Background(), "acme.files.Values/Echo", in)
	if err != nil || !proto.Equal(in, out) {
		t.Fatalf("Echo: %v %v", out, err)
	}
	if _, err := d.files.FindFileByPath("acme/files/native_endpoints.proto"); err != nil {
		t.Error(err)
	}
	resp, b := do(t, "GET", e.http.URL+"/acme.files.Values/Double?value=2", nil)
	if resp.StatusCode != 200 || string(b) != "4" {
		t.Errorf("REST: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", e.http.URL+"/native.Values/Double?value=2", nil)
	wantStatus(t, resp, b, codes.NotFound, "")
}
