package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// rawCodec sends and receives messages as the bytes they are encoded to,
// so the tests need no generated or dynamic types for the synthesized ones.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// readRequest is native.ReadRequest{name: name} (field 1) in protobuf.
func readRequest(name string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
}

// download is a Store.Read through the gateway's gRPC door, read at the
// test's pace. Its small fixed flow-control windows (which turn off gRPC's
// window growth) keep the gateway from sending far ahead of the reader.
type download struct {
	conn   *grpc.ClientConn
	stream grpc.ClientStream
	cancel context.CancelFunc
	n      int64
	h      hash.Hash
}

func startDownload(t *testing.T, grpcAddr, name string) *download {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &download{conn: conn, cancel: cancel, h: sha256.New()}
	t.Cleanup(func() {
		cancel()
		conn.Close()
	})
	d.stream, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/native.Store/Read", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.stream.SendMsg(readRequest(name)); err != nil {
		t.Fatal(err)
	}
	if err := d.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	return d
}

// next receives one chunk; io.EOF once the stream ended with status OK.
func (d *download) next() error {
	var b []byte
	if err := d.stream.RecvMsg(&b); err != nil {
		return err
	}
	var hb httpbody.HttpBody
	if err := proto.Unmarshal(b, &hb); err != nil {
		return err
	}
	d.n += int64(len(hb.Data))
	d.h.Write(hb.Data)
	return nil
}

// rest reads to the end: nil if the stream ended with status OK.
func (d *download) rest() error {
	for {
		if err := d.next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func (d *download) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }
