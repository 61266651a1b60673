package gateway

// Issue 7, hardening, through the gateway: bad input on both front doors of
// a live gateway (bytes that are not protobuf, messages over gRPC's size
// limit, JSON that is not the endpoint's, bodies over the JSON limit, query
// parameters no field has, methods the path does not take), each answered
// with the right gRPC code or HTTP status and a message naming the problem,
// after which the gateway still serves a normal call; and a client that
// vanishes in the middle of a response stream whose source is a file: the
// backend handler's ctx is cancelled and the file is closed, the bytes the
// client got are the file's, and its stream ends in an error.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/native"
)

// rawCodec sends and receives message bytes as they are, so a test can put
// anything on the wire. It is named "proto" so the server decodes the bytes
// with its own codec.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// rawUnary makes a unary call with in as the request's bytes.
func rawUnary(ctx context.Context, conn *grpc.ClientConn, method string, in []byte) error {
	var out []byte
	return conn.Invoke(ctx, method, &in, &out, grpc.ForceCodec(rawCodec{}))
}

// rawUpload sends msgs as the messages of a client stream and returns the
// call's status.
func rawUpload(ctx context.Context, conn *grpc.ClientConn, method string, msgs ...[]byte) error {
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := st.SendMsg(&m); err != nil {
			break // the status comes with RecvMsg
		}
	}
	st.CloseSend()
	var out []byte
	err = st.RecvMsg(&out)
	if err == nil {
		err = errors.New("the upload succeeded")
	}
	return err
}

