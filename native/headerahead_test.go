package native_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/framegate/framegate/native"
)

// positional is a stream whose every byte says where it is: a byte out of
// place shows.
type positional struct{ off int64 }

func positionalByte(i int64) byte { return byte(i) ^ byte(i>>8)*3 ^ byte(i>>16)*7 }

func (p *positional) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = positionalByte(p.off + int64(i))
	}
	p.off += int64(len(b))
	return len(b), nil
}

// registerPositional registers Positional.Get: req.N bytes of positional.
func registerPositional(t *testing.T, srv *native.Server) {
	mustRegister(t, srv, "Positional.Get", func(req *echoReq, resp *io.Reader) error {
		*resp = io.LimitReader(&positional{}, int64(req.N))
		return nil
	})
}

// TestStreamBetweenCallsIsExact: a download whose frames come in runs
// between small calls' answers on the same connection arrives byte for
// byte, read with buffers larger and smaller than its frames. Its consumer
// reads a frame's header with the first bytes of its payload into its own
// buffer when the frames before were its own (readRole.headerAhead), and
// gives back what turns out not to be.
func TestStreamBetweenCallsIsExact(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			const size = 8 << 20
			registerPositional(t, srv)
			f := remoteFactory(tr)(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stopCalls := callsBeside(ctx, f)
			for _, bufSize := range []int{2 << 20, 100_003, 4096} {
				var rc io.ReadCloser
				if err := f.caller.Call(ctx, "Positional.Get", &echoReq{N: size}, &rc); err != nil {
					t.Fatalf("Positional.Get: %v", err)
				}
				buf := make([]byte, bufSize)
				var off int64
				for {
					n, err := rc.Read(buf)
					for i, c := range buf[:n] {
						if want := positionalByte(off + int64(i)); c != want {
							t.Fatalf("buffer of %d: byte %d is %#x, want %#x", bufSize, off+int64(i), c, want)
						}
					}
					off += int64(n)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("buffer of %d: Read after %d bytes: %v", bufSize, off, err)
					}
				}
				rc.Close()
				if off != size {
					t.Fatalf("buffer of %d: %d bytes, want %d", bufSize, off, size)
				}
			}
			if err := stopCalls(); err != nil {
				t.Fatalf("small calls: %v", err)
			}
		})
	}
}
