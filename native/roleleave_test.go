package native_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// A response stream's consumer that read a payload of its own leaves the
// reading role for its next Read (role.go). One that then stops reading,
// neither reading on nor closing, must not keep the role from the other
// calls: with the client's idle period an hour, only the grace a left role
// has hands it to the calls waiting, and they get their answers. The stream
// is then read to its end, byte for byte, and a stream closed while its
// consumer is away gives the role up too.
func TestLeftRoleGoesToWaiters(t *testing.T) {
	const size = 4 << 20
	srv, _ := newServer(t)
	mustRegister(t, srv, "Blob.Get", func(ctx context.Context, req *blobReq, resp *io.Reader) error {
		*resp = bytes.NewReader(payload(req.Size, req.Seed))
		return nil
	})
	c, s, err := tcpConns(t)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeConn(s)
	client, err := native.NewClient(c, native.WithClientIdleAfter(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	get := func(seed uint64) io.ReadCloser {
		t.Helper()
		var rc io.ReadCloser
		if err := client.Call(context.Background(), "Blob.Get", &blobReq{Size: size, Seed: seed}, &rc); err != nil {
			t.Fatal(err)
		}
		return rc
	}
	rc := get(7)
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		checkEcho(t, client, i) // the consumer is away
	}
	rest, err := io.ReadAll(rc)
	rc.Close()
	if got := append(head, rest...); err != nil || !bytes.Equal(got, payload(size, 7)) {
		t.Fatalf("the stream read after the calls: %d bytes of %d, %v", len(got), size, err)
	}

	rc = get(8)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	checkEcho(t, client, 100)
}
