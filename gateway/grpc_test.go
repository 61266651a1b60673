package gateway

// Issue 4: the gRPC front door, exercised with grpc-go and dynamicpb
// messages built from descriptors fetched over server reflection.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

// dyn is a gRPC client that knows the server's types only from reflection.
type dyn struct {
	t     testing.TB
	conn  *grpc.ClientConn
	files *protoregistry.Files
}

func newDyn(t testing.TB, conn *grpc.ClientConn) *dyn {
	t.Helper()
	return &dyn{t: t, conn: conn, files: fetchFiles(t, conn)}
}

// fetchFiles lists the services over reflection v1 and fetches the files
// that define them and everything they import, as a client would.
func fetchFiles(t testing.TB, conn *grpc.ClientConn) *protoregistry.Files {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.CloseSend()
	ask := func(req *reflectionv1.ServerReflectionRequest) *reflectionv1.ServerReflectionResponse {
		t.Helper()
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Fatalf("reflection %v: %d %s", req, e.ErrorCode, e.ErrorMessage)
		}
		return resp
	}
	protos := map[string]*descriptorpb.FileDescriptorProto{}
	add := func(resp *reflectionv1.ServerReflectionResponse) {
		t.Helper()
		for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fdp := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(b, fdp); err != nil {
				t.Fatal(err)
			}
			protos[fdp.GetName()] = fdp
		}
	}
	list := ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
	for _, s := range list.GetListServicesResponse().GetService() {
		add(ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: s.GetName()}}))
	}
	// The server sends each file once per stream, with the imports not
	// sent before; ask for any import still missing all the same.
	for missing := true; missing; {
		missing = false
		for _, fdp := range protos {
			for _, dep := range fdp.GetDependency() {
				if protos[dep] == nil {
					missing = true
					add(ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileByFilename{FileByFilename: dep}}))
				}
			}
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fdp := range protos {
		set.File = append(set.File, fdp)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatalf("descriptors from reflection do not build: %v", err)
	}
	return files
}

// method returns the descriptor of "pkg.Service/Method".
func (d *dyn) method(name string) protoreflect.MethodDescriptor {
	d.t.Helper()
	svc, m, _ := strings.Cut(name, "/")
	desc, err := d.files.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		d.t.Fatalf("service %s: %v", svc, err)
	}
	md := desc.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(m))
	if md == nil {
		d.t.Fatalf("no method %s", name)
	}
	return md
}

// in returns an input message of method name from its protojson form.
func (d *dyn) in(name, js string) *dynamicpb.Message {
	d.t.Helper()
	return d.msg(d.method(name).Input(), js)
}

func (d *dyn) msg(md protoreflect.MessageDescriptor, js string) *dynamicpb.Message {
	d.t.Helper()
	m := dynamicpb.NewMessage(md)
	if js != "" {
		if err := (protojson.UnmarshalOptions{Resolver: dynamicpb.NewTypes(d.files)}).Unmarshal([]byte(js), m); err != nil {
			d.t.Fatalf("%s from %s: %v", md.FullName(), js, err)
		}
	}
	return m
}

// call makes a unary call.
func (d *dyn) call(ctx context.Context, name string, in proto.Message, opts ...grpc.CallOption) (*dynamicpb.Message, error) {
	out := dynamicpb.NewMessage(d.method(name).Output())
	return out, d.conn.Invoke(ctx, "/"+name, in, out, opts...)
}

// stream opens a stream of method name.
func (d *dyn) stream(ctx context.Context, name string, opts ...grpc.CallOption) grpc.ClientStream {
	d.t.Helper()
	md := d.method(name)
	st, err := d.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, "/"+name, opts...)
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

// download calls a server-streaming method and returns the concatenated
// data of its HttpBody messages, the messages' content types, and the
// final status.
func (d *dyn) download(ctx context.Context, name string, in proto.Message, opts ...grpc.CallOption) ([]byte, []string, error) {
	d.t.Helper()
	st := d.stream(ctx, name, opts...)
	if err := st.SendMsg(in); err != nil {
		return nil, nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, nil, err
	}
	var data []byte
	var types []string
	for {
		hb := &httpbody.HttpBody{}
		if err := st.RecvMsg(hb); err != nil {
			if err == io.EOF {
				err = nil
			}
			return data, types, err
		}
		data = append(data, hb.Data...)
		types = append(types, hb.ContentType)
	}
}

