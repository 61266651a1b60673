package native_test

// A peer that sends frames calling for answers (PINGs) and reads nothing
// grows the queue of control frames waiting for a writer stuck on it: past
// its bound the connection is given up, with an error that says why, on
// either side.

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/framegate/framegate/native"
)

// flood writes PINGs to c until a write fails.
func flood(c net.Conn) {
	ping := frame(native.FrameHeader{Type: native.TypePing}, binary.BigEndian.AppendUint64(nil, 42))
	batch := bytes.Repeat(ping, 1000)
	for {
		if _, err := c.Write(batch); err != nil {
			return
		}
	}
}

// The client's upload is stuck writing to a server that reads nothing;
// the server sends PINGs meanwhile. The client gives up, and the upload
// fails with RESOURCE_EXHAUSTED naming the control frames.
func TestControlFloodClient(t *testing.T) {
	t.Parallel()
	cc, sc := net.Pipe()
	defer sc.Close()
	go func() {
		if serverHandshake(sc) != nil {
			return
		}
		// Read the start of the call's first frame, then nothing: its
		// writer is stuck holding the write lock.
		var h [native.FrameHeaderLen]byte
		if _, err := io.ReadFull(sc, h[:]); err != nil {
			return
		}
		flood(sc)
	}()
	c, err := native.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Call(context.Background(), "Blob.Put", bytes.NewReader(payload(1<<20, 1)), &putResp{})
	wantCode(t, err, native.CodeResourceExhausted, "control frames")
}

// The same from a client: it asks for a download, reads none of it (the
// server's DATA writer blocks), and sends PINGs. The server gives the
// connection up, cancels the handler and logs why.
func TestControlFloodServer(t *testing.T) {
	t.Parallel()
	srv, logs := newServer(t)
	handlerCause := make(chan error, 1)
	mustRegister(t, srv, "Blob.Endless", func(ctx context.Context, resp *io.Reader) error {
		*resp = endlessReader{}
		go func() { <-ctx.Done(); handlerCause <- context.Cause(ctx) }()
		return nil
	})
	cc, sc := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(sc) }()
	defer cc.Close()
	if _, err := cc.Write(clientPreface(native.ProtocolVersion)); err != nil {
		t.Fatal(err)
	}
	var p [native.PrefaceLen]byte
	if _, err := io.ReadFull(cc, p[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Write(hdr(1, "Blob.Endless", native.BodyNone, native.BodyStream)); err != nil {
		t.Fatal(err)
	}
	// Read the start of the response's first frame, then nothing: its
	// writer is stuck holding the write lock.
	var h [native.FrameHeaderLen]byte
	if _, err := io.ReadFull(cc, h[:]); err != nil {
		t.Fatal(err)
	}
	flood(cc)
	err := <-served
	wantCode(t, err, native.CodeResourceExhausted, "control frames")
	wantCode(t, <-handlerCause, native.CodeResourceExhausted, "control frames")
	if w := logs.atLevel(slog.LevelWarn); len(w) != 1 {
		t.Errorf("server logged %v at WARN, want one line", w)
	}
}
