package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// webProtocols are the client options of each protocol connect-go speaks
// to the gateway.
var webProtocols = []struct {
	name, label string
	opts        []connect.ClientOption
}{
	{"connect+proto", "connect", nil},
	{"connect+json", "connect", []connect.ClientOption{connect.WithProtoJSON()}},
	{"grpc-web", "grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	{"grpc-web+json", "grpc-web", []connect.ClientOption{connect.WithGRPCWeb(), connect.WithProtoJSON()}},
}

// webMethod returns the descriptor of the method at path.
func webMethod(t testing.TB, e *env, path string) protoreflect.MethodDescriptor {
	t.Helper()
	m := e.gw.set.Load().lookup(path)
	if m == nil {
		t.Fatalf("no method %s", path)
	}
	return m.desc
}

// webClient returns a connect-go client of the method at path, whose
// messages are dynamicpb messages of its descriptors.
func webClient(t testing.TB, e *env, path string, opts ...connect.ClientOption) *connect.Client[dynamicpb.Message, dynamicpb.Message] {
	t.Helper()
	return connect.NewClient[dynamicpb.Message, dynamicpb.Message](http.DefaultClient, e.http.URL+path, webClientOptions(t, e, path, opts...)...)
}

// webClientOptions are webClient's options: the method's schema, its
// output messages as dynamicpb messages, then opts.
func webClientOptions(t testing.TB, e *env, path string, opts ...connect.ClientOption) []connect.ClientOption {
	t.Helper()
	md := webMethod(t, e, path)
	return append([]connect.ClientOption{connect.WithSchema(md),
		connect.WithResponseInitializer(func(spec connect.Spec, msg any) error {
			*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(spec.Schema.(protoreflect.MethodDescriptor).Output())
			return nil
		})}, opts...)
}

// dynMsg returns a message of md from its protojson.
func dynMsg(t testing.TB, md protoreflect.MessageDescriptor, js string) *dynamicpb.Message {
	t.Helper()
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(js), m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantConnectErr checks that err is a connect-go error of code with
// exactly message msg.
func wantConnectErr(t testing.TB, err error, code connect.Code, msg string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code || ce.Message() != msg {
		t.Fatalf("got %v, want %v %q", err, code, msg)
	}
}

func TestWebRPCUnary(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		md := webMethod(t, e, "/native.Values/Echo")
		req := dynMsg(t, md.Input(), `{"name":"x","i64":"9007199254740993","tags":["a","b"],"node":{"name":"n"},"t":"2024-01-02T03:04:05.000000006Z"}`)
		for _, p := range webProtocols {
			c := webClient(t, e, "/native.Values/Echo", p.opts...)
			res, err := c.CallUnary(context.Background(), connect.NewRequest(req))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if !proto.Equal(res.Msg, req) {
				t.Fatalf("%s: echo %v, want %v", p.name, res.Msg, req)
			}
			// A native error keeps its code and message.
			fail := webClient(t, e, "/native.Errors/Fail", p.opts...)
			_, err = fail.CallUnary(context.Background(), connect.NewRequest(dynMsg(t, webMethod(t, e, "/native.Errors/Fail").Input(), `{"code":5,"message":"no such thing"}`)))
			wantConnectErr(t, err, connect.CodeNotFound, "no such thing")
			// Fields the schema does not know are refused.
			if strings.HasSuffix(p.name, "json") {
				continue // protojson drops them
			}
			bad := dynamicpb.NewMessage(md.Input())
			bad.SetUnknown(protoreflect.RawFields{0xf8, 0x06, 0x01}) // field 111, varint 1
			_, err = c.CallUnary(context.Background(), connect.NewRequest(bad))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "unknown field number 111") {
				t.Fatalf("%s: unknown field: %v", p.name, err)
			}
		}
		resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Echo", strings.NewReader(`{"nope":1}`), "Connect-Protocol-Version", "1")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `unknown field \"nope\"`) {
			t.Fatalf("unknown JSON field: %d %s", resp.StatusCode, b)
		}
		if !hasEvent(e, "Values.Echo", func(ev CallEvent) bool { return ev.Protocol == "connect" && ev.Code == 0 }) ||
			!hasEvent(e, "Values.Echo", func(ev CallEvent) bool { return ev.Protocol == "grpc-web" && ev.Code == 0 }) ||
			!hasEvent(e, "Errors.Fail", func(ev CallEvent) bool { return ev.Protocol == "grpc-web" && ev.Code == 5 }) {
			t.Errorf("events %+v", e.callEvents())
		}
	})
}