// upload sends msgs on a client-streaming method and returns the response.
func (d *dyn) upload(ctx context.Context, name string, msgs []proto.Message, opts ...grpc.CallOption) (*dynamicpb.Message, error) {
	d.t.Helper()
	st := d.stream(ctx, name, opts...)
	for _, m := range msgs {
		if err := st.SendMsg(m); err != nil {
			break // the status comes with RecvMsg
		}
	}
	st.CloseSend()
	out := dynamicpb.NewMessage(d.method(name).Output())
	err := st.RecvMsg(out)
	return out, err
}

// chunks splits b into HttpBody messages of n bytes.
func chunks(b []byte, n int) []proto.Message {
	var out []proto.Message
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, &httpbody.HttpBody{Data: b[:k]})
		b = b[k:]
	}
	return out
}

// field reads a field of m by its JSON name.
func field(m protoreflect.Message, jsonName string) protoreflect.Value {
	fd := m.Descriptor().Fields().ByJSONName(jsonName)
	if fd == nil {
		panic("no field " + jsonName + " in " + string(m.Descriptor().FullName()))
	}
	return m.Get(fd)
}

// hasEvent reports whether the observer sees a call of endpoint that ok
// accepts. It waits for one: the observer runs as the handler returns,
// which the client may see before.
func hasEvent(e *env, endpoint string, ok func(CallEvent) bool) bool {
	for {
		for _, ev := range e.callEvents() {
			if ev.Endpoint == endpoint && ok(ev) {
				return true
			}
		}
		select {
		case <-e.evNotify:
		case <-time.After(10 * time.Second):
			return false
		}
	}
}

func wantCode(t testing.TB, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || (msg != "" && !strings.Contains(st.Message(), msg)) {
		t.Fatalf("got %v, want code %v with message containing %q", err, code, msg)
	}
}