// stillServes checks that the gateway answers a normal call on both front
// doors.
func stillServes(t *testing.T, e *env, d *dyn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := d.call(ctx, "native.Values/Echo", d.in("native.Values/Echo", `{"name":"still here"}`))
	if err != nil || field(out, "name").String() != "still here" {
		t.Fatalf("gRPC after the bad input: %v, %v", out, err)
	}
	resp, b := do(t, http.MethodPost, e.http.URL+"/native.Values/Echo", strings.NewReader(`{"name":"still here"}`))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"name":"still here"`)) {
		t.Fatalf("REST after the bad input: %d %s", resp.StatusCode, b)
	}
}

func TestHardeningGRPCBadInput(t *testing.T) {
	// Protobuf bytes for the tests: field 1 of Values.Echo's request is
	// name (a string), field 2 of google.api.HttpBody is data.
	validChunk := []byte{0x12, 0x03, 'a', 'b', 'c'}
	tooBig := make([]byte, 4<<20+1) // over grpc-go's default receive limit of 4 MiB
	cases := []struct {
		name string
		call func(ctx context.Context, conn *grpc.ClientConn) error
		code codes.Code
		want []string
	}{
		{"truncated length-delimited field", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUnary(ctx, conn, "/native.Values/Echo", []byte{0x0a, 0x05, 'a'})
		}, codes.InvalidArgument, []string{"not valid protobuf wire format"}},
		{"varint tag that never ends", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUnary(ctx, conn, "/native.Values/Echo", bytes.Repeat([]byte{0xff}, 11))
		}, codes.InvalidArgument, []string{"not valid protobuf wire format"}},
		{"invalid UTF-8 in a string field", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUnary(ctx, conn, "/native.Values/Echo", []byte{0x0a, 0x02, 0xff, 0xfe})
		}, codes.InvalidArgument, []string{"UTF-8 in field native.fxValues.name"}},
		{"group end without a start", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUnary(ctx, conn, "/native.Values/Double", []byte{0x0c})
		}, codes.InvalidArgument, []string{"not valid protobuf wire format"}},
		{"invalid message in a client stream", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUpload(ctx, conn, "/native.Blob/Upload", validChunk, []byte{0x12, 0x09, 'x'})
		}, codes.InvalidArgument, []string{"not valid protobuf wire format"}},
		{"invalid first message of an upload", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUpload(ctx, conn, "/native.Blob/Put", []byte{0x0a, 0x7f})
		}, codes.InvalidArgument, []string{"not valid protobuf wire format"}},
		{"unary message over the size limit", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUnary(ctx, conn, "/native.Values/Echo", tooBig)
		}, codes.ResourceExhausted, []string{"larger than max (4194305 vs. 4194304)"}},
		{"stream message over the size limit", func(ctx context.Context, conn *grpc.ClientConn) error {
			return rawUpload(ctx, conn, "/native.Blob/Upload", validChunk, tooBig)
		}, codes.ResourceExhausted, []string{"larger than max (4194305 vs. 4194304)"}},
	}
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err := c.call(ctx, e.conn)
				st, _ := status.FromError(err)
				t.Logf("%v: %s", st.Code(), st.Message())
				if st.Code() != c.code {
					t.Errorf("got %v, want code %v", err, c.code)
				}
				for _, w := range c.want {
					if !strings.Contains(st.Message(), w) {
						t.Errorf("message %q does not say %q", st.Message(), w)
					}
				}
				stillServes(t, e, d)
			})
		}
	})
}

func TestHardeningRESTBadInput(t *testing.T) {
	// Over the JSON body limit, and valid JSON of the endpoint otherwise.
	pad := DefaultMaxJSONBody - len(`{"name":""}`) + 1
	tooBig := `{"name":"` + strings.Repeat("x", pad) + `"}`
	cases := []struct {
		name         string
		method, path string
		body         string
		code         codes.Code
		want         []string
	}{
		{"JSON cut short", http.MethodPost, "/native.Values/Echo", `{"name":`, codes.InvalidArgument, []string{"invalid JSON"}},
		{"not JSON", http.MethodPost, "/native.Values/Echo", `name=x`, codes.InvalidArgument, []string{"invalid JSON"}},
		{"JSON with trailing data", http.MethodPost, "/native.Values/Echo", `{"name":"x"} {}`, codes.InvalidArgument, []string{"invalid JSON"}},
		// A string field takes a number's text (json.Number fields), but
		// not a bool.
		{"field of the wrong type", http.MethodPost, "/native.Values/Echo", `{"name":true}`, codes.InvalidArgument, []string{"name", "want string, got"}},
		{"object for a list", http.MethodPost, "/native.Values/Echo", `{"tags":{"a":1}}`, codes.InvalidArgument, []string{"tags"}},
		{"number out of range", http.MethodPost, "/native.Values/Echo", `{"i32":2147483648}`, codes.InvalidArgument, []string{"i32"}},
		{"bare value of the wrong type", http.MethodPost, "/native.Values/Double", `"two"`, codes.InvalidArgument, []string{"Values.Double"}},
		{"JSON body over the limit", http.MethodPost, "/native.Values/Echo", tooBig, codes.ResourceExhausted, []string{fmt.Sprintf("request body over %d bytes", DefaultMaxJSONBody)}},
		{"unknown query field", http.MethodGet, "/native.Values/Echo?name=x&nope=1", "", codes.InvalidArgument, []string{`query parameter "nope"`, `no field "nope"`, "fields: "}},
		{"unknown nested query field", http.MethodGet, "/native.Values/Echo?node.nope=1", "", codes.InvalidArgument, []string{`query parameter "node.nope"`, `no field "nope"`}},
		{"query into a scalar", http.MethodGet, "/native.Values/Echo?name.x=1", "", codes.InvalidArgument, []string{`query parameter "name.x"`, `"name" is not a message field`}},
		{"query value of the wrong type", http.MethodGet, "/native.Values/Echo?i64=twelve", "", codes.InvalidArgument, []string{"twelve"}},
		{"unknown query field of an upload", http.MethodPut, "/native.Blob/Put?name=x&nope=1", "data", codes.InvalidArgument, []string{`query parameter "nope"`}},
		{"query for an endpoint without fields", http.MethodGet, "/native.Default/Ping?x=1", "", codes.InvalidArgument, []string{"takes no request fields", `"x=1"`}},
		{"DELETE", http.MethodDelete, "/native.Values/Echo", "", codes.Unimplemented, []string{"method DELETE not allowed on /native.Values/Echo; use GET, HEAD, POST"}},
		{"PATCH", http.MethodPatch, "/native.Values/Echo", `{"name":"x"}`, codes.Unimplemented, []string{"method PATCH not allowed"}},
	}
	// The HTTP status where it is not HTTPStatusFromCode(code).
	httpStatus := map[string]int{
		"JSON body over the limit": http.StatusRequestEntityTooLarge,
		"DELETE":                   http.StatusMethodNotAllowed,
		"PATCH":                    http.StatusMethodNotAllowed,
	}
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				resp, b := do(t, c.method, e.http.URL+c.path, body)
				if len(b) > 4096 {
					b = b[:4096]
				}
				if want := httpStatus[c.name]; want != 0 {
					if resp.StatusCode != want {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
					}
					if want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
						t.Errorf("405 without an Allow header")
					}
					resp.StatusCode = runtime.HTTPStatusFromCode(c.code) // for wantStatus's other checks
				}
				wantStatus(t, resp, b, c.code, "")
				var st restStatus
				if err := json.Unmarshal(b, &st); err != nil {
					t.Fatal(err)
				}
				t.Logf("%d %s", resp.StatusCode, st.Message)
				for _, w := range c.want {
					if !strings.Contains(st.Message, w) {
						t.Errorf("%d %q does not say %q", resp.StatusCode, st.Message, w)
					}
				}
				stillServes(t, e, d)
			})
		}
	})
}

// hardFileReq asks Hard.File for its file.
type hardFileReq struct {
	Name string `json:"name"`
}

// fileProbe is what Hard.File reports of one call: the file it answered
// with, and the end of its ctx.
type fileProbe struct {
	f   *os.File
	ctx <-chan struct{}
}

// mountHardFile registers Hard.File on e's backend, a response stream that
// is the file at path, and mounts it.
func mountHardFile(t *testing.T, e *env, path string) <-chan fileProbe {
	t.Helper()
	probes := make(chan fileProbe, 1)
	err := e.srv.Register("Hard.File", func(ctx context.Context, req *hardFileReq, out *io.Reader) error {
		f, err := os.Open(path)
		if err != nil {
			return native.NewError(native.CodeNotFound, err)
		}
		probes <- fileProbe{f: f, ctx: ctx.Done()}
		*out = f
		return nil
	}, native.Safe())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return probes
}

// waitFileClosed waits until the package closed f.
func waitFileClosed(t *testing.T, f *os.File) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := f.Stat(); errors.Is(err, os.ErrClosed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the handler's file was not closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHardeningClientGone has a gRPC client and an HTTP client vanish (their
// connection closed) after the first megabyte of a 64 MiB file download.
func TestHardeningClientGone(t *testing.T) {
	// Larger than what gRPC's flow control, the HTTP server and the
	// sockets in between can hold, so the download is cut mid-stream.
	const size = 64 << 20
	path := filepath.Join(t.TempDir(), "big")
	data := fxData(11, size)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	eachBackend(t, func(t *testing.T, e *env) {
		probes := mountHardFile(t, e, path)
		d := newDyn(t, e.conn)
		t.Run("grpc", func(t *testing.T) {
			conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true}, "/native.Hard/File")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SendMsg(d.in("native.Hard/File", `{"name":"big"}`)); err != nil {
				t.Fatal(err)
			}
			st.CloseSend()
			var got []byte
			for len(got) < 1<<20 {
				hb := &httpbody.HttpBody{}
				if err := st.RecvMsg(hb); err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				got = append(got, hb.Data...)
			}
			p := <-probes
			conn.Close() // the client is gone
			for {
				hb := &httpbody.HttpBody{}
				err := st.RecvMsg(hb)
				if err == io.EOF {
					t.Fatalf("a download whose client left ended cleanly after %d bytes", len(got))
				}
				if err != nil {
					break
				}
				got = append(got, hb.Data...)
			}
			if !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("the %d bytes received differ from the file's", len(got))
			}
			wait(t, p.ctx, "the handler's ctx to be cancelled")
			waitFileClosed(t, p.f)
			stillServes(t, e, d)
		})
		t.Run("rest", func(t *testing.T) {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(e.http.URL + "/native.Hard/File?name=big")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				b, _ := readAll(resp)
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			got := make([]byte, 1<<20)
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[:len(got)]) {
				t.Fatal("the bytes received differ from the file's")
			}
			p := <-probes
			resp.Body.Close() // unread: the transport closes the connection
			tr.CloseIdleConnections()
			wait(t, p.ctx, "the handler's ctx to be cancelled")
			waitFileClosed(t, p.f)
			stillServes(t, e, d)
		})
	})
}
