// Command gw is framegate's deployable gateway: it serves the endpoints of a
// native server (the embedded demo file store, or a remote native server) to
// gRPC clients (with server reflection, so grpcurl works without .proto
// files) and REST clients, and it is also that remote server and a native
// command-line client:
//
//	gw [serve]   the gateway (gRPC, HTTP with /healthz and /metrics, native)
//	gw backend   a native-only server of the demo file store
//	gw call      a native command-line client
//	gw schema    the served descriptors, for buf breaking
//	gw config    checks a configuration file of gw serve
//
// `gw COMMAND -h` describes each, with an example. Every flag can also be
// given as an environment variable: -grpc-addr is GW_GRPC_ADDR; a flag on
// the command line wins over the environment.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, env: os.LookupEnv}))
}

// stdio is what a command reads and writes, so that tests can run commands
// in process.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
	env func(string) (string, bool)
}

// childStderr is where the processes of an exec: backend write their
// stderr: this process's stderr when it is a file, else nowhere (a test's
// buffer is not safe to share with them).
func childStderr(sio *stdio) io.Writer {
	if f, ok := sio.err.(*os.File); ok {
		return f
	}
	return nil
}

const overview = `gw is framegate's gateway: it serves the endpoints of a native server to
gRPC clients (with server reflection: grpcurl needs no .proto files) and to
REST clients, with health checks and Prometheus metrics.

Commands:
  gw [serve]   run the gateway (the default command)
  gw backend   run a native-only server of the demo file store
  gw call      call a native endpoint from the command line
  gw ws        call a stream of messages over a WebSocket (the HTTP listener)
  gw schema    write the served descriptors (FileDescriptorSet or .proto)
  gw config    check a configuration file (gw config check FILE)
  gw help CMD  describe a command (as gw CMD -h does)
`

// run runs the command line args and returns the exit status: 0 for
// success, 1 for a failure, 2 for a usage error.
func run(args []string, sio *stdio) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(args, sio)
	case "backend":
		return runBackend(args, sio)
	case "call":
		return runCall(args, sio)
	case "ws":
		return runWS(args, sio)
	case "schema":
		return runSchema(args, sio)
	case "config":
		return runConfig(args, sio)
	case "help":
		if len(args) == 0 {
			fmt.Fprint(sio.out, overview)
			return 0
		}
		if args[0] == "help" {
			fmt.Fprint(sio.out, overview)
			return 0
		}
		return run([]string{args[0], "-h"}, sio)
	}
	fmt.Fprintf(sio.err, "gw: unknown command %q\n\n%s", cmd, overview)
	return 2
}
