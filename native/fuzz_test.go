package native

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// fuzzSeeds are whole frame sequences: every golden frame, and a complete
// unary call, stream call and upload as a client sends them.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, g := range goldenFrames {
		if g.name != "preface" {
			seeds = append(seeds, g.bytes())
		}
	}
	hdr := func(id uint32, h requestHeader) []byte {
		b, _ := json.Marshal(&h)
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: id}, b)
	}
	var call []byte
	call = append(call, hdr(1, requestHeader{Method: "Echo", Body: BodyJSON, Accept: BodyJSON})...)
	call = appendFrame(call, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 1}, []byte(`{"s":"hi","n":1}`))
	call = append(call, hdr(2, requestHeader{Method: "Put", Body: BodyStream, Accept: BodyJSON})...)
	call = appendFrame(call, FrameHeader{Type: TypeData, Call: 2}, []byte("abc"))
	call = appendFrame(call, FrameHeader{Type: TypeTrailer, Call: 2}, []byte(`{"code":0}`))
	call = append(call, hdr(3, requestHeader{Method: "Get", Body: BodyJSON, Accept: BodyStream, Timeout: 1e9})...)
	call = appendFrame(call, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 3}, []byte(`{"n":3}`))
	call = appendFrame(call, FrameHeader{Type: TypeWindow, Call: 3}, []byte{0, 0, 0x10, 0})
	call = appendFrame(call, FrameHeader{Type: TypeWindow}, []byte{0, 0x20, 0, 0})
	call = appendFrame(call, FrameHeader{Type: TypeRST, Call: 3}, rstPayload(CodeCanceled, "stop"))
	call = appendFrame(call, FrameHeader{Type: TypeWindow, Call: 3}, []byte{0, 0, 0, 1}) // crossed the RST
	call = appendFrame(call, FrameHeader{Type: TypePing}, []byte("pingpong"))
	call = appendFrame(call, FrameHeader{Type: TypeClose}, []byte{0, 0, 0, 3})
	seeds = append(seeds, call)
	return seeds
}

// FuzzFrameDecode feeds arbitrary bytes to the frame reader and the
// decoders of every payload: nothing may panic, every header accepted must
// respect the limits, and every error must be a protocol error or the end of
// the input.
func FuzzFrameDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	lim := limits{maxFramePayload: MinMaxFramePayload, maxHeaderSize: 4 << 10, maxBodySize: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFramer(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}, lim)
		for {
			h, err := fr.readHeader()
			if err != nil {
				if !errors.Is(err, ErrProtocol) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("readHeader: unexpected error kind %T %v", err, err)
				}
				return
			}
			if h.Length > lim.maxFramePayload || (h.Type == TypeHeader && h.Length > lim.maxHeaderSize) {
				t.Fatalf("accepted %v beyond the limits", h)
			}
			p, err := fr.readPayload(nil, h.Length)
			if err != nil {
				return
			}
			switch h.Type {
			case TypeHeader:
				var rq requestHeader
				if decodeHeader("request header", p, &rq) == nil {
					_ = rq.validate()
				}
				var rs responseHeader
				if decodeHeader("response header", p, &rs) == nil {
					_ = rs.validate()
				}
			case TypeTrailer:
				var tr trailer
				_ = decodeHeader("trailer", p, &tr)
			case TypeRST:
				code, msg := parseRST(p)
				if len(msg) != len(p)-4 {
					t.Fatalf("RST %v message of %d bytes from a %d-byte payload", code, len(msg), len(p))
				}
			}
		}
	})
}

// fuzzServer is a server with one endpoint of each kind.
func fuzzServer() *Server {
	s := NewServer(WithHandshakeTimeout(time.Second), WithMaxBodySize(64<<10), WithCloseTimeout(100*time.Millisecond))
	type msg struct {
		S string `json:"s"`
		N int    `json:"n"`
	}
	s.Register("Echo", func(ctx context.Context, req *msg, resp *msg) error { *resp = *req; return nil })
	s.Register("Get", func(req *msg, body *io.Reader) error {
		*body = bytes.NewReader(make([]byte, min(max(req.N, 0), 1<<16)))
		return nil
	})
	s.Register("Put", func(ctx context.Context, body io.Reader, resp *msg) error {
		n, err := io.Copy(io.Discard, body)
		resp.N = int(n)
		return err
	})
	return s
}

// FuzzServerConn plays arbitrary bytes as a client to a live server
// connection: the server must neither panic nor hang, and must end the
// connection when the input ends.
func FuzzServerConn(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := fuzzServer()
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeConn(a)
		}()
		go io.Copy(io.Discard, b)
		b.Write(appendPreface(nil, ProtocolVersion, defaultSettings(MinMaxFramePayload)))
		b.Write(data)
		b.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not return after the client went away")
		}
	})
}

