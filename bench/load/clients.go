package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// A client makes the two kinds of calls of a scenario, each checked end to
// end: a stream must carry exactly the known content, an echo must answer
// its own request.
type client interface {
	// stream downloads n bytes from offset off of pattern, checking them
	// as they arrive.
	stream(ctx context.Context, n, off int64) error
	echo(ctx context.Context, req *EchoMsg) error
	close() error
}

func newClient(ctx context.Context, e *env, protocol string) (client, error) {
	switch protocol {
	case "grpc":
		return newGRPCClient(ctx, e)
	case "rest":
		return newRESTClient(e), nil
	}
	return nil, fmt.Errorf("unknown protocol %q", protocol)
}

// silentError is a failure the protocol did not report: the call ended
// as a success (gRPC status OK, HTTP 200 with a whole body) but its
// content was wrong or short, or data arrived wrong. A client without the
// load's checks would take it for a good answer. Every other failure is
// loud: a gRPC status, an HTTP error status, a body the HTTP client found
// cut (curl exits non-zero).
type silentError struct{ error }

func (e silentError) Unwrap() error { return e.error }

// silentf is a silentError.
func silentf(format string, args ...any) error { return silentError{fmt.Errorf(format, args...)} }

// isSilent reports whether err is a silent failure.
func isSilent(err error) bool {
	var s silentError
	return errors.As(err, &s)
}

// verifier checks that what is written to it is pattern from off on.
type verifier struct {
	pos int   // in pattern
	n   int64 // bytes checked
	bad error // the first difference (a silentError)
}

func newVerifier(off int64) *verifier { return &verifier{pos: int(off % chunk)} }

func (v *verifier) Write(p []byte) (int, error) {
	for q := p; len(q) > 0; {
		m := min(len(q), len(pattern)-v.pos)
		if !bytes.Equal(q[:m], pattern[v.pos:v.pos+m]) {
			i := 0
			for q[i] == pattern[v.pos+i] {
				i++
			}
			v.bad = silentf("content differs at byte %d", v.n+int64(len(p)-len(q)+i))
			return 0, v.bad
		}
		v.pos = (v.pos + m) % len(pattern)
		q = q[m:]
	}
	v.n += int64(len(p))
	return len(p), nil
}

func (v *verifier) done(want int64) error {
	if v.n != want {
		return silentf("stream carried %d bytes, want %d", v.n, want)
	}
	return nil
}

// checkEcho compares an answer with its request.
func checkEcho(req, got *EchoMsg) error {
	if got.ID != req.ID || got.Name != req.Name || !slices.Equal(got.Tags, req.Tags) || got.Size != req.Size || got.Owner != req.Owner {
		return silentf("echo of %+v answered %+v", *req, *got)
	}
	return nil
}

// grpcClient calls the gateway's gRPC server on one ClientConn (grpc-go
// defaults, and the 64 MiB receive limit the bench's gRPC rows use). It
// knows no .proto file: the descriptors come from server reflection, the
// messages are dynamicpb, the stream's chunks google.api.HttpBody.
type grpcClient struct {
	cc                               *grpc.ClientConn
	streamMethod, echoMethod         string
	streamIn, echoIn, echoOut        protoreflect.MessageDescriptor
	fN, fOff                         protoreflect.FieldDescriptor // of streamIn
	fID, fName, fTags, fSize, fOwner protoreflect.FieldDescriptor // of echoIn
	oID, oName, oTags, oSize, oOwner protoreflect.FieldDescriptor // of echoOut
}

const service = "native.Load"

func newGRPCClient(ctx context.Context, e *env) (*grpcClient, error) {
	cc, err := grpc.NewClient("passthrough:///"+e.grpcAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, err
	}
	c := &grpcClient{cc: cc}
	if err := c.describe(ctx); err != nil {
		cc.Close()
		return nil, err
	}
	return c, nil
}

