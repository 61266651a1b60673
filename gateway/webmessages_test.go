package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// h2cClient speaks HTTP/2 without TLS, as Connect's bidi streams need.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// recvWeb receives a Connect or gRPC-Web server stream of ticks to its
// end, returning their seqs and its error.
func recvWeb(s *connect.ServerStreamForClient[dynamicpb.Message]) ([]int64, error) {
	var seqs []int64
	for s.Receive() {
		seqs = append(seqs, field(s.Msg(), "seq").Int())
	}
	return seqs, s.Err()
}

// Streams of messages over Connect and gRPC-Web: the server stream in
// every encoding, the error after N messages, and the trailer.
func TestWebRPCMessageServerStream(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		in := webMethod(t, e.env, "/native.Msg/Watch").Input()
		for _, p := range webProtocols {
			c := webClient(t, e.env, "/native.Msg/Watch", p.opts...)
			s, err := c.CallServerStream(context.Background(), connect.NewRequest(dynMsg(t, in, `{"count":40,"name":"w"}`)))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			seqs, err := recvWeb(s)
			if err != nil || len(seqs) != 40 || seqs[39] != 39 {
				t.Fatalf("%s: %d messages, %v", p.name, len(seqs), err)
			}
			if got := s.ResponseTrailer().Get("X-Sent"); got != "40" {
				t.Errorf("%s: trailer %v", p.name, s.ResponseTrailer())
			}
			s, err = c.CallServerStream(context.Background(), connect.NewRequest(dynMsg(t, in, `{"count":40,"fail":5,"name":"w"}`)))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			seqs, err = recvWeb(s)
			if len(seqs) != 5 {
				t.Errorf("%s: %d messages before the error, want 5", p.name, len(seqs))
			}
			wantConnectErr(t, err, connect.CodeAborted, "watch w stopped after 5 ticks")
		}
	})
}

// A client stream over Connect (HTTP/1.1 is enough) and a bidi stream
// over Connect on HTTP/2, interleaved.
func TestWebRPCMessageClientAndBidi(t *testing.T) {
	eachMessageBackend(t, func(t *testing.T, e *msEnv) {
		sumIn := webMethod(t, e.env, "/native.Msg/Sum").Input()
		cs := webClient(t, e.env, "/native.Msg/Sum").CallClientStream(context.Background())
		for i := range 10 {
			if err := cs.Send(dynMsg(t, sumIn, fmt.Sprintf(`{"seq":"%d"}`, i+1))); err != nil {
				t.Fatal(err)
			}
		}
		res, err := cs.CloseAndReceive()
		if err != nil || field(res.Msg, "sum").Int() != 55 {
			t.Fatalf("Sum over Connect: %v %v", res, err)
		}

		echoIn := webMethod(t, e.env, "/native.Msg/Echo").Input()
		c := connect.NewClient[dynamicpb.Message, dynamicpb.Message](h2cClient(), e.http.URL+"/native.Msg/Echo", webClientOptions(t, e.env, "/native.Msg/Echo")...)
		bs := c.CallBidiStream(context.Background())
		for i := range 10 {
			if err := bs.Send(dynMsg(t, echoIn, fmt.Sprintf(`{"seq":"%d","text":"ping"}`, i))); err != nil {
				t.Fatal(err)
			}
			got, err := bs.Receive()
			if err != nil || field(got, "seq").Int() != int64(i) {
				t.Fatalf("bidi reply %d: %v %v", i, got, err)
			}
		}
		bs.CloseRequest()
		if _, err := bs.Receive(); err == nil {
			t.Fatal("a message after the request ended")
		}
		if err := bs.CloseResponse(); err != nil {
			t.Fatal(err)
		}

		// The handler ends the call while the client's side is still
		// open: the client gets its error, and the gateway's goroutine
		// that read the client's messages ends with the call (goleak).
		bs = c.CallBidiStream(context.Background())
		bs.Send(dynMsg(t, echoIn, `{"seq":"1"}`))
		if _, err := bs.Receive(); err != nil {
			t.Fatal(err)
		}
		bs.Send(dynMsg(t, echoIn, `{"seq":"2","text":"fail"}`))
		_, err = bs.Receive()
		wantConnectErr(t, err, connect.CodeFailedPrecondition, `echo refuses "fail" after seq 2`)
		bs.CloseRequest()
		bs.CloseResponse()
	})
}
