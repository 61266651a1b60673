package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSchemaCommandErrors checks gw schema's usage errors and a failure to
// reach the server; the README test runs its successful forms against a
// real gateway and buf.
func TestSchemaCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-format", "xml"}, 2, `-format "xml": want binpb or proto`},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"-addr", "ftp://x:1"}, 2, "unknown scheme"},
		{[]string{"-addr", "http://127.0.0.1:1", "-timeout", "5s"}, 1, "gw schema: "},
		{[]string{"-addr", "tcp://127.0.0.1:1", "-timeout", "5s"}, 1, "gw schema: "},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"schema"}, c.args...), &stdio{in: strings.NewReader(""), out: &out, err: &errb})
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("gw schema %q = %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}
