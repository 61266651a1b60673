package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

type Note struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// A gateway serves a native server's endpoints over REST (and gRPC, with
// NewGRPCServer), from the schema the server describes: no .proto file.
func ExampleNew() {
	srv := native.NewServer()
	srv.Register("Notes.Get", func(req *Note, resp *Note) error {
		*resp = Note{Name: req.Name, Text: "a note called " + req.Name}
		return nil
	}, native.Safe())
	g, err := gateway.New(context.Background(), gateway.Local(srv))
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := httptest.NewServer(g.HTTPHandler())
	defer ts.Close()

	for _, r := range []struct{ method, query, body string }{
		{http.MethodGet, "?name=a", ""},
		{http.MethodPost, "", `{"name":"b"}`},
		{http.MethodPost, "", `{"Name":"c"}`}, // requests are read strictly
	} {
		req, _ := http.NewRequest(r.method, ts.URL+"/native.Notes/Get"+r.query, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		var out struct {
			Text    string `json:"text"`
			Message string `json:"message"` // of an error status
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, out.Text+out.Message)
	}
	// Output:
	// 200 a note called a
	// 200 a note called b
	// 400 gateway: endpoint "Notes.Get" request: unknown field "Name" (fields: name, text)
}

// HostCheck keeps pages whose name an attacker points at the server's
// address (DNS rebinding) away from a handler that has no other guard.
func ExampleHostCheck() {
	h := gateway.HostCheck(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), "files.example")
	for _, host := range []string{"localhost:8080", "10.0.0.7:8080", "files.example", "evil.example"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(host, w.Code)
	}
	// Output:
	// localhost:8080 200
	// 10.0.0.7:8080 200
	// files.example 200
	// evil.example 403
}

// A gateway in front of a native server in another process: it owns the
// RemoteBackend, supervises it (reconnecting, following its endpoints) and
// reports its state as gRPC health. Drain turns health to NOT_SERVING for
// good before a shutdown; Close closes the backend's connections.
func ExampleNewRemoteBackend() {
	srv := native.NewServer()
	srv.Register("Notes.Get", func(req *Note, resp *Note) error {
		*resp = Note{Name: req.Name, Text: "a remote note called " + req.Name}
		return nil
	}, native.Safe())
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", l.Addr().String())
	}
	rb := gateway.NewRemoteBackend(dial, gateway.RemoteOptions{Name: l.Addr().String()})
	g, err := gateway.New(context.Background(), rb)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	ts := httptest.NewServer(g.HTTPHandler())
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/native.Notes/Get?name=a")
	if err != nil {
		fmt.Println(err)
		return
	}
	var out Note
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, out.Text)

	health := func() string {
		r, err := g.Health().Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			return err.Error()
		}
		return r.Status.String()
	}
	fmt.Println(health())
	g.Drain()
	fmt.Println(health())
	// Output:
	// 200 a remote note called a
	// SERVING
	// NOT_SERVING
}
