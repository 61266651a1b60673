package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

const schemaAbout = `Write the protobuf descriptors a gateway serves, so that CI can check an
upgrade with buf breaking or generate clients: a binary FileDescriptorSet
(-format binpb, the default; buf reads files named *.binpb) or .proto source
(-format proto), to -o FILE or stdout.

-addr is either a running gateway's HTTP address (http://host:port or
https://host:port), whose GET /v1/descriptors is read, or a native server in
the forms of gw call (tcp://host:port, tls://host:port, unix:///path,
exec:command), whose schema becomes descriptors exactly as gw serve builds
them. A gateway started with -auth-token-file needs -token-file.

Exit status: 0 on success, 1 on failure, 2 for a usage error.`

const schemaExample = `  gw schema -addr http://localhost:8080 -o served.binpb
  buf breaking served.binpb --against last-release.binpb
  gw schema -addr 'exec:gw backend -stdio -data-dir /srv/files' -format proto`

func runSchema(args []string, sio *stdio) int {
	c := newCommand("schema", "gw schema [flags]", schemaAbout, schemaExample)
	var addr, out, format, tokenFile string
	var timeout time.Duration
	c.fs.StringVar(&addr, "addr", "tcp://127.0.0.1:7070", "gateway `url` (http://, https://) or native server url")
	c.fs.StringVar(&out, "o", "", "write to this `file` instead of stdout")
	c.fs.StringVar(&format, "format", "binpb", "`binpb` (a binary FileDescriptorSet) or proto (.proto source)")
	c.fs.StringVar(&tokenFile, "token-file", "", "bearer token `file` for a gateway's API (its first line)")
	c.fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this `duration`")
	if err := c.parse(args, sio); err != nil {
		return exitCode(err)
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(sio.err, "gw schema: "+format+"\nRun 'gw schema -h' for help.\n", a...)
		return 2
	}
	switch {
	case len(c.fs.Args()) > 0:
		return usage("unexpected arguments %q", c.fs.Args())
	case format != "binpb" && format != "proto":
		return usage("-format %q: want binpb or proto", format)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var set *descriptorpb.FileDescriptorSet
	var err error
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		set, err = gatewayDescriptors(ctx, addr, tokenFile)
	} else {
		var t native.Target
		if t, err = native.ParseTarget(addr); err != nil {
			return usage("-addr %v", err)
		}
		set, err = nativeDescriptors(ctx, t, sio)
	}
	if err == nil {
		err = writeDescriptors(set, format, out, sio.out)
	}
	if err != nil {
		fmt.Fprintf(sio.err, "gw schema: %s\n", errMessage(err))
		return 1
	}
	return 0
}

// gatewayDescriptors reads GET /v1/descriptors of the gateway at base.
func gatewayDescriptors(ctx context.Context, base, tokenFile string) (*descriptorpb.FileDescriptorSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/descriptors", nil)
	if err != nil {
		return nil, err
	}
	if tokenFile != "" {
		tok, err := firstLine(tokenFile)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	const limit = 64 << 20
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s: %.200s", req.URL, resp.Status, b)
	case len(b) > limit:
		return nil, fmt.Errorf("GET %s: the descriptors are over %d bytes", req.URL, limit)
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(b, set); err != nil {
		return nil, fmt.Errorf("GET %s: not a FileDescriptorSet: %v", req.URL, err)
	}
	return set, nil
}

// firstLine returns the first line of a file that is neither blank nor a
// #comment.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return l, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s holds no token", path)
}

// nativeDescriptors describes the native server at t and builds the
// descriptors a gateway would serve for it.
func nativeDescriptors(ctx context.Context, t native.Target, sio *stdio) (*descriptorpb.FileDescriptorSet, error) {
	var tlsCfg *tls.Config
	if t.Scheme == "tls" {
		var err error
		if tlsCfg, err = clientTLS("", "", "", t.Host()); err != nil {
			return nil, err
		}
	}
	stderr := childStderr(sio)
	dial, err := t.Dialer(native.DialOptions{TLS: tlsCfg, Stderr: stderr})
	if err != nil {
		return nil, err
	}
	rwc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	client, err := native.NewClient(rwc)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	g, err := gateway.New(ctx, gateway.Remote(client))
	if err != nil {
		return nil, err
	}
	return g.Descriptors(), nil
}

// writeDescriptors writes set in format to the file out, or to stdout.
func writeDescriptors(set *descriptorpb.FileDescriptorSet, format, out string, stdout io.Writer) error {
	var b []byte
	switch format {
	case "binpb":
		var err error
		if b, err = (proto.MarshalOptions{Deterministic: true}).Marshal(set); err != nil {
			return err
		}
	case "proto":
		files, err := protodesc.NewFiles(set)
		if err != nil {
			return fmt.Errorf("the descriptors do not build: %v", err)
		}
		var sb strings.Builder
		for _, fdp := range set.File {
			if strings.HasPrefix(fdp.GetName(), "google/") {
				continue // imported well-known files; protoc and buf ship them
			}
			fd, err := files.FindFileByPath(fdp.GetName())
			if err != nil {
				return err
			}
			if sb.Len() > 0 {
				sb.WriteString("\n")
			}
			fmt.Fprintf(&sb, "// File %s, as a framegate gateway serves it.\n", fdp.GetName())
			if err := gateway.WriteProto(&sb, fd); err != nil {
				return err
			}
		}
		if sb.Len() == 0 {
			return errors.New("the descriptors hold no file of the gateway")
		}
		b = []byte(sb.String())
	}
	if out == "" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