func TestGRPCUnary(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		ctx := context.Background()
		in := d.in("native.Values/Echo", `{"name":"x","i64":"-9007199254740993","u64":"18446744073709551615","tags":["a","b"],"node":{"name":"n","next":{"name":"m"}}}`)
		out, err := d.call(ctx, "native.Values/Echo", in)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(in, out) {
			t.Fatalf("echo:\n in  %v\n out %v", in, out)
		}
		// A bare scalar request and response, in synthesized wrappers.
		out, err = d.call(ctx, "native.Values/Double", d.in("native.Values/Double", `{"value":"4611686018427387903"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := field(out, "value").Int(); got != 9223372036854775806 {
			t.Fatalf("Double: %d", got)
		}
		// No request: google.protobuf.Empty, in the Default service.
		if _, err := d.call(ctx, "native.Default/Ping", d.in("native.Default/Ping", "")); err != nil {
			t.Fatal(err)
		}
		if d.method("native.Default/Ping").Input().FullName() != "google.protobuf.Empty" {
			t.Errorf("Ping input %s", d.method("native.Default/Ping").Input().FullName())
		}
		if !hasEvent(e, "Values.Echo", func(ev CallEvent) bool { return ev.Protocol == "grpc" && ev.Code == 0 && ev.Err == nil }) {
			t.Errorf("call events: %+v", e.callEvents())
		}
	})
}

func TestGRPCServerStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		const size = 5<<20 + 12345
		var hdr, trl metadata.MD
		data, types, err := d.download(context.Background(), "native.Blob/Download",
			d.in("native.Blob/Download", `{"size":"5255225","seed":"7"}`), grpc.Header(&hdr), grpc.Trailer(&trl))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, fxData(7, size)) {
			t.Fatalf("got %d bytes, want %d, not equal", len(data), size)
		}
		if len(types) < 2 || types[0] != "application/octet-stream" || types[1] != "" {
			t.Errorf("content types %q", types[:min(len(types), 3)])
		}
		if got := hdr["x-blob-seed"]; len(got) != 1 || got[0] != "7" {
			t.Errorf("header %v", hdr)
		}
		if got := trl["x-blob-size"]; len(got) != 1 || got[0] != fmt.Sprint(size) {
			t.Errorf("trailer %v", trl)
		}
		// The handler's content type, and an empty stream: one message.
		data, types, err = d.download(context.Background(), "native.Blob/Download",
			d.in("native.Blob/Download", `{"size":"0","contentType":"text/plain"}`))
		if err != nil || len(data) != 0 || len(types) != 1 || types[0] != "text/plain" {
			t.Fatalf("empty stream: %d bytes, types %q, %v", len(data), types, err)
		}
	})
}

func TestGRPCClientStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		ctx := context.Background()
		payload := fxData(3, 3<<20+7)
		out, err := d.upload(ctx, "native.Blob/Upload", chunks(payload, 100<<10))
		if err != nil {
			t.Fatal(err)
		}
		if field(out, "size").Int() != int64(len(payload)) || field(out, "sha256").String() != sha(payload) {
			t.Fatalf("upload: %v", out)
		}
		if !hasEvent(e, "Blob.Upload", func(ev CallEvent) bool { return ev.BytesIn == int64(len(payload)) && ev.Code == 0 }) {
			t.Errorf("no Blob.Upload event with %d bytes in: %+v", len(payload), e.callEvents())
		}
		// An empty stream is an empty upload.
		out, err = d.upload(ctx, "native.Blob/Upload", nil)
		if err != nil || field(out, "size").Int() != 0 || field(out, "sha256").String() != sha(nil) {
			t.Fatalf("empty upload: %v %v", out, err)
		}

		// json+stream: the first message carries the request (and data),
		// the following ones data only.
		put := "native.Blob/Put"
		first := d.in(put, `{"request":{"name":"f.bin","mode":420,"tags":["x"]},"data":"AAEC"}`)
		msgs := []proto.Message{first}
		for _, c := range chunks(payload, 256<<10) {
			m := d.in(put, "")
			m.Set(m.Descriptor().Fields().ByName("data"), protoreflect.ValueOfBytes(c.(*httpbody.HttpBody).Data))
			msgs = append(msgs, m)
		}
		out, err = d.upload(ctx, put, msgs)
		if err != nil {
			t.Fatal(err)
		}
		whole := append([]byte{0, 1, 2}, payload...)
		want := d.msg(out.Descriptor(), fmt.Sprintf(`{"put":{"name":"f.bin","mode":420,"tags":["x"]},"sum":{"size":"%d","sha256":%q}}`, len(whole), sha(whole)))
		if !proto.Equal(out, want) {
			t.Fatalf("put:\n got  %v\n want %v", out, want)
		}
		// A request in a later message is refused.
		_, err = d.upload(ctx, put, []proto.Message{first, d.in(put, `{"request":{"name":"again"},"data":"AA=="}`)})
		wantCode(t, err, codes.InvalidArgument, "only the first message")
		// No message at all: no request.
		_, err = d.upload(ctx, put, nil)
		wantCode(t, err, codes.InvalidArgument, "first message must carry the request")
	})
}

// The request stream reaches the handler while the client is still sending:
// the second message is sent only once the handler has read the first.
func TestGRPCClientStreamIsStreamed(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		id, p := e.probes.add()
		name := "native.Blob/Paced"
		st := d.stream(context.Background(), name)
		one, two := fxData(1, 64<<10), fxData(2, 1<<20)
		first := d.in(name, fmt.Sprintf(`{"request":{"id":%q,"first":"%d"}}`, id, len(one)))
		first.Set(first.Descriptor().Fields().ByName("data"), protoreflect.ValueOfBytes(one))
		if err := st.SendMsg(first); err != nil {
			t.Fatal(err)
		}
		wait(t, p.started, "the handler to read the first chunk")
		second := d.in(name, "")
		second.Set(second.Descriptor().Fields().ByName("data"), protoreflect.ValueOfBytes(two))
		if err := st.SendMsg(second); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		out := dynamicpb.NewMessage(d.method(name).Output())
		if err := st.RecvMsg(out); err != nil {
			t.Fatal(err)
		}
		if field(out, "sha256").String() != sha(append(one, two...)) {
			t.Fatalf("paced upload: %v", out)
		}
	})
}

// A stream-to-stream endpoint: a client stream in, a server stream out.
func TestGRPCBidiStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		st := d.stream(context.Background(), "native.Blob/Copy")
		payload := fxData(5, 1<<20+3)
		for _, m := range chunks(payload, 200<<10) {
			if err := st.SendMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		st.CloseSend()
		var got []byte
		for {
			hb := &httpbody.HttpBody{}
			if err := st.RecvMsg(hb); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
			got = append(got, hb.Data...)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("copy: %d bytes back, want %d", len(got), len(payload))
		}
	})
}

func TestGRPCErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		ctx := context.Background()
		for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
			msg := fmt.Sprintf("failure %v: ünïcode & <stuff>", c)
			_, err := d.call(ctx, "native.Errors/Fail", d.in("native.Errors/Fail", fmt.Sprintf(`{"code":%d,"message":%q}`, c, msg)))
			st, _ := status.FromError(err)
			if st.Code() != c || st.Message() != msg {
				t.Errorf("code %v: got %v %q", c, st.Code(), st.Message())
			}
		}
		// An error is never OK, even with the code OK.
		_, err := d.call(ctx, "native.Errors/Fail", d.in("native.Errors/Fail", `{"code":0,"message":"not ok"}`))
		wantCode(t, err, codes.Unknown, "not ok")
		// A failure after the stream began: the bytes before it, then the
		// status.
		const failAt = 3<<20 + 5
		data, _, err := d.download(ctx, "native.Blob/Download",
			d.in("native.Blob/Download", fmt.Sprintf(`{"size":"%d","seed":"9","failAt":"%d","failCode":15}`, 8<<20, failAt)))
		wantCode(t, err, codes.DataLoss, fmt.Sprintf("broke after %d bytes", failAt))
		if !bytes.Equal(data, fxData(9, failAt)) {
			t.Fatalf("got %d bytes before the failure, want the first %d", len(data), failAt)
		}
		// Failing before the first byte.
		_, _, err = d.download(ctx, "native.Blob/Download", d.in("native.Blob/Download", `{"size":"10","failAt":"0","failCode":7}`))
		wantCode(t, err, codes.PermissionDenied, "broke after 0 bytes")
		// An upload refused without reading the stream.
		_, err = d.upload(ctx, "native.Blob/Refuse", chunks(fxData(4, 2<<20), 64<<10))
		wantCode(t, err, codes.PermissionDenied, "uploads refused")

		// Unknown methods and services.
		err = e.conn.Invoke(ctx, "/native.Values/Nope", &httpbody.HttpBody{}, &httpbody.HttpBody{})
		wantCode(t, err, codes.Unimplemented, "")
		err = e.conn.Invoke(ctx, "/native.Nope/Echo", &httpbody.HttpBody{}, &httpbody.HttpBody{})
		wantCode(t, err, codes.Unimplemented, "")

		// The observer saw the code and the bytes.
		if !hasEvent(e, "Blob.Download", func(ev CallEvent) bool { return codes.Code(ev.Code) == codes.DataLoss && ev.BytesOut == failAt }) {
			t.Errorf("no DataLoss event with %d bytes out: %+v", failAt, e.callEvents())
		}
	})
}

// A backend nobody answers for is UNAVAILABLE, for every call shape.
func TestGRPCUnavailable(t *testing.T) {
	srv := native.NewServer()
	if err := register(srv, &probes{m: map[string]*probe{}}); err != nil {
		t.Fatal(err)
	}
	pool := dialPool(freeAddr(t))
	defer pool.Close()
	g, err := New(context.Background(), deadBackend{pool, srv})
	if err != nil {
		t.Fatal(err)
	}
	_, conn := serveGRPC(t, g)
	d := newDyn(t, conn)
	ctx := context.Background()
	_, err = d.call(ctx, "native.Values/Echo", d.in("native.Values/Echo", `{"name":"x"}`))
	wantCode(t, err, codes.Unavailable, "")
	_, _, err = d.download(ctx, "native.Blob/Download", d.in("native.Blob/Download", `{"size":"10"}`))
	wantCode(t, err, codes.Unavailable, "")
	_, err = d.upload(ctx, "native.Blob/Upload", chunks([]byte("abc"), 1))
	wantCode(t, err, codes.Unavailable, "")

	// REST maps it to 503.
	hs := httptest.NewServer(g.HTTPHandler())
	defer hs.Close()
	resp, b := do(t, "GET", hs.URL+"/native.Values/Double?value=1", nil)
	wantStatus(t, resp, b, codes.Unavailable, "")

	// New itself fails when the backend cannot be described.
	if _, err := New(ctx, Remote(pool)); native.CodeOf(err) != native.CodeUnavailable {
		t.Errorf("New over a closed port: %v", err)
	}
}

// A Remote backend whose server went away is UNAVAILABLE too.
func TestGRPCBackendGone(t *testing.T) {
	e := newEnv(t, "remote")
	d := newDyn(t, e.conn)
	ctx := context.Background()
	in := d.in("native.Values/Echo", `{"name":"x"}`)
	if _, err := d.call(ctx, "native.Values/Echo", in); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	_, err := d.call(ctx, "native.Values/Echo", in)
	wantCode(t, err, codes.Unavailable, "")
}
