package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// notes returns a native server of Notes.Get that answers as who.
func notes(who string) *native.Server {
	srv := native.NewServer()
	srv.Register("Notes.Get", func(req *Note, resp *Note) error {
		*resp = Note{Name: req.Name, Text: who}
		return nil
	}, native.Safe())
	return srv
}

// A Router serves several backends behind one gateway, each call going to
// the backend that serves its service; Update replaces them while the
// gateway serves (a configuration reload), without dropping a call.
func ExampleNewRouter() {
	files := native.NewServer()
	files.Register("Files.Stat", func(req *Note, resp *Note) error {
		*resp = Note{Name: req.Name, Text: "a file"}
		return nil
	}, native.Safe())
	filesB := gateway.Local(files)
	r, err := gateway.NewRouter([]gateway.NamedBackend{{Name: "notes", Backend: gateway.Local(notes("v1"))}, {Name: "files", Backend: filesB}}, gateway.RouterOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	g, err := gateway.New(context.Background(), r)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	get := func(path string) string {
		w := httptest.NewRecorder()
		g.HTTPHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return strings.TrimSpace(w.Body.String())
	}
	fmt.Println(r.BackendOf("Files.Stat"), get("/native.Files/Stat?name=a"))
	fmt.Println(r.BackendOf("Notes.Get"), get("/native.Notes/Get?name=a"))

	// A new notes backend; files, the same Backend value, is kept running.
	err = r.Update(context.Background(), []gateway.NamedBackend{{Name: "notes-v2", Backend: gateway.Local(notes("v2"))}, {Name: "files", Backend: filesB}}, gateway.RouterOptions{})
	fmt.Println(err, r.BackendOf("Notes.Get"), get("/native.Notes/Get?name=a"))
	// Output:
	// files {"name":"a","text":"a file"}
	// notes {"name":"a","text":"v1"}
	// <nil> notes-v2 {"name":"a","text":"v2"}
}

// OnePort serves gRPC and REST on one http.Server: each request goes by
// its Content-Type, so one HTTP/2 connection may carry both.
func ExampleOnePort() {
	g, err := gateway.New(context.Background(), gateway.Local(notes("one port")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	gs := g.NewGRPCServer()
	defer gs.Stop() // after the http.Server's Close (see OnePort)
	ts := httptest.NewUnstartedServer(gateway.OnePort(gs, g.HTTPHandler()))
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true) // h2c, as gRPC without TLS speaks
	ts.Start()
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/native.Notes/Get?name=a")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("REST:", resp.StatusCode, strings.TrimSpace(string(body)))

	cc, err := grpc.NewClient(strings.TrimPrefix(ts.URL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()
	h, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("gRPC:", h.Status)
	// Output:
	// REST: 200 {"name":"a","text":"one port"}
	// gRPC: SERVING
}
