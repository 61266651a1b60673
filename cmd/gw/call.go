package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/framegate/framegate/native"
)

const callAbout = `Call one endpoint of a native server (gw serve's -native-addr, or gw backend)
and print its answer: a JSON response pretty-printed, a stream response as raw
bytes on stdout, a stream of messages as one JSON message a line, each as it
arrives. JSON is the request (default {}); an endpoint whose request has a
stream reads it from stdin, one whose request is a stream of messages reads
them from stdin, one JSON message a line, sending each as it is read. -list prints the endpoints with the kinds of
their requests and responses. -addr takes the forms of gw serve -backend:
tcp://host:port (or host:port), tls://host:port, unix:///path, exec:command.

-o FILE writes a stream response to FILE instead; with -continue, a FILE that
holds the start of the stream (an interrupted download) is completed by asking
for the rest only, where the endpoint serves ranges (the demo store's Read
does). While a stream is written to a file and stderr is a terminal, a
progress bar shows the bytes, the rate and, when the stream announced its
length, the time left.

Exit status: 0 on success, 1 if the call failed (the status code's name is
printed on stderr, e.g. "gw call: NotFound: ..."), 2 for a usage error.`

const callExample = `  gw call -list
  gw call Store.Write '{"name":"docs/a.txt"}' < a.txt
  gw call Store.List '{"prefix":"docs/"}'
  gw call Store.Read '{"name":"docs/a.txt"}' > copy.txt
  gw call -o big.iso -continue Store.Read '{"name":"big.iso"}'
  gw call -addr 'exec:gw backend -stdio -data-dir /srv/files' Store.List`

func runCall(args []string, sio *stdio) int {
	c := newCommand("call", "gw call [flags] ENDPOINT [JSON]", callAbout, callExample)
	var addr, ca, cert, key, output string
	var list, resume bool
	var timeout time.Duration
	c.fs.StringVar(&addr, "addr", "tcp://127.0.0.1:7070", "native server `url`")
	c.fs.BoolVar(&list, "list", false, "print the server's endpoints and exit")
	c.fs.DurationVar(&timeout, "timeout", 0, "give up the call after this `duration` (0: never)")
	c.fs.StringVar(&ca, "ca", "", "CA certificates `file` (PEM) that verify a tls:// server; the system's roots if empty")
	c.fs.StringVar(&cert, "cert", "", "client certificate `file` (PEM) for a tls:// server that requires one")
	c.fs.StringVar(&key, "key", "", "private key `file` (PEM) of -cert")
	c.fs.StringVar(&output, "o", "", "write a stream response to `file` instead of stdout")
	c.fs.BoolVar(&resume, "continue", false, "with -o, complete a file that holds the start of the stream (ask for the rest only)")
	if err := c.parse(args, sio); err != nil {
		return exitCode(err)
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(sio.err, "gw call: "+format+"\nRun 'gw call -h' for help.\n", a...)
		return 2
	}
	rest := c.fs.Args()
	switch {
	case list && len(rest) > 0:
		return usage("-list takes no arguments")
	case !list && len(rest) == 0:
		return usage("no endpoint given")
	case len(rest) > 2:
		return usage("too many arguments: want ENDPOINT [JSON]")
	case resume && output == "":
		return usage("-continue needs -o FILE")
	}
	fail := func(err error) int {
		fmt.Fprintf(sio.err, "gw call: %s: %s\n", native.CodeOf(err), errMessage(err))
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	t, err := native.ParseTarget(addr)
	if err != nil {
		return usage("-addr %v", err)
	}
	var tlsCfg *tls.Config
	if t.Scheme == "tls" {
		if tlsCfg, err = clientTLS(ca, cert, key, t.Host()); err != nil {
			return usage("%v", err)
		}
	}
	stderr := childStderr(sio)
	dial, err := t.Dialer(native.DialOptions{TLS: tlsCfg, Stderr: stderr})
	if err != nil {
		return usage("%v", err)
	}
	rwc, err := dial(ctx)
	if err != nil {
		return fail(err)
	}
	client, err := native.NewClient(rwc)
	if err != nil {
		return fail(err)
	}
	defer client.Close()

	var schema native.Schema
	if err := client.Call(ctx, native.DescribeEndpoint, nil, &schema); err != nil {
		return fail(err)
	}
	if list {
		printEndpoints(sio.out, &schema)
		return 0
	}
	ep := findEndpoint(&schema, rest[0])
	if ep == nil {
		return fail(native.Errorf(native.CodeUnimplemented, "no endpoint %q at %s (gw call -list shows them)", rest[0], t))
	}
	req, err := callRequest(ep, rest[1:], sio.in)
	if err != nil {
		return fail(err)
	}
	if ep.Request.HasMessages() || ep.Response.HasMessages() {
		if err := callMessages(ctx, client, ep, req, sio); err != nil {
			return fail(err)
		}
		return 0
	}
	if ep.Response.HasStream() && output != "" {
		errFile, _ := sio.err.(*os.File)
		if err := downloadTo(ctx, client, ep.Name, req, output, resume, errFile); err != nil {
			return fail(err)
		}
		return 0
	}
	if ep.Response.HasStream() {
		var rc io.ReadCloser
		if err := client.Call(ctx, ep.Name, req, &rc); err != nil {
			return fail(err)
		}
		defer rc.Close()
		if _, err := io.Copy(sio.out, rc); err != nil {
			return fail(err)
		}
		return 0
	}
	var out json.RawMessage
	if err := client.Call(ctx, ep.Name, req, &out); err != nil {
		return fail(err)
	}
	printJSON(sio.out, out)
	return 0
}

// printJSON writes a JSON response indented, or as it is if it is not
// JSON, and a newline.
func printJSON(w io.Writer, out json.RawMessage) error {
	var pretty bytes.Buffer
	if len(out) == 0 || json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out)
	}
	pretty.WriteByte('\n')
	_, err := w.Write(pretty.Bytes())
	return err
}

