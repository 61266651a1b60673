package gateway

// Issue 4: deadlines, cancellation and metadata through the gRPC front door.

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// timeOf reads a google.protobuf.Timestamp field.
func timeOf(m protoreflect.Message, jsonName string) time.Time {
	ts := field(m, jsonName).Message()
	f := ts.Descriptor().Fields()
	return time.Unix(ts.Get(f.ByName("seconds")).Int(), ts.Get(f.ByName("nanos")).Int())
}

// near reports whether a and b are within d of each other.
func near(a, b time.Time, d time.Duration) bool { return a.Sub(b).Abs() <= d }

func TestGRPCDeadline(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dl, _ := ctx.Deadline()
		out, err := d.call(ctx, "native.Meta/Echo", d.in("native.Meta/Echo", `{}`))
		if err != nil {
			t.Fatal(err)
		}
		if !field(out, "hasDeadline").Bool() || !near(timeOf(out, "deadline"), dl, 2*time.Second) {
			t.Fatalf("handler deadline %v (set %v), client deadline %v", timeOf(out, "deadline"), field(out, "hasDeadline"), dl)
		}
		// No deadline, none in the handler.
		out, err = d.call(context.Background(), "native.Meta/Peek", d.in("native.Meta/Peek", ""))
		if err != nil || field(out, "hasDeadline").Bool() {
			t.Fatalf("no deadline: %v %v", out, err)
		}
		// A deadline that passes ends the handler's context.
		id, p := e.probes.add()
		// (Long enough for the call to reach the handler on a loaded machine.)
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		dl2, _ := ctx2.Deadline()
		_, err = d.call(ctx2, "native.Slow/Wait", d.in("native.Slow/Wait", `{"id":"`+id+`"}`))
		wantCode(t, err, codes.DeadlineExceeded, "")
		wait(t, p.done, "the handler to see its deadline")
		if !p.hasDL || !near(p.deadline, dl2, 2*time.Second) || p.err == nil {
			t.Fatalf("handler saw deadline %v (%v) and %v; client deadline %v", p.deadline, p.hasDL, p.err, dl2)
		}
	})
}

func TestGRPCCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		// A unary call cancelled while its handler runs.
		id, p := e.probes.add()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := d.call(ctx, "native.Slow/Wait", d.in("native.Slow/Wait", `{"id":"`+id+`"}`))
			errc <- err
		}()
		wait(t, p.started, "the handler to start")
		cancel()
		wantCode(t, <-errc, codes.Canceled, "")
		wait(t, p.done, "the handler to see the cancellation")
		if !errors.Is(p.err, context.Canceled) {
			t.Errorf("handler context: %v", p.err)
		}

		// A server stream cancelled after its first chunk.
		id, p = e.probes.add()
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		st := d.stream(ctx, "native.Slow/Stream")
		if err := st.SendMsg(d.in("native.Slow/Stream", `{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		hb := &httpbody.HttpBody{}
		if err := st.RecvMsg(hb); err != nil || !bytes.Equal(hb.Data, stallChunk) {
			t.Fatalf("first chunk %q, %v", hb.Data, err)
		}
		wait(t, p.started, "the stream to stall")
		cancel()
		wantCode(t, st.RecvMsg(hb), codes.Canceled, "")
		wait(t, p.done, "the stream's handler to see the cancellation")
		if !errors.Is(p.err, context.Canceled) {
			t.Errorf("stream handler context: %v", p.err)
		}
	})
}

func TestGRPCMetadata(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		d := newDyn(t, e.conn)
		ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs(
			"x-request-id", "r-1", "x-app-user", "bob", "X-App-Role", "admin", "x-app-user", "alice",
			"x-secret", "s3cret", "authorization", "Bearer t", "traceparent", "00-1-2-01"))
		var hdr, trl metadata.MD
		out, err := d.call(ctx, "native.Meta/Echo",
			d.in("native.Meta/Echo", `{"header":{"x-hdr":"h1","grpc-status":"5","X-Upper":"u","x-accent":"é","x-bad key":"v"},
				"trailer":{"x-trl":"t1","x-nl":"a\nb","x-trl-bin":"\u0000é"}}`),
			grpc.Header(&hdr), grpc.Trailer(&trl))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		field(out, "incoming").Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			l := v.Message().Get(v.Message().Descriptor().Fields().ByName("values")).List()
			for i := range l.Len() {
				got[k.String()] = append(got[k.String()], l.Get(i).String())
			}
			return true
		})
		want := map[string][]string{"x-request-id": {"r-1"}, "x-app-user": {"bob", "alice"}, "x-app-role": {"admin"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("incoming metadata %v, want %v", got, want)
		}
		if v := hdr.Get("x-hdr"); len(v) != 1 || v[0] != "h1" {
			t.Errorf("header %v", hdr)
		}
		if v := hdr.Get("x-upper"); len(v) != 1 || v[0] != "u" {
			t.Errorf("header %v", hdr)
		}
		// Values gRPC cannot carry are dropped, not the whole header.
		if v := trl.Get("x-trl"); len(v) != 1 || v[0] != "t1" || len(trl.Get("x-nl")) != 0 {
			t.Errorf("trailer %v", trl)
		}
		if v := trl.Get("x-trl-bin"); len(v) != 1 || v[0] != "\x00é" {
			t.Errorf("binary trailer %q", trl)
		}
		if len(hdr.Get("x-accent")) != 0 || len(hdr.Get("x-bad key")) != 0 {
			t.Errorf("header %v", hdr)
		}
		if v := hdr.Get("grpc-status"); len(v) != 0 {
			t.Errorf("a handler set the reserved header grpc-status: %v", hdr)
		}
	}, WithMetadataAllowlist("X-Request-Id", "x-app-*"))
}

// The default allowlist passes request ids and trace context only.
func TestGRPCMetadataDefault(t *testing.T) {
	e := newEnv(t, "remote")
	d := newDyn(t, e.conn)
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs(
		"x-request-id", "r-1", "traceparent", "00-1-2-01", "tracestate", "a=b", "x-app-user", "bob", "cookie", "c"))
	out, err := d.call(ctx, "native.Meta/Peek", d.in("native.Meta/Peek", ""))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	field(out, "incoming").Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k.String())
		return true
	})
	if len(keys) != 3 {
		t.Errorf("incoming keys %v, want x-request-id, traceparent, tracestate", keys)
	}
	for _, k := range []string{"x-request-id", "traceparent", "tracestate"} {
		if !field(out, "incoming").Map().Has(protoreflect.ValueOfString(k).MapKey()) {
			t.Errorf("%s missing from %v", k, keys)
		}
	}
}
