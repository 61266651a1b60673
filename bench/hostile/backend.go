package main

// A hostile native backend: it speaks just enough of the native protocol
// (written by hand in wire.go, independent of package native) to answer the
// gateway's describe call with a schema the harness crafted, refuse every
// other call, and take part in PING and the CLOSE handshake.

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fakeBackend serves schema(k) for the k-th describe call.
type fakeBackend struct {
	l         net.Listener
	schema    func(k int64) []byte
	describes atomic.Int64
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
}

func startFakeBackend(schema func(k int64) []byte) (*fakeBackend, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &fakeBackend{l: l, schema: schema, conns: map[net.Conn]struct{}{}}
	b.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Go(func() {
				defer func() {
					b.mu.Lock()
					delete(b.conns, c)
					b.mu.Unlock()
					c.Close()
				}()
				b.serve(c)
			})
		}
	})
	return b, nil
}

func (b *fakeBackend) addr() string { return b.l.Addr().String() }

// close stops the listener, closes every connection and waits.
func (b *fakeBackend) close() {
	b.l.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// serve runs one connection: each call is answered when its request has
// ended, in the order the requests end.
func (b *fakeBackend) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	peerMax, err := readPreface(c)
	if err != nil {
		return
	}
	if _, err := c.Write(preface()); err != nil {
		return
	}
	type call struct{ method, body string }
	calls := map[uint32]call{}
	for {
		c.SetDeadline(time.Time{})
		f, err := readFrame(c, maxPayload)
		if err != nil {
			return
		}
		done := false
		switch f.typ {
		case typeHeader:
			var h struct{ Method, Body string }
			if json.Unmarshal(f.payload, &h) != nil {
				return
			}
			calls[f.call] = call{h.Method, h.Body}
			done = h.Body == "none" || h.Body == ""
		case typeBody:
			done = f.flags&flagEnd != 0 && !strings.Contains(calls[f.call].body, "stream")
		case typeTrailer:
			done = true
		case typeRST:
			if f.call == 0 {
				return
			}
			delete(calls, f.call)
			continue // the answer is sent already or never asked for
		case typePing:
			if f.flags&flagAck == 0 {
				if _, err := c.Write(frame(typePing, flagAck, 0, f.payload)); err != nil {
					return
				}
			}
		case typeClose:
			c.Write(frame(typeCloseAck, 0, 0, nil))
			return
		}
		if done {
			if err := b.answer(c, f.call, calls[f.call].method, peerMax); err != nil {
				return
			}
			delete(calls, f.call)
		}
	}
}

// answer sends the response of one call: the schema for a describe, an
// UNIMPLEMENTED error for anything else.
func (b *fakeBackend) answer(c net.Conn, call uint32, method string, peerMax uint32) error {
	if method != "native.Describe" {
		h, _ := json.Marshal(map[string]any{"code": 12, "message": "hostile backend: only native.Describe", "body": "none"})
		_, err := c.Write(frame(typeHeader, 0, call, h))
		return err
	}
	k := b.describes.Add(1)
	s := b.schema(k)
	out := frame(typeHeader, 0, call, []byte(`{"code":0,"body":"json"}`))
	for len(s) > 0 || out != nil {
		n := min(len(s), int(peerMax))
		fl := byte(0)
		if n == len(s) {
			fl = flagEnd
		}
		out = append(out, frame(typeBody, fl, call, s[:n])...)
		if _, err := c.Write(out); err != nil {
			return err
		}
		out, s = nil, s[n:]
	}
	return nil
}

// nestedSchema is a describe answer with one endpoint, Deep.Call, whose
// request and response message has one field: a list of lists ... of
// strings, depth lists deep. tag, if not empty, is added to the endpoint
// name, so that each answer can differ from the previous one.
func nestedSchema(depth int, tag string) []byte {
	t := strings.Repeat(`{"kind":"list","elem":`, depth) + `{"kind":"string"}` + strings.Repeat("}", depth)
	return fmt.Appendf(nil, `{"protocol":1,"endpoints":[{"name":"Deep.Call%s","request":"json","response":"json",`+
		`"request_type":{"kind":"message","message":"deep.Msg"},"response_type":{"kind":"message","message":"deep.Msg"}}],`+
		`"messages":{"deep.Msg":{"name":"deep.Msg","fields":[{"name":"v","type":%s}]}}}`, tag, t)
}

// wideSchema is a describe answer with n endpoints (Wide.Call0 ...) of one
// small message.
func wideSchema(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"protocol":1,"endpoints":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"name":"Wide.Call%d","request":"json","response":"json","request_type":{"kind":"message","message":"wide.Msg"},"response_type":{"kind":"message","message":"wide.Msg"}}`, i)
	}
	sb.WriteString(`],"messages":{"wide.Msg":{"name":"wide.Msg","fields":[{"name":"name","type":{"kind":"string"}},{"name":"size","type":{"kind":"int64"}},{"name":"tags","type":{"kind":"list","elem":{"kind":"string"}}}]}}}`)
	return []byte(sb.String())
}