// FuzzClientConn plays arbitrary bytes as the server to a client making a
// call, and a second one if the first succeeded (its answer is read by the
// caller itself, see readInline): each call must end (with any result)
// without a panic or a hang.
func FuzzClientConn(f *testing.F) {
	resp := func(id uint32, h responseHeader) []byte {
		b, _ := json.Marshal(&h)
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: id}, b)
	}
	ok := resp(1, responseHeader{Body: BodyJSON})
	ok = appendFrame(ok, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 1}, []byte(`{"s":"x"}`))
	f.Add(ok)
	two := append(ok, resp(2, responseHeader{Body: BodyJSON})...)
	f.Add(appendFrame(two, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 2}, []byte(`[1]`)))
	f.Add(append(two, appendFrame(nil, FrameHeader{Type: TypePing}, []byte("12345678"))...))
	f.Add(resp(1, responseHeader{Code: CodeNotFound, Message: "no", Body: BodyNone}))
	window := func(id, inc uint32) []byte {
		return appendFrame(nil, FrameHeader{Type: TypeWindow, Call: id}, binary.BigEndian.AppendUint32(nil, inc))
	}
	f.Add(slices.Concat(window(0, 1<<20), window(1, 1<<16), ok, window(1, 1)))
	f.Add(append(resp(1, responseHeader{Body: BodyStream}), appendFrame(nil, FrameHeader{Type: TypeTrailer, Call: 1}, []byte(`{"code":0}`))...))
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := clientOfServerBytes(data)
		if err != nil {
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for i := range 2 {
			var out json.RawMessage
			err = c.Call(ctx, "Echo", map[string]string{"s": "x"}, &out)
			if ctx.Err() != nil {
				t.Fatalf("call %d hung: %v", i+1, err)
			}
			if err != nil {
				break
			}
			if !json.Valid(out) {
				t.Fatalf("call %d succeeded with invalid JSON %q", i+1, out)
			}
		}
	})
}

// FuzzClientStream plays arbitrary bytes as the server to a client that
// asks for a stream: a stream read to a clean end carries exactly the
// length its header announced, and nothing hangs.
func FuzzClientStream(f *testing.F) {
	resp := func(h responseHeader) []byte {
		b, _ := json.Marshal(&h)
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}
	data := func(b []byte, n int) []byte {
		return appendFrame(b, FrameHeader{Type: TypeData, Call: 1}, []byte("abcdefghij")[:n])
	}
	okTrailer := appendFrame(nil, FrameHeader{Type: TypeTrailer, Call: 1}, []byte(`{"code":0}`))
	announced := resp(responseHeader{Body: BodyStream, Stream: &streamInfo{Length: 5, Size: -1, ETag: `"e"`}})
	for _, n := range []int{5, 3, 7, 0} {
		f.Add(append(data(append([]byte(nil), announced...), n), okTrailer...))
	}
	f.Add(append(data(data(append([]byte(nil), announced...), 2), 3), okTrailer...))
	f.Add(append(resp(responseHeader{Body: BodyStream, Stream: &streamInfo{Length: 1, Size: 10, Offset: 9}}), append(data(nil, 1), okTrailer...)...))
	f.Add(append(resp(responseHeader{Body: BodyStream, Stream: &streamInfo{Length: 4, Size: 2, Offset: 9}}), okTrailer...))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := clientOfServerBytes(in)
		if err != nil {
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var info StreamInfo
		var rc io.ReadCloser
		if err := c.Call(ctx, "Get", nil, &rc, Info(&info)); err != nil {
			return
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if ctx.Err() != nil {
			t.Fatalf("the stream hung: %v", err)
		}
		if err == nil && info.Length >= 0 && int64(len(got)) != info.Length {
			t.Fatalf("a clean end after %d bytes of a stream that announced %d", len(got), info.Length)
		}
	})
}

// clientOfServerBytes returns a client whose server answers the preface and
// then sends data, whatever the client says, and hangs up.
func clientOfServerBytes(data []byte) (*Client, error) {
	a, b := net.Pipe()
	go func() {
		var pre [PrefaceLen]byte
		io.ReadFull(b, pre[:])
		b.Write(appendPreface(nil, ProtocolVersion, defaultSettings(MinMaxFramePayload)))
		go io.Copy(io.Discard, b)
		b.Write(data)
		b.Close()
	}()
	return NewClient(a, WithHandshakeTimeout(time.Second), WithAbortTimeout(100*time.Millisecond), WithCloseTimeout(100*time.Millisecond))
}
