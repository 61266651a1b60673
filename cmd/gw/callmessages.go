package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/framegate/framegate/native"
)

// callMessages makes a call of ep whose request or response is a stream of
// messages: the request's messages are stdin's lines, one JSON message
// each, sent as they are read; a response's messages are printed one a
// line as they arrive, a JSON response pretty-printed at the end. req is
// the request's JSON part, if any (callRequest).
func callMessages(ctx context.Context, c native.Caller, ep *native.Endpoint, req any, sio *stdio) error {
	if ep.Request.HasMessages() && !ep.Response.HasMessages() && ep.Response != native.BodyJSON {
		return native.Errorf(native.CodeUnimplemented, "gw call cannot call %s yet: a stream of messages in, a %s response out", ep.Name, ep.Response)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var tx native.Sender[json.RawMessage]
	if ep.Request.HasMessages() {
		if ep.Request.HasJSON() {
			req = native.StreamRequest{JSON: req, Messages: &tx}
		} else {
			req = &tx
		}
	}
	if !ep.Response.HasMessages() {
		var out json.RawMessage
		if err := c.Call(ctx, ep.Name, req, &out); err != nil {
			return err
		}
		if err := sendLines(sio.in, &tx); err != nil {
			return err
		}
		if err := tx.Close(); err != nil {
			return err
		}
		return printJSON(sio.out, out)
	}
	var rx native.Receiver[json.RawMessage]
	if err := c.Call(ctx, ep.Name, req, &rx); err != nil {
		return err
	}
	defer rx.Close()
	sent := make(chan error, 1)
	if ep.Request.HasMessages() {
		go func() {
			err := sendLines(sio.in, &tx)
			if err == nil {
				err = tx.Close()
			} else {
				cancel(err)
			}
			sent <- err
		}()
	} else {
		sent <- nil
	}
	w := bufio.NewWriter(sio.out)
	for {
		m, err := rx.Recv()
		if err == io.EOF {
			w.Flush()
			return <-sent
		}
		if err != nil {
			w.Flush()
			if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
				return cause // a line of stdin that could not be sent
			}
			return err
		}
		w.Write(*m)
		w.WriteByte('\n')
		w.Flush() // each message as it arrives
	}
}

// sendLines sends each non-empty line of r as one JSON message.
func sendLines(r io.Reader, tx *native.Sender[json.RawMessage]) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), native.DefaultMaxMessageSize+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return native.Errorf(native.CodeInvalidArgument, "line %d of stdin is not one JSON message", n)
		}
		msg := json.RawMessage(line)
		if err := tx.Send(&msg); err != nil {
			if err == io.EOF {
				return nil // the call ended on the server's side: its outcome says why
			}
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return native.Errorf(native.CodeInvalidArgument, "reading stdin: %v", err)
	}
	return nil
}
