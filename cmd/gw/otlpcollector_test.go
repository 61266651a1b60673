package main

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpCollector is a test's OTLP/HTTP trace receiver: the processes under
// test export their spans to URL, and spans returns what arrived.
type otlpCollector struct {
	URL string

	mu  sync.Mutex
	got []span
}

// span is one received span, with the service that sent it.
type span struct {
	service, name            string
	kind                     tracepb.Span_SpanKind
	traceID, spanID, parent  string
	attrs                    map[string]string
	statusCode, statusDetail string
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *otlpCollector) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "want POST /v1/traces", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := span{service: service, name: s.Name, kind: s.Kind, traceID: hex.EncodeToString(s.TraceId),
					spanID: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId), attrs: map[string]string{},
					statusCode: s.GetStatus().GetCode().String(), statusDetail: s.GetStatus().GetMessage()}
				for _, a := range s.Attributes {
					switch v := a.Value.GetValue().(type) {
					case *commonpb.AnyValue_StringValue:
						sp.attrs[a.Key] = v.StringValue
					case *commonpb.AnyValue_IntValue:
						sp.attrs[a.Key] = strconv.FormatInt(v.IntValue, 10)
					default:
						sp.attrs[a.Key] = fmt.Sprint(v)
					}
				}
				c.got = append(c.got, sp)
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// spans returns the spans received so far.
func (c *otlpCollector) spans() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.got...)
}
