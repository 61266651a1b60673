package main

// The configuration file of gw serve (-config FILE): a YAML mapping whose
// keys are the names of gw serve's flags, without the dash:
//
//	grpc-addr: 0.0.0.0:9090
//	backend:
//	  - tcp://10.0.0.1:7071,tcp://10.0.0.2:7071
//	  - dns:///notes.default.svc.cluster.local:7071
//	max-calls: 2048
//	tls-cert: /etc/gw/tls.crt
//
// A flag given several times (backend, cors-origin, allowed-host) takes a
// list or one value. A value on the command line wins over the
// environment (GW_*), which wins over the file, which wins over the
// default. An unknown key, a key given twice, a value of the wrong kind
// and a value its flag refuses are errors naming the file, the line and
// the key. `gw config check FILE` reads a file as gw serve would, and
// checks what it names (certificates, token file, backends) without
// serving.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// maxConfigSize bounds a configuration file: far above any real one.
const maxConfigSize = 1 << 20

// configValue is one key of a configuration file and its values (several
// for a list).
type configValue struct {
	key    string
	values []string
	line   int
}

// readConfig reads a configuration file into its keys, in order.
func readConfig(file string) ([]configValue, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("-config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("-config: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("-config %s: larger than %d bytes", file, maxConfigSize)
	}
	return parseConfig(file, data)
}

// parseConfig parses the YAML of a configuration file named file.
func parseConfig(file string, data []byte) ([]configValue, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("-config %s: %w", file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // only comments
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("-config %s line %d: want a mapping of flag names to values", file, root.Line)
	}
	var out []configValue
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("-config %s line %d: a key must be a flag name", file, k.Line)
		}
		key := k.Value
		if line, ok := seen[key]; ok {
			return nil, fmt.Errorf("-config %s line %d: key %s given twice (first on line %d)", file, k.Line, quoteKey(key), line)
		}
		seen[key] = k.Line
		cv := configValue{key: key, line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("-config %s line %d: key %s has no value (write \"\" for an empty one)", file, v.Line, quoteKey(key))
			}
			cv.values = []string{v.Value}
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
					return nil, fmt.Errorf("-config %s line %d: key %s: a list item must be a value", file, item.Line, quoteKey(key))
				}
				cv.values = append(cv.values, item.Value)
			}
			cv.values = slices.Clip(cv.values)
		default:
			return nil, fmt.Errorf("-config %s line %d: key %s: want a value or a list of values", file, v.Line, quoteKey(key))
		}
		out = append(out, cv)
	}
	return out, nil
}

// quoteKey quotes a key of a configuration file in an error, capped.
func quoteKey(k string) string {
	if len(k) > 64 {
		k = k[:64] + "..."
	}
	return fmt.Sprintf("%q", k)
}

// listFlags are the flags a configuration file may give a list.
var listFlags = map[string]bool{"backend": true, "cors-origin": true, "allowed-host": true}

// applyConfig sets from the file's values every flag of c that the command
// line and the environment did not set.
func (c *command) applyConfig(file string, values []configValue) error {
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, cv := range values {
		fl := c.fs.Lookup(cv.key)
		if fl == nil || c.hidden[cv.key] || cv.key == "config" {
			return fmt.Errorf("-config %s line %d: unknown key %s: not a flag of %s", file, cv.line, quoteKey(cv.key), c.fs.Name())
		}
		if len(cv.values) != 1 && !listFlags[cv.key] {
			return fmt.Errorf("-config %s line %d: key %s takes one value, not a list", file, cv.line, quoteKey(cv.key))
		}
		if given[cv.key] {
			continue
		}
		for _, v := range cv.values {
			if err := c.fs.Set(cv.key, v); err != nil {
				return fmt.Errorf("-config %s line %d: invalid value %q for key %s: %v", file, cv.line, clipValue(v), cv.key, err)
			}
		}
	}
	return nil
}

// clipValue caps a value quoted in an error.
func clipValue(v string) string {
	if len(v) > 128 {
		return v[:128] + "..."
	}
	return v
}

// parseServe parses gw serve's command line, then the environment, then
// the -config file if one is given: the flags of one configuration. A
// usage error is printed to sio.err (errHelp, errUsage); an error of the
// file is returned for the caller to print.
func parseServe(args []string, sio *stdio) (*serveFlags, *command, error) {
	f := new(serveFlags)
	c := newServeCommand(f)
	if err := c.parse(args, sio); err != nil {
		return nil, nil, err
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(sio.err, "gw serve: unexpected arguments %q\nRun 'gw serve -h' for help.\n", c.fs.Args())
		return nil, nil, errUsage
	}
	if f.configFile != "" {
		values, err := readConfig(f.configFile)
		if err == nil {
			err = c.applyConfig(f.configFile, values)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return f, c, nil
}

const configAbout = `Check a configuration file of gw serve (-config FILE) without serving:
its keys and values, as gw serve reads them, and what they name: the TLS
certificate and key, the CA certificates, the token file, the -backend
values, the addresses and the limits. It prints "FILE: ok" and exits 0, or
prints what is wrong and exits 1.

The file is a YAML mapping of gw serve's flag names (without the dash) to
values; backend, cors-origin and allowed-host take a list. The command line
and the environment (GW_*) win over the file. gw serve reads the file again
on SIGHUP, and when it or a file it names changes: see gw serve -h.`

const configExample = `  printf 'grpc-addr: 127.0.0.1:9090\nbackend: [tcp://127.0.0.1:7071]\nmax-calls: 2048\n' > gw.yaml
  gw config check gw.yaml
  gw serve -config gw.yaml`

// runConfig runs gw config check FILE.
func runConfig(args []string, sio *stdio) int {
	c := newCommand("config", "gw config check FILE", configAbout, configExample)
	if err := c.parse(args, sio); err != nil {
		return exitCode(err)
	}
	if c.fs.NArg() != 2 || c.fs.Arg(0) != "check" {
		fmt.Fprintf(sio.err, "gw config: want: gw config check FILE\nRun 'gw config -h' for help.\n")
		return 2
	}
	file := c.fs.Arg(1)
	// The file alone, as gw serve reads it without flags or environment.
	var errs bytes.Buffer
	f, _, err := parseServe([]string{"-config", file}, &stdio{out: io.Discard, err: &errs})
	if err == nil {
		_, err = f.load(slog.New(slog.DiscardHandler))
	} else if errs.Len() > 0 {
		err = errors.New(strings.TrimSpace(errs.String()))
	}
	if err != nil {
		fmt.Fprintf(sio.err, "gw config check: %v\n", err)
		return 1
	}
	fmt.Fprintf(sio.out, "%s: ok\n", file)
	return 0
}
