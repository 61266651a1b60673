package main

import (
	"log/slog"
	"net/http"
	"testing"
)

func TestOTLPTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4318":          "http://collector:4318/v1/traces",
		"http://collector:4318/":         "http://collector:4318/v1/traces",
		"https://otel.example.com/in/tr": "https://otel.example.com/in/tr",
		"collector:4318":                 "",
		"grpc://collector:4317":          "",
		"http://":                        "",
		"http://[::1":                    "",
	} {
		got, err := otlpTracesURL(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("otlpTracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Tracing off installs nothing.
func TestTracingOff(t *testing.T) {
	tr, err := startTracing(&traceFlags{sampleRatio: 1}, "x", true, slog.New(slog.DiscardHandler))
	if tr != nil || err != nil {
		t.Fatalf("startTracing without an endpoint = %v, %v; want nil, nil", tr, err)
	}
	var h http.Handler = new(http.ServeMux)
	if tr.grpcOptions() != nil || tr.nativeOptions() != nil || tr.restHandler(h, nil) != h {
		t.Fatal("tracing off added options")
	}
	for _, bad := range []traceFlags{{otlpEndpoint: "http://c:4318", sampleRatio: 1.5}, {otlpEndpoint: "http://c:4318", sampleRatio: -1}, {otlpEndpoint: "c:4318", sampleRatio: 1}} {
		if _, err := startTracing(&bad, "x", true, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("startTracing(%+v) accepted", bad)
		}
	}
}
