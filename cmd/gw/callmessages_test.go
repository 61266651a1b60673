package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

type cmLine struct {
	Text string `json:"text"`
}

type cmReq struct {
	Prefix string `json:"prefix"`
}

// TestCallMessages runs gw call against endpoints with streams of
// messages: a server stream printed one message a line, a client stream
// and a bidi call reading stdin's lines as messages, and a handler's error
// after messages.
func TestCallMessages(t *testing.T) {
	srv := cmServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	call := func(stdin string, args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := runCall(append([]string{"-addr", "tcp://" + l.Addr().String()}, args...),
			&stdio{in: strings.NewReader(stdin), out: &out, err: &errOut, env: func(string) (string, bool) { return "", false }})
		return out.String(), errOut.String(), code
	}
	// out is what stdout starts with ("not JSON" may print the answer to
	// the line before the bad one first).
	for _, c := range []struct {
		name, stdin string
		args        []string
		out, errOut string
		code        int
	}{
		{"server stream", "", []string{"T.Watch", `{"prefix":"x"}`}, "{\"text\":\"xa\"}\n{\"text\":\"xb\"}\n", "", 0},
		{"error after messages", "", []string{"T.Watch", `{"prefix":"fail"}`}, "{\"text\":\"faila\"}\n{\"text\":\"failb\"}\n", "gw call: Aborted: watch ended\n", 1},
		{"client stream", "{\"text\":\"1\"}\n\n{\"text\":\"2\"}\n", []string{"T.Join", `{"prefix":"p"}`}, "{\n  \"text\": \"p12\"\n}\n", "", 0},
		{"bidi", "{\"text\":\"hi\"}\n{\"text\":\"there\"}\n", []string{"T.Upper"}, "{\"text\":\"HI\"}\n{\"text\":\"THERE\"}\n", "", 0},
		{"not JSON", "{\"text\":\"hi\"}\nnope\n", []string{"T.Upper"}, "", "line 2 of stdin is not one JSON message", 1},
		{"list", "", []string{"-list"}, "ENDPOINT  REQUEST                                  RESPONSE\n" +
			"T.Join    json+messages (main.cmReq, main.cmLine)  json (main.cmLine)\n" +
			"T.Upper   messages (main.cmLine)                   messages (main.cmLine)\n" +
			"T.Watch   json (main.cmReq)                        messages (main.cmLine)\n", "", 0},
		{"refused message", "{\"text\":7}\n", []string{"T.Upper"}, "", "gw call: InvalidArgument: invalid request body for \"T.Upper\"", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := call(c.stdin, c.args...)
			if code != c.code || !strings.HasPrefix(out, c.out) || !strings.Contains(errOut, c.errOut) {
				t.Fatalf("gw call %q: status %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out, errOut, c.code, c.out, c.errOut)
			}
		})
	}
}

// cmServer is a native server with T.Watch (a server stream; prefix
// "fail" fails it after its messages), T.Join (a client stream with a JSON
// request) and T.Upper (bidi).
func cmServer(t *testing.T) *native.Server {
	srv := native.NewServer()
	reg := func(name string, fn any) {
		if err := srv.Register(name, fn); err != nil {
			t.Fatal(err)
		}
	}
	reg("T.Watch", func(req *cmReq, out *native.Sender[cmLine]) error {
		for _, s := range []string{"a", "b"} {
			if err := out.Send(&cmLine{Text: req.Prefix + s}); err != nil {
				return err
			}
		}
		if req.Prefix == "fail" {
			return native.Errorf(native.CodeAborted, "watch ended")
		}
		return nil
	})
	reg("T.Join", func(req *cmReq, in *native.Receiver[cmLine], resp *cmLine) error {
		resp.Text = req.Prefix
		for {
			m, err := in.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			resp.Text += m.Text
		}
	})
	reg("T.Upper", func(in *native.Receiver[cmLine], out *native.Sender[cmLine]) error {
		for {
			m, err := in.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := out.Send(&cmLine{Text: strings.ToUpper(m.Text)}); err != nil {
				return err
			}
		}
	})
	return srv
}
