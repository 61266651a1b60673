package gateway

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Downloads are byte-exact whether the server's codec hands chunks over
// without a copy (NewGRPCServer) or is grpc-go's own (a server built
// around StreamHandler), with empty, small and multi-chunk streams.
func TestChunkHandOff(t *testing.T) {
	e := newEnv(t, "local", WithChunkSize(64<<10))
	cc := streamHandlerServer(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := newDyn(t, e.conn)
	for name, conn := range map[string]*grpc.ClientConn{"chunkCodec": e.conn, "proto codec": cc} {
		d.conn = conn
		for _, size := range []int64{0, 1, 64 << 10, 300<<10 + 7} {
			in := d.in("native.Blob/Download", `{"size":"`+strconv.FormatInt(size, 10)+`","seed":"5","contentType":"text/x-t"}`)
			data, types, err := d.download(ctx, "native.Blob/Download", in)
			if err != nil || !bytes.Equal(data, fxData(5, size)) || len(types) == 0 || types[0] != "text/x-t" {
				t.Errorf("%s: %d bytes: got %d bytes, types %v, %v", name, size, len(data), types, err)
			}
			for _, ct := range types[1:] {
				if ct != "" {
					t.Errorf("%s: a later chunk carries content type %q", name, ct)
				}
			}
		}
	}
}

// A map entry whose key comes again with the wrong wire type makes
// dynamicpb panic in proto.Unmarshal (protobuf-go v1.36.12). Sent to a
// gateway, it must be refused and leave the server serving, on a server
// from NewGRPCServer (its codec scans the wire first) and on one built
// around StreamHandler (grpc-go's codec; the receive recovers).
func TestMalformedMapEntryRefused(t *testing.T) {
	e := newEnv(t, "local")
	cc := streamHandlerServer(t, e)
	d := newDyn(t, e.conn)
	byID := d.method("native.Values/Echo").Input().Fields().ByJSONName("byId")
	entry := []byte{0x08, 0x30, 0x0a, 0x01, 0x30} // key 48, then key again as bytes
	msg := protowire.AppendBytes(protowire.AppendTag(nil, byID.Number(), protowire.BytesType), entry)
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Log("dynamicpb no longer panics on this input; the test still checks the refusal")
			}
		}()
		proto.Unmarshal(msg, dynamicpb.NewMessage(byID.ContainingMessage()))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, conn := range map[string]*grpc.ClientConn{"NewGRPCServer": e.conn, "StreamHandler": cc} {
		err := rawUnary(ctx, conn, "/native.Values/Echo", msg)
		if code := status.Code(err); code != codes.InvalidArgument {
			t.Errorf("%s: %v; want INVALID_ARGUMENT", name, err)
		}
		d.conn = conn
		if out, err := d.call(ctx, "native.Values/Echo", d.in("native.Values/Echo", `{"name":"after"}`)); err != nil || field(out, "name").String() != "after" {
			t.Errorf("%s: a call after: %v", name, err)
		}
	}
}

// streamHandlerServer serves e's gateway from a grpc.Server built around
// StreamHandler (grpc-go's own codec, not NewGRPCServer's) and returns a
// client of it.
func streamHandlerServer(t *testing.T, e *env) *grpc.ClientConn {
	own := grpc.NewServer(grpc.UnknownServiceHandler(e.gw.StreamHandler()))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go own.Serve(l)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close(); own.Stop() })
	return cc
}

// heldStream is a grpc.ServerStream that marshals each message with
// chunkCodec, as grpc-go does, and holds the result, as grpc-go does while
// a client does not read: nothing goes back to the pool until free.
type heldStream struct {
	grpc.ServerStream // nil: only the methods below are called
	ctx               context.Context
	held              chan mem.BufferSlice
}

func (s *heldStream) Context() context.Context { return s.ctx }

func (s *heldStream) SendMsg(m any) error {
	data, err := newChunkCodec().Marshal(m)
	if err == nil {
		s.held <- data
	}
	return err
}

// readCounter reads endless bytes and counts the calls.
type readCounter struct{ reads atomic.Int64 }

func (r *readCounter) Read(p []byte) (int, error) {
	r.reads.Add(1)
	return len(p), nil
}

// A download whose client reads nothing holds maxStreamChunks chunks: the
// backend is read no further until grpc-go gives one back, and the sender
// stops when the stream's context ends.
func TestDownloadHoldsAtMostTwoChunks(t *testing.T) {
	e := newEnv(t, "local", WithChunkSize(4096))
	m := e.gw.set.Load().lookup("/native.Blob/Download")
	if m == nil {
		t.Fatal("no method native.Blob/Download")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ss := &heldStream{ctx: ctx, held: make(chan mem.BufferSlice, 100)}
	src := &readCounter{}
	done := make(chan error, 1)
	go func() {
		_, err := e.gw.sendStream(ss, m, src, "", &CallEvent{})
		done <- err
	}()
	var held []mem.BufferSlice
	for range maxStreamChunks {
		held = append(held, <-ss.held)
	}
	// The sender may have read another chunk only if it went past its
	// budget: give it time to, then check it did not.
	time.Sleep(50 * time.Millisecond)
	if n := src.reads.Load(); n != maxStreamChunks || len(ss.held) != 0 {
		t.Fatalf("%d reads and %d more messages with %d chunks held; want %d reads", n, len(ss.held), maxStreamChunks, maxStreamChunks)
	}
	held[0].Free() // grpc-go wrote the first: one more may be read
	held = append(held[1:], <-ss.held)
	if n := src.reads.Load(); n != maxStreamChunks+1 {
		t.Errorf("%d reads after one chunk was written; want %d", n, maxStreamChunks+1)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("sendStream after the stream ended: %v; want context.Canceled", err)
	}
	for _, b := range held {
		b.Free()
	}
}
