package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coder/websocket"

	"github.com/framegate/framegate/native"
)

const wsAbout = `Call a stream of messages of gw serve's HTTP listener over a WebSocket, as a
web page does (the README's "Streams of messages over HTTP" describes the
protocol): each line of stdin is sent as one message, as it is read, and the
end of stdin ends the stream; each message of the answer is printed on its
own line as it arrives. An endpoint that takes a JSON request reads it from
the URL's query, or else from stdin's first line.

Exit status: 0 when the call ended cleanly, 1 if it failed (the status code's
name is printed on stderr, e.g. "gw ws: Aborted: ..."), 2 for a usage error.`

const wsExample = `  gw ws 'ws://localhost:8080/native.Store/Watch?prefix=docs/' < /dev/null
  printf '{"text":"hi"}\n{"text":"again"}\n' | gw ws ws://localhost:8080/native.Echo/Chat
  gw ws -H 'Authorization: Bearer s3cret' ws://localhost:8080/native.Log/Append < records.jsonl`

// headerFlag collects -H "Name: value" flags.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want Name: value")
	}
	http.Header(h).Add(strings.TrimSpace(k), strings.TrimSpace(v))
	return nil
}

func runWS(args []string, sio *stdio) int {
	c := newCommand("ws", "gw ws [flags] URL", wsAbout, wsExample)
	hdr := headerFlag{}
	c.fs.Var(hdr, "H", "request `header` \"Name: value\" (repeatable)")
	if err := c.parse(args, sio); err != nil {
		return exitCode(err)
	}
	if c.fs.NArg() != 1 {
		fmt.Fprintf(sio.err, "gw ws: want one URL (ws:// or wss://)\nRun 'gw ws -h' for help.\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := wsCall(ctx, c.fs.Arg(0), http.Header(hdr), sio); err != nil {
		fmt.Fprintf(sio.err, "gw ws: %s: %s\n", native.CodeOf(err), errMessage(err))
		return 1
	}
	return 0
}

// wsCall makes the call: stdin's lines out, the results to stdout, the
// final status as its error.
func wsCall(ctx context.Context, url string, hdr http.Header, sio *stdio) error {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		if resp != nil && resp.Body != nil {
			// The gateway's refusal: its status JSON.
			if b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10)); len(b) > 0 {
				return statusError(b)
			}
		}
		return native.Errorf(native.CodeUnavailable, "%v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	sent := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(sio.in)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			if len(strings.TrimSpace(sc.Text())) == 0 {
				continue // an empty message would end the stream
			}
			if err := conn.Write(ctx, websocket.MessageText, sc.Bytes()); err != nil {
				sent <- err
				return
			}
		}
		if err := sc.Err(); err != nil {
			sent <- err
			return
		}
		sent <- conn.Write(ctx, websocket.MessageText, nil) // the end of the stream
	}()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			select {
			case serr := <-sent:
				if serr != nil {
					err = serr
				}
			default:
			}
			return native.Errorf(native.CodeUnavailable, "the WebSocket ended before the call's status: %v", err)
		}
		var m struct {
			Result json.RawMessage `json:"result"`
			Status json.RawMessage `json:"status"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return native.Errorf(native.CodeInternal, "not a message of the gateway: %.200q", b)
		}
		if m.Status != nil {
			conn.Close(websocket.StatusNormalClosure, "")
			return statusError(m.Status)
		}
		fmt.Fprintf(sio.out, "%s\n", m.Result)
	}
}

// statusError is the error of status JSON b (nil for code 0).
func statusError(b []byte) error {
	var st struct {
		Code    native.Code `json:"code"`
		Message string      `json:"message"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return native.Errorf(native.CodeUnknown, "%.200s", b)
	}
	if st.Code == native.CodeOK {
		return nil
	}
	return native.NewError(st.Code, errors.New(st.Message))
}
