package jsonstr

import (
	jsonv2 "encoding/json/v2"
	"testing"
)

// FuzzAppendUnquoted compares AppendUnquoted with encoding/json/v2, whose
// default refuses invalid UTF-8 and lone surrogates, on the text between
// the quotes of a JSON string.
func FuzzAppendUnquoted(f *testing.F) {
	for _, s := range []string{
		`plain`, `caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t`, `\u003c\u0026\u2028`,
		`\ud800`, `\udc00\ud800`, `\ud800\u0041`, `\x`, `\u12`, "\xff", `\`, `日本`, `\uD83D\uDE00`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, c := range raw {
			if c < 0x20 || c == '"' {
				return // the scanner ends or refuses the string there
			}
		}
		got, ok := AppendUnquoted(nil, raw)
		var want string
		err := jsonv2.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &want)
		switch {
		case ok && err != nil:
			t.Fatalf("%q: unquoted to %q, v2 failed: %v", raw, got, err)
		case !ok && err == nil:
			t.Fatalf("%q: refused, v2 unquoted to %q", raw, want)
		case ok && string(got) != want:
			t.Fatalf("%q: unquoted to %q, v2 to %q", raw, got, want)
		}
	})
}
