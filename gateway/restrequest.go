package gateway

// The REST front door's requests: the native request built from a JSON
// body or the query string, checked against the endpoint's schema, and the
// request body handed over as the stream.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// request builds the native request: JSON from the body or the query,
// and the request body as the stream (also returned, to end it with the
// call).
func (s *restServer) request(r *http.Request, m *method) (any, *callBody, error) {
	if err := checkJSONBody(r, m); err != nil {
		return nil, nil, err
	}
	var value any
	if m.req != nil {
		fromBody := !m.clientStreaming && r.Method != http.MethodGet && r.ContentLength != 0
		var b []byte
		var err error
		if fromBody {
			b, err = s.jsonBody(r, m)
		} else {
			b, err = s.queryJSON(r.URL.Query(), m)
		}
		if err != nil {
			return nil, nil, err
		}
		value = json.RawMessage(b)
	} else if !m.clientStreaming && len(r.URL.RawQuery) > 0 {
		return nil, nil, status.Errorf(codes.InvalidArgument, "gateway: endpoint %q takes no request fields, the query has %s", m.endpoint.Name, clip.Quote(r.URL.RawQuery))
	}
	if !m.clientStreaming {
		return value, nil, nil
	}
	body := io.Reader(http.NoBody)
	if r.Method != http.MethodGet {
		body = &countingReader{r: r.Body}
	}
	cb := &callBody{r: body}
	return native.StreamRequest{JSON: value, Body: cb}, cb, nil
}

// checkJSONBody refuses a request body that is not JSON, or says it is not,
// to an endpoint that takes none but JSON: a web page on any site can make
// a browser send a form or text/plain body without asking first (no CORS
// preflight), and a JSON content type is what it cannot send. Uploads take
// any bytes; their cross-site requests are refused by origin (crosssite.go).
func checkJSONBody(r *http.Request, m *method) error {
	if m.clientStreaming || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 || ct != "" && jsonContentType(ct) {
		return nil
	}
	what := "a body without a Content-Type"
	if ct != "" {
		what = "Content-Type " + clip.Quote(ct)
	}
	return &runtime.HTTPStatusError{HTTPStatus: http.StatusUnsupportedMediaType,
		Err: status.Errorf(codes.InvalidArgument, "gateway: endpoint %q takes a JSON body, not %s: send Content-Type: application/json (curl --json)", m.endpoint.Name, what)}
}

// jsonBody reads a JSON request body, checks it against the endpoint's
// schema and returns it as the backend expects it.
func (s *restServer) jsonBody(r *http.Request, m *method) ([]byte, error) {
	limit := s.g.cfg.maxJSON
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "gateway: reading the request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
			Err: status.Errorf(codes.ResourceExhausted, "gateway: request body over %d bytes", limit)}
	}
	return checkRequestJSON(b, m)
}

// checkRequestJSON checks b, a request's JSON, against endpoint m's schema
// and returns it as the backend expects it.
func checkRequestJSON(b []byte, m *method) ([]byte, error) {
	if out, ok := m.requestJSONDirect(b); ok {
		return out, nil
	}
	msg, err := m.requestMessage(b)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out, err := m.requestJSON(msg)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return out, nil
}

// queryJSON builds the request from query parameters named by the
// request's JSON field names (dotted paths for nested messages).
func (s *restServer) queryJSON(q url.Values, m *method) ([]byte, error) {
	msg := m.newRequest()
	target, prefix := m.in, ""
	if m.clientStreaming && m.req.field != nil && m.req.field.fd.Message() != nil {
		// An Upload message: the fields are those of its request field.
		target, prefix = m.req.field.fd.Message(), string(m.req.field.fd.Name())+"."
	}
	pq := make(url.Values, len(q))
	for k, vs := range q {
		path, err := queryField(target, k)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "gateway: endpoint %q: query parameter %s: %v", m.endpoint.Name, clip.Quote(k), err)
		}
		pq[prefix+path] = vs
	}
	if err := runtime.PopulateQueryParameters(msg, pq, utilities.NewDoubleArray(nil)); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "gateway: endpoint %q: query: %s", m.endpoint.Name, clip.Text(err.Error(), 256))
	}
	out, err := m.requestJSON(msg)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return out, nil
}

// queryField resolves a query key ("a.b", "m[k]") against md, by JSON name
// or proto name, and returns it as the proto-name path grpc-gateway
// populates; an unknown field is an error listing the known ones.
func queryField(md protoreflect.MessageDescriptor, key string) (string, error) {
	name, mapKey, hasKey := strings.Cut(key, "[")
	parts := strings.Split(name, ".")
	out := make([]string, len(parts))
	for i, p := range parts {
		if md == nil {
			return "", fmt.Errorf("%s is not a message field", clip.Quote(strings.Join(parts[:i], ".")))
		}
		fd := md.Fields().ByJSONName(p)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(p))
		}
		if fd == nil {
			return "", fmt.Errorf("no field %s (fields: %s)", clip.Quote(p), fieldList(md))
		}
		out[i] = string(fd.Name())
		md = nil
		if fd.Message() != nil && !fd.IsMap() && !fd.IsList() {
			md = fd.Message()
		}
	}
	path := strings.Join(out, ".")
	if hasKey {
		path += "[" + mapKey
	}
	return path, nil
}

func fieldList(md protoreflect.MessageDescriptor) string {
	var names []string
	fs := md.Fields()
	for i := range fs.Len() {
		names = append(names, fs.Get(i).JSONName())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// countingReader gives the errors of a request body their codes.
type countingReader struct {
	r io.Reader
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return n, native.Errorf(native.CodeResourceExhausted, "gateway: request body over %d bytes", mbe.Limit)
		}
		return n, native.Errorf(native.CodeCanceled, "gateway: reading the request body: %v", err)
	}
	return n, err
}
