package native_test

import (
	"context"
	"testing"

	"github.com/framegate/framegate/native"
)

// What Register's options declare travels in the Schema, over the wire and
// in process alike; Safe implies Idempotent.
func TestEndpointDeclarations(t *testing.T) {
	srv := native.NewServer()
	noop := func(req *echoReq, resp *echoResp) error { return nil }
	for name, opts := range map[string][]native.EndpointOption{
		"D.Read":   {native.Safe()},
		"D.Put":    {native.Idempotent()},
		"D.Append": nil,
	} {
		if err := srv.Register(name, noop, opts...); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][2]bool{"D.Read": {true, true}, "D.Put": {false, true}, "D.Append": {false, false}}
	for name, cl := range localAndPipe(t, srv) {
		var s native.Schema
		if err := cl.Call(context.Background(), native.DescribeEndpoint, nil, &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Endpoints) != len(want) {
			t.Fatalf("%s: %d endpoints", name, len(s.Endpoints))
		}
		for _, ep := range s.Endpoints {
			if got := [2]bool{ep.Safe, ep.Idempotent}; got != want[ep.Name] {
				t.Errorf("%s: %s: safe, idempotent = %v, want %v", name, ep.Name, got, want[ep.Name])
			}
		}
	}
}