func findEndpoint(s *native.Schema, name string) *native.Endpoint {
	for i := range s.Endpoints {
		if s.Endpoints[i].Name == name {
			return &s.Endpoints[i]
		}
	}
	return nil
}

// callRequest builds the request of ep from the JSON argument and stdin.
func callRequest(ep *native.Endpoint, jsonArg []string, stdin io.Reader) (any, error) {
	var value json.RawMessage
	if len(jsonArg) > 0 {
		if !ep.Request.HasJSON() {
			return nil, native.Errorf(native.CodeInvalidArgument, "%s takes no JSON request (its request is %s)", ep.Name, ep.Request)
		}
		if !json.Valid([]byte(jsonArg[0])) {
			return nil, native.Errorf(native.CodeInvalidArgument, "the request is not valid JSON: %s", jsonArg[0])
		}
		value = json.RawMessage(jsonArg[0])
	} else if ep.Request.HasJSON() {
		value = json.RawMessage("{}")
	}
	switch ep.Request {
	case native.BodyJSON:
		return value, nil
	case native.BodyStream:
		return stdin, nil
	case native.BodyJSONStream:
		return native.StreamRequest{JSON: value, Body: stdin}, nil
	case native.BodyJSONMessages:
		return value, nil // callMessages adds the messages
	}
	return nil, nil
}

// printEndpoints prints one line per endpoint: its name and the kinds (and
// types) of its request and response.
func printEndpoints(w io.Writer, s *native.Schema) {
	eps := append([]native.Endpoint(nil), s.Endpoints...)
	sort.Slice(eps, func(i, j int) bool { return eps[i].Name < eps[j].Name })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tREQUEST\tRESPONSE")
	for _, ep := range eps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ep.Name, kindString(ep.Request, ep.RequestType, ep.RequestMessage), kindString(ep.Response, ep.ResponseType, ep.ResponseMessage))
	}
	tw.Flush()
}

// kindString is a body kind with its JSON part's type t and its messages'
// type msg: "json (store.ListRequest)", "messages (store.Event)".
func kindString(k native.BodyKind, t, msg *native.Type) string {
	var types []string
	for _, t := range []*native.Type{t, msg} {
		switch {
		case t == nil:
		case t.Message != "":
			types = append(types, t.Message)
		default:
			types = append(types, string(t.Kind))
		}
	}
	if len(types) == 0 {
		return string(k)
	}
	return string(k) + " (" + strings.Join(types, ", ") + ")"
}
