package native_test

import (
	"net"
	"net/rpc"
	"testing"
)

// net/rpc with gob over TCP loopback: the bar issue 3 sets for native's
// small calls, next to BenchmarkUnaryTCP (same message, same transport).
// make bench measures the two round by round; this is the quick look.

type NetRPCEcho struct{}

type NetRPCMsg benchEcho

func (NetRPCEcho) Echo(req *NetRPCMsg, resp *NetRPCMsg) error { *resp = *req; return nil }

// BenchmarkUnaryNetRPCGob is BenchmarkUnaryTCP's call through net/rpc.
func BenchmarkUnaryNetRPCGob(b *testing.B) {
	srv := rpc.NewServer()
	srv.Register(NetRPCEcho{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	go func() {
		if conn, err := l.Accept(); err == nil {
			srv.ServeConn(conn)
		}
	}()
	c, err := rpc.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := &NetRPCMsg{ID: 1234567, Name: "reports/2026/q3-summary.pdf", Tags: []string{"finance", "quarterly"}, Size: 1048576, Owner: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		var resp NetRPCMsg
		if err := c.Call("NetRPCEcho.Echo", req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}
