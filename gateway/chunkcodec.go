package gateway

// This file hands the chunks of a response stream to grpc-go without
// copying them: the chunk is read into a buffer of grpc-go's pool and sent
// as the data field of its message, the few bytes before it written by
// hand. grpc-go returns the buffer (through the download's chunkBudget) once
// the frames carrying it are written. Memory per gRPC download is then at
// most maxStreamChunks chunks, whatever the client's pace, not a read
// buffer plus a marshalled copy of each.

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxStreamChunks is how many chunks of one download the gateway holds at
// a time: one that grpc-go is writing, and the next, read from the backend
// meanwhile. A third read waits until the first is written, so a client
// that reads slowly (or not at all) costs maxStreamChunks chunks, never
// more. Two keep the stream as fast as more would: the backend is read
// while grpc-go writes.
const maxStreamChunks = 2

// chunkBudget hands out the chunk buffers of one download, from
// chunkBufs, at most maxStreamChunks at a time. grpc-go gives each back
// (Put, as the buffer's pool) once the frames carrying it are written, or
// when the stream is cancelled.
type chunkBudget struct {
	slots chan struct{} // one token per buffer out
}

func newChunkBudget() *chunkBudget {
	return &chunkBudget{slots: make(chan struct{}, maxStreamChunks)}
}

// get returns a buffer of size bytes once fewer than maxStreamChunks are
// out, or ctx's error if it ends first.
func (b *chunkBudget) get(ctx context.Context, size int) (*[]byte, error) {
	select {
	case b.slots <- struct{}{}:
		return b.Get(size), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// chunkBufs keeps chunk buffers between chunks and downloads. Unlike
// grpc-go's default pool, it does not clear a buffer it hands out again:
// a chunk's message carries only the bytes read into it, and clearing
// 512 KiB per chunk cost a download 2% of its CPU.
var chunkBufs sync.Pool

// Get is get without a budget (mem.BufferPool); the gateway takes its
// buffers with get.
func (b *chunkBudget) Get(size int) *[]byte {
	if bp, ok := chunkBufs.Get().(*[]byte); ok && cap(*bp) >= size {
		*bp = (*bp)[:size]
		return bp
	}
	buf := make([]byte, size)
	return &buf
}

// Put returns a buffer that get handed out.
func (b *chunkBudget) Put(buf *[]byte) {
	chunkBufs.Put(buf)
	<-b.slots
}

// chunkMsg is one response-stream message: the wire bytes head, then the
// data field's payload *buf, which goes back to pool when sent. It is also
// the same message as a proto.Message, for a server whose codec is not
// chunkCodec (one built around StreamHandler); taken says chunkCodec took
// the buffer.
type chunkMsg struct {
	proto.Message
	head  []byte
	buf   *[]byte
	pool  mem.BufferPool
	taken bool
}

// newChunkMsg returns the message carrying data *buf (from pool), of field
// number field, with contentType in field 1 first when it is not ""
// (HttpBody's content_type). msg is the same message for other codecs.
func newChunkMsg(msg proto.Message, field protowire.Number, contentType string, buf *[]byte, pool mem.BufferPool) *chunkMsg {
	head := make([]byte, 0, 16+len(contentType))
	if contentType != "" {
		head = protowire.AppendTag(head, 1, protowire.BytesType)
		head = protowire.AppendString(head, contentType)
	}
	head = protowire.AppendTag(head, field, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(*buf)))
	return &chunkMsg{Message: msg, head: head, buf: buf, pool: pool}
}

// release returns the buffer to the pool if no codec took it.
func (m *chunkMsg) release() {
	if !m.taken {
		m.pool.Put(m.buf)
	}
}

// chunkCodec is grpc-go's proto codec, except that it sends a chunkMsg's
// buffer as it is, checks a checkedMsg's wire bytes for unknown fields
// before decoding them, and passes the wire bytes of wireMsg and wireOut
// messages through untouched.
type chunkCodec struct{ encoding.CodecV2 }

func newChunkCodec() chunkCodec { return chunkCodec{encoding.GetCodecV2("proto")} }

func (c chunkCodec) Marshal(v any) (mem.BufferSlice, error) {
	if wo, ok := v.(*wireOut); ok {
		return mem.BufferSlice{mem.SliceBuffer(wo.b)}, nil
	}
	m, ok := v.(*chunkMsg)
	if !ok {
		return c.CodecV2.Marshal(v)
	}
	m.taken = true
	out := mem.BufferSlice{mem.SliceBuffer(m.head)}
	if len(*m.buf) == 0 {
		m.pool.Put(m.buf)
		return out, nil
	}
	return append(out, mem.NewBuffer(m.buf, m.pool)), nil
}

// checkedMsg is a request message to receive: chunkCodec checks its wire
// bytes for fields its descriptor does not know (unknownInWire) and that
// proto.Unmarshal can read, says so in checked and leaves the refusal in
// refused (an error a codec returns reaches the caller as a bare INTERNAL
// status, where the client's bytes are at fault); under another codec the
// embedded message is decoded as it is, and the caller walks it instead
// (unknownField).
type checkedMsg struct {
	proto.Message
	checked bool
	refused error
}

func (c chunkCodec) Unmarshal(data mem.BufferSlice, v any) (err error) {
	defer func() {
		// dynamicpb panics on some malformed map entries; grpc-go does
		// not recover a codec's panic (see safeRecv).
		if r := recover(); r != nil {
			err = fmt.Errorf("gateway: the message cannot be decoded: %v", r)
		}
	}()
	if wm, ok := v.(*wireMsg); ok {
		wm.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
		return nil
	}
	m, ok := v.(*checkedMsg)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	m.checked = true
	m.refused = decodeWire(buf.ReadOnlyData(), m.Message)
	return nil
}

// decodeWire decodes wire bytes b into msg, refusing fields its descriptor
// does not know (unknownInWire) and bytes proto.Unmarshal cannot read.
func decodeWire(b []byte, msg proto.Message) error {
	md := msg.ProtoReflect().Descriptor()
	if err := unknownInWire(b, md); err != nil {
		return err
	}
	if err := proto.Unmarshal(b, msg); err != nil {
		return errorf("%s (%s)", errMalformed(md), strings.TrimPrefix(err.Error(), "proto: "))
	}
	return nil
}

// dataField is the field number of a download message's data: HttpBody's
// data, or the data field of a synthesized Download message.
func dataField(m *method) protoreflect.FieldNumber {
	if m.respData != nil {
		return m.respData.Number()
	}
	return 2 // google.api.HttpBody.data
}

// wireMsg is a received message kept as its wire bytes, for the
// transcoder (wirejson.go). Only chunkCodec can receive one.
type wireMsg struct{ buf mem.Buffer }

// bytes returns the message's wire bytes, valid until free.
func (m *wireMsg) bytes() []byte {
	if m.buf == nil {
		return nil
	}
	return m.buf.ReadOnlyData()
}

// free gives the bytes back to grpc-go's pool.
func (m *wireMsg) free() {
	if m.buf != nil {
		m.buf.Free()
		m.buf = nil
	}
}

// wireOut is a message to send that is already wire bytes (jsonwire.go).
// Only chunkCodec can send one.
type wireOut struct{ b []byte }