// describe reads the service's descriptor over server reflection v1.
func (c *grpcClient) describe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := reflectionpb.NewServerReflectionClient(c.cc).ServerReflectionInfo(ctx, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	if err := st.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service},
	}); err != nil {
		return err
	}
	resp, err := st.Recv()
	if err != nil {
		return err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return fmt.Errorf("reflection: %s", e.GetErrorMessage())
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fdp := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fdp); err != nil {
			return err
		}
		set.File = append(set.File, fdp)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return fmt.Errorf("reflection: %w", err)
	}
	d, err := files.FindDescriptorByName(service)
	if err != nil {
		return fmt.Errorf("reflection: %w", err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return fmt.Errorf("reflection: %s is not a service", service)
	}
	sm, em := sd.Methods().ByName("Stream"), sd.Methods().ByName("Echo")
	if sm == nil || em == nil {
		return fmt.Errorf("%s lacks Stream or Echo", service)
	}
	if !sm.IsStreamingServer() || sm.Output().FullName() != "google.api.HttpBody" {
		return fmt.Errorf("%s is not a server stream of google.api.HttpBody", sm.FullName())
	}
	c.streamMethod, c.echoMethod = "/"+service+"/Stream", "/"+service+"/Echo"
	c.streamIn, c.echoIn, c.echoOut = sm.Input(), em.Input(), em.Output()
	field := func(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
		if fd := md.Fields().ByJSONName(name); fd != nil {
			return fd
		}
		err = errors.Join(err, fmt.Errorf("%s has no field %q", md.FullName(), name))
		return nil
	}
	c.fN, c.fOff = field(c.streamIn, "n"), field(c.streamIn, "off")
	c.fID, c.fName, c.fTags, c.fSize, c.fOwner = field(c.echoIn, "id"), field(c.echoIn, "name"), field(c.echoIn, "tags"), field(c.echoIn, "size"), field(c.echoIn, "owner")
	c.oID, c.oName, c.oTags, c.oSize, c.oOwner = field(c.echoOut, "id"), field(c.echoOut, "name"), field(c.echoOut, "tags"), field(c.echoOut, "size"), field(c.echoOut, "owner")
	return err
}

func (c *grpcClient) stream(ctx context.Context, n, off int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := dynamicpb.NewMessage(c.streamIn)
	req.Set(c.fN, protoreflect.ValueOfInt64(n))
	req.Set(c.fOff, protoreflect.ValueOfInt64(off))
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, c.streamMethod, grpc.ForceCodecV2(newViewCodec()))
	if err != nil {
		return err
	}
	if err := st.SendMsg(req); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	v := newVerifier(off)
	m := chunkView{write: func(b []byte) error { _, err := v.Write(b); return err }}
	for first := true; ; first = false {
		m.contentType = ""
		if err := st.RecvMsg(&m); err == io.EOF {
			break
		} else if v.bad != nil {
			return v.bad // grpc-go wraps the codec's error in a status
		} else if err != nil {
			return err
		}
		if first && m.contentType != "application/octet-stream" {
			return silentf("first chunk has content type %q", m.contentType)
		}
	}
	return v.done(n)
}

func (c *grpcClient) echo(ctx context.Context, e *EchoMsg) error {
	req := dynamicpb.NewMessage(c.echoIn)
	req.Set(c.fID, protoreflect.ValueOfInt64(e.ID))
	req.Set(c.fName, protoreflect.ValueOfString(e.Name))
	tags := req.Mutable(c.fTags).List()
	for _, t := range e.Tags {
		tags.Append(protoreflect.ValueOfString(t))
	}
	req.Set(c.fSize, protoreflect.ValueOfInt64(e.Size))
	req.Set(c.fOwner, protoreflect.ValueOfString(e.Owner))
	resp := dynamicpb.NewMessage(c.echoOut)
	if err := c.cc.Invoke(ctx, c.echoMethod, req, resp); err != nil {
		return err
	}
	got := EchoMsg{ID: resp.Get(c.oID).Int(), Name: resp.Get(c.oName).String(), Size: resp.Get(c.oSize).Int(), Owner: resp.Get(c.oOwner).String()}
	l := resp.Get(c.oTags).List()
	for i := range l.Len() {
		got.Tags = append(got.Tags, l.Get(i).String())
	}
	return checkEcho(e, &got)
}

func (c *grpcClient) close() error { return c.cc.Close() }

// restClient calls the gateway's REST front door over HTTP/1.1, with a
// keep-alive connection per concurrent call.
type restClient struct {
	hc   *http.Client
	base string
}

// restBuf is the size of a REST stream's read buffer.
const restBuf = 128 << 10

func newRESTClient(e *env) *restClient {
	conns := e.cfg.streams + e.cfg.callers
	return &restClient{base: e.httpBase, hc: &http.Client{Transport: &http.Transport{
		Proxy: nil, DisableCompression: true, MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}}
}

func (c *restClient) stream(ctx context.Context, n, off int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/%s/Stream?n=%d&off=%d", c.base, service, n, off), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("GET Stream: %s: %s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		return silentf("GET Stream: content type %q", ct)
	}
	v := newVerifier(off)
	buf := make([]byte, restBuf)
	if _, err := io.CopyBuffer(v, struct{ io.Reader }{resp.Body}, buf); err != nil {
		return err
	}
	if st := resp.Trailer.Get("Grpc-Status"); st != "0" {
		// The body ended whole: curl would exit 0.
		return silentf("GET Stream: trailer Grpc-Status %q, want 0", st)
	}
	return v.done(n)
}

func (c *restClient) echo(ctx context.Context, e *EchoMsg) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+service+"/Echo", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST Echo: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var got EchoMsg
	if err := json.Unmarshal(body, &got); err != nil {
		return silentf("POST Echo: %w: %q", err, body)
	}
	return checkEcho(e, &got)
}

func (c *restClient) close() error {
	c.hc.CloseIdleConnections()
	return nil
}
