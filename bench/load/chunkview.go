package main

// The gRPC load client reads HttpBody chunks without decoding each into a
// new message: grpc-go's proto codec copies every chunk's data into a fresh
// slice, which made the client's garbage most of make load's peak RSS (90%
// of the bytes allocated in grpc/inproc). chunkView parses the message in a
// pooled buffer and hands the data to a verifier, as a client that streams
// to disk would.

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// chunkView receives one google.api.HttpBody message: its content type,
// and its data passed to write while the message's buffer is alive.
type chunkView struct {
	contentType string
	write       func([]byte) error
}

// viewCodec is grpc-go's proto codec, except that it parses a chunkView
// in place.
type viewCodec struct{ encoding.CodecV2 }

func newViewCodec() viewCodec { return viewCodec{encoding.GetCodecV2("proto")} }

func (c viewCodec) Unmarshal(data mem.BufferSlice, v any) error {
	cv, ok := v.(*chunkView)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("HttpBody: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			s, m := protowire.ConsumeString(b)
			if m < 0 {
				return fmt.Errorf("HttpBody.content_type: %v", protowire.ParseError(m))
			}
			cv.contentType, b = s, b[m:]
		case num == 2 && typ == protowire.BytesType:
			d, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("HttpBody.data: %v", protowire.ParseError(m))
			}
			if err := cv.write(d); err != nil {
				return err
			}
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return fmt.Errorf("HttpBody field %d: %v", num, protowire.ParseError(m))
			}
			b = b[m:]
		}
	}
	return nil
}