func TestWebRPCMetadata(t *testing.T) {
	e := newEnv(t, "local")
	md := webMethod(t, e, "/native.Meta/Echo")
	for _, p := range webProtocols {
		c := webClient(t, e, "/native.Meta/Echo", p.opts...)
		req := connect.NewRequest(dynMsg(t, md.Input(), `{"header":{"x-h":"1"},"trailer":{"x-t":"2"}}`))
		req.Header().Set("X-Request-Id", "abc")
		req.Header().Set("X-Not-Allowed", "no")
		// The deadline goes as Connect-Timeout-Ms or Grpc-Timeout.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		res, err := c.CallUnary(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		raw, _ := protojson.Marshal(res.Msg)
		var js bytes.Buffer
		_ = json.Compact(&js, raw) // protojson's spacing varies
		if !strings.HasPrefix(js.String(), `{"incoming":{"x-request-id":{"values":["abc"]}},"hasDeadline":true,"deadline":"`) {
			t.Errorf("%s: %s", p.name, js.String())
		}
		if res.Header().Get("X-H") != "1" || res.Trailer().Get("X-T") != "2" {
			t.Errorf("%s: header %v trailer %v", p.name, res.Header(), res.Trailer())
		}
	}
}

func TestWebRPCGet(t *testing.T) {
	e := newEnv(t, "local")
	// connect-go's GET, for a safe endpoint.
	c := webClient(t, e, "/native.Values/Double", connect.WithHTTPGet(), connect.WithIdempotency(connect.IdempotencyNoSideEffects))
	res, err := c.CallUnary(context.Background(), connect.NewRequest(dynMsg(t, webMethod(t, e, "/native.Values/Double").Input(), `{"value":"21"}`)))
	if err != nil || !proto.Equal(res.Msg, dynMsg(t, webMethod(t, e, "/native.Values/Double").Output(), `{"value":"42"}`)) {
		t.Fatalf("GET: %v %v", res, err)
	}
	// The same by hand, as a browser would send it.
	q := url.Values{"connect": {"v1"}, "encoding": {"json"}, "message": {`{"value":"4"}`}}
	resp, b := do(t, http.MethodGet, e.http.URL+"/native.Values/Double?"+q.Encode(), nil)
	if resp.StatusCode != 200 || string(b) != `{"value":"8"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	// Not for an endpoint that is not safe: Values.Tally counts its calls.
	q.Set("message", "{}")
	resp, b = do(t, http.MethodGet, e.http.URL+"/native.Values/Tally?"+q.Encode(), nil)
	var ce struct{ Code, Message string }
	if json.Unmarshal(b, &ce) != nil || ce.Code != "unimplemented" || !strings.Contains(ce.Message, "not declared safe") {
		t.Fatalf("GET of an unsafe endpoint: %d %s", resp.StatusCode, b)
	}
	if n := e.probes.tally.Load(); n != 0 {
		t.Fatalf("Tally ran %d times", n)
	}
	// REST at the same path is REST still: a GET without connect=v1, a
	// POST of JSON without Connect-Protocol-Version.
	if resp, b := do(t, http.MethodGet, e.http.URL+"/native.Values/Double?value=5", nil); resp.StatusCode != 200 || string(b) != "10" {
		t.Fatalf("REST GET: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Double", strings.NewReader("6")); resp.StatusCode != 200 || string(b) != "12" {
		t.Fatalf("REST POST: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, http.MethodPost, e.http.URL+"/native.Values/Double", strings.NewReader(`{"value":"7"}`), "Connect-Protocol-Version", "1")
	if resp.StatusCode != 200 || string(b) != `{"value":"14"}` {
		t.Fatalf("Connect POST: %d %s", resp.StatusCode, b)
	}
}

// download collects a server stream of HttpBody messages.
func download(t testing.TB, c *connect.Client[dynamicpb.Message, dynamicpb.Message], req *dynamicpb.Message) ([]byte, *connect.ServerStreamForClient[dynamicpb.Message], error) {
	t.Helper()
	s, err := c.CallServerStream(context.Background(), connect.NewRequest(req))
	if err != nil {
		return nil, nil, err
	}
	var got []byte
	for s.Receive() {
		hb := &httpbody.HttpBody{}
		b, _ := proto.Marshal(s.Msg())
		if err := proto.Unmarshal(b, hb); err != nil {
			t.Fatal(err)
		}
		got = append(got, hb.GetData()...)
	}
	return got, s, s.Err()
}

func TestWebRPCDownload(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		const size = 3<<20 + 17
		in := webMethod(t, e, "/native.Blob/Download").Input()
		for _, p := range webProtocols {
			c := webClient(t, e, "/native.Blob/Download", p.opts...)
			got, s, err := download(t, c, dynMsg(t, in, fmt.Sprintf(`{"size":"%d","seed":"11"}`, size)))
			if err != nil || !bytes.Equal(got, fxData(11, size)) {
				t.Fatalf("%s: %d bytes, %v", p.name, len(got), err)
			}
			if s.ResponseHeader().Get("X-Blob-Seed") != "11" || s.ResponseTrailer().Get("X-Blob-Size") != fmt.Sprint(size) {
				t.Errorf("%s: header %v trailer %v", p.name, s.ResponseHeader(), s.ResponseTrailer())
			}
			// An error after the first bytes reaches the client as that
			// error, after the bytes.
			got, _, err = download(t, c, dynMsg(t, in, `{"size":"4000000","seed":"2","failAt":"1000003","failCode":15}`))
			if connect.CodeOf(err) != connect.CodeDataLoss || len(got) == 0 || !bytes.Equal(got, fxData(2, int64(len(got)))) {
				t.Fatalf("%s: broken stream: %d bytes, %v", p.name, len(got), err)
			}
		}
		if !hasEvent(e, "Blob.Download", func(ev CallEvent) bool { return ev.Protocol == "grpc-web" && ev.BytesOut == size }) {
			t.Errorf("events %+v", e.callEvents())
		}
	})
}

func TestWebRPCUpload(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		payload := fxData(6, 1<<20+9)
		for _, p := range webProtocols {
			c := webClient(t, e, "/native.Blob/Upload", p.opts...)
			s := c.CallClientStream(context.Background())
			for b := payload; len(b) > 0; {
				n := min(len(b), 100<<10)
				hb, _ := proto.Marshal(&httpbody.HttpBody{Data: b[:n]})
				m := dynamicpb.NewMessage(webMethod(t, e, "/native.Blob/Upload").Input())
				if err := proto.Unmarshal(hb, m); err != nil {
					t.Fatal(err)
				}
				if err := s.Send(m); err != nil {
					t.Fatalf("%s: send: %v", p.name, err)
				}
				b = b[n:]
			}
			res, err := s.CloseAndReceive()
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if got := protojson.Format(res.Msg); !strings.Contains(got, sha(payload)) {
				t.Fatalf("%s: %s", p.name, got)
			}
		}
		if !hasEvent(e, "Blob.Upload", func(ev CallEvent) bool { return ev.Protocol == "connect" && ev.BytesIn == int64(len(payload)) }) {
			t.Errorf("events %+v", e.callEvents())
		}
	})
}

// grpcWebFrames splits a gRPC-Web body into its messages and its trailer.
func grpcWebFrames(t testing.TB, b []byte) (msgs [][]byte, trailer string) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("a frame cut short: %x", b)
		}
		n := binary.BigEndian.Uint32(b[1:5])
		if int(n) > len(b)-5 {
			t.Fatalf("a frame of %d bytes in %d", n, len(b)-5)
		}
		if b[0]&0x80 != 0 {
			trailer = string(b[5 : 5+n])
		} else {
			msgs = append(msgs, b[5:5+n])
		}
		b = b[5+n:]
	}
	return msgs, trailer
}

// decodeRuns decodes base64 runs, each padded.
func decodeRuns(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for s != "" {
		i := strings.Index(s, "=")
		end := len(s)
		if i >= 0 {
			end = (i/4 + 1) * 4
		}
		b, err := base64.StdEncoding.DecodeString(s[:end])
		if err != nil {
			t.Fatalf("base64 %q: %v", s[:end], err)
		}
		out = append(out, b...)
		s = s[end:]
	}
	return out
}

func TestWebRPCGRPCWebText(t *testing.T) {
	e := newEnv(t, "local")
	frame := func(m proto.Message) []byte {
		b, _ := proto.Marshal(m)
		return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(b))), b...)
	}
	post := func(path string, body string) (*http.Response, []byte) {
		return do(t, http.MethodPost, e.http.URL+path, strings.NewReader(body), "Content-Type", "application/grpc-web-text", "X-Grpc-Web", "1")
	}
	in := webMethod(t, e, "/native.Values/Double").Input()
	// The request in two padded runs, as the spec allows.
	req := frame(dynMsg(t, in, `{"value":"21"}`))
	body := base64.StdEncoding.EncodeToString(req[:3]) + base64.StdEncoding.EncodeToString(req[3:])
	resp, b := post("/native.Values/Double", body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/grpc-web-text" {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	msgs, trailer := grpcWebFrames(t, decodeRuns(t, string(b)))
	out := dynamicpb.NewMessage(webMethod(t, e, "/native.Values/Double").Output())
	if len(msgs) != 1 || proto.Unmarshal(msgs[0], out) != nil || !strings.Contains(protojson.Format(out), `"42"`) || !strings.Contains(trailer, "grpc-status: 0") {
		t.Fatalf("messages %x, trailer %q", msgs, trailer)
	}
	// A stream: every message arrives, in runs the client decodes one
	// after the other.
	const size = 1<<20 + 5
	resp, b = post("/native.Blob/Download", base64.StdEncoding.EncodeToString(frame(dynMsg(t, webMethod(t, e, "/native.Blob/Download").Input(), fmt.Sprintf(`{"size":"%d","seed":"3"}`, size)))))
	msgs, trailer = grpcWebFrames(t, decodeRuns(t, string(b)))
	var got []byte
	for _, m := range msgs {
		hb := &httpbody.HttpBody{}
		if err := proto.Unmarshal(m, hb); err != nil {
			t.Fatal(err)
		}
		got = append(got, hb.Data...)
	}
	if resp.StatusCode != 200 || !bytes.Equal(got, fxData(3, size)) || !strings.Contains(trailer, "grpc-status: 0") {
		t.Fatalf("download: %d, %d bytes, trailer %q", resp.StatusCode, len(got), trailer)
	}
	// An error: trailers only, in the headers, under the text type.
	resp, b = post("/native.Errors/Fail", base64.StdEncoding.EncodeToString(frame(dynMsg(t, webMethod(t, e, "/native.Errors/Fail").Input(), `{"code":7,"message":"go away"}`))))
	if resp.Header.Get("Grpc-Status") != "7" || resp.Header.Get("Grpc-Message") != "go away" || resp.Header.Get("Content-Type") != "application/grpc-web-text" || len(b) != 0 {
		t.Fatalf("error: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	// A body that is not base64.
	resp, b = post("/native.Values/Double", "!!!!")
	if resp.Header.Get("Grpc-Status") == "0" || resp.Header.Get("Grpc-Status") == "" && !strings.Contains(string(decodeRuns(t, string(b))), "grpc-status") {
		t.Fatalf("not base64: %d %v %q", resp.StatusCode, resp.Header, b)
	}
}

func TestWebRPCErrors(t *testing.T) {
	e := newEnv(t, "local", WithMaxJSONBody(1<<10))
	// An unknown method, in each protocol's format.
	for _, p := range webProtocols {
		c := connect.NewClient[dynamicpb.Message, dynamicpb.Message](http.DefaultClient, e.http.URL+"/native.Nope/Nope", p.opts...)
		_, err := c.CallUnary(context.Background(), connect.NewRequest(dynamicpb.NewMessage(webMethod(t, e, "/native.Values/Double").Input())))
		wantConnectErr(t, err, connect.CodeUnimplemented, `gateway: unknown method "/native.Nope/Nope"`)
	}
	// A message past the body limit.
	c := webClient(t, e, "/native.Values/Echo")
	_, err := c.CallUnary(context.Background(), connect.NewRequest(dynMsg(t, webMethod(t, e, "/native.Values/Echo").Input(), `{"name":"`+strings.Repeat("x", 2<<10)+`"}`)))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("past the limit: %v", err)
	}
}

// A schema the gateway mounts again is what the next call sees.
func TestWebRPCRefresh(t *testing.T) {
	e := newEnv(t, "local")
	resp, b := do(t, http.MethodPost, e.http.URL+"/native.Later/Hello", strings.NewReader("{}"), "Connect-Protocol-Version", "1")
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(b), "unknown method") {
		t.Fatalf("before: %d %s", resp.StatusCode, b)
	}
	if err := e.srv.Register("Later.Hello", func(resp *string) error { *resp = "hi"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, b = do(t, http.MethodPost, e.http.URL+"/native.Later/Hello", strings.NewReader("{}"), "Connect-Protocol-Version", "1")
	if resp.StatusCode != 200 || string(b) != `{"value":"hi"}` {
		t.Fatalf("after: %d %s", resp.StatusCode, b)
	}
}

// Another site's page cannot call; an allowed origin's can, and reads the
// protocol's headers.
func TestWebRPCCrossSite(t *testing.T) {
	e := newEnv(t, "local", WithCORSOrigins("https://app.example"))
	hdr := []string{"Content-Type", "application/grpc-web+proto", "Sec-Fetch-Site", "cross-site"}
	frame := binary.BigEndian.AppendUint32([]byte{0}, 0)
	resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Tally", bytes.NewReader(frame), append(hdr, "Origin", "https://evil.example")...)
	if resp.Header.Get("Grpc-Status") != "7" || !strings.Contains(resp.Header.Get("Grpc-Message"), "may change state") {
		t.Fatalf("evil origin: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	resp, b = do(t, http.MethodPost, e.http.URL+"/native.Values/Tally", strings.NewReader("{}"), "Connect-Protocol-Version", "1", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	var ce struct{ Code string }
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal(b, &ce) != nil || ce.Code != "permission_denied" {
		t.Fatalf("evil origin, Connect: %d %s", resp.StatusCode, b)
	}
	if n := e.probes.tally.Load(); n != 0 {
		t.Fatalf("Tally ran %d times", n)
	}
	resp, _ = do(t, http.MethodPost, e.http.URL+"/native.Values/Tally", bytes.NewReader(frame), append(hdr, "Origin", "https://app.example")...)
	exposed := resp.Header.Get("Access-Control-Expose-Headers")
	if resp.Header.Get("Grpc-Status") != "" || !strings.Contains(exposed, "Grpc-Status") || e.probes.tally.Load() != 1 {
		t.Fatalf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	// The preflight lets the protocols' headers through.
	resp, _ = do(t, http.MethodOptions, e.http.URL+"/native.Values/Tally", nil, "Origin", "https://app.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,connect-protocol-version,connect-timeout-ms,x-grpc-web,x-user-agent")
	if got := resp.Header.Get("Access-Control-Allow-Headers"); got != "content-type, connect-protocol-version, connect-timeout-ms, x-grpc-web, x-user-agent" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
