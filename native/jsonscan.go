package native

// The JSON scanner that the header codec (headerdecode.go) and the plain
// struct codec (plaindecode.go) share: whitespace, literals, strings,
// numbers, and skipping a value, over one byte slice, with errors that
// name the offset and quote a few bytes of what was found.

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// headerDecoder reads one JSON document from b.
type headerDecoder struct {
	b []byte
	i int
}

func (d *headerDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{d.i}, args...)...)
}

// found quotes the input at the current position, for an error message.
func (d *headerDecoder) found() string {
	rest := d.b[d.i:]
	if len(rest) > 16 {
		return strconv.Quote(string(rest[:16])) + "..."
	}
	return strconv.Quote(string(rest))
}

func (d *headerDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (d *headerDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// literal consumes lit (null, true or false) at the current position.
func (d *headerDecoder) literal(lit string) bool {
	if d.peek() == lit[0] && len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// quoted consumes the string whose opening quote is at the current
// position and returns the bytes between its quotes; plain says they are
// printable ASCII without escapes, the string's value as it is.
func (d *headerDecoder) quoted() (raw []byte, plain bool, err error) {
	d.i++
	start := d.i
	plain = true
	for d.i < len(d.b) {
		c := d.b[d.i]
		if printableASCII[c] {
			d.i++
			continue
		}
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], plain, nil
		case c == '\\':
			plain = false
			d.i += 2
		case c < 0x20:
			return nil, false, d.errorf("control character %#x in a string", c)
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			d.i++
		}
	}
	return nil, false, d.errorf("unterminated string")
}

// printableASCII holds the bytes that stand for themselves in a JSON string:
// printable ASCII but the quote and the backslash.
var printableASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// number returns the text of a JSON number, checked against the grammar.
func (d *headerDecoder) number() ([]byte, error) {
	d.ws()
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	intStart := d.i
	n := digits()
	if n == 0 || (n > 1 && d.b[intStart] == '0') {
		return nil, d.errorf("invalid number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	return d.b[start:d.i], nil
}

// skip consumes and checks one value of any kind (an unknown key's).
func (d *headerDecoder) skip() error {
	return d.skipDepth(0)
}

// maxSkipDepth bounds the nesting of an unknown value (encoding/json allows
// 10000; a header has no reason to nest at all).
const maxSkipDepth = 64

func (d *headerDecoder) skipDepth(depth int) error {
	if depth > maxSkipDepth {
		return d.errorf("value nested deeper than %d", maxSkipDepth)
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		if d.peek() == end {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if d.peek() != '"' {
					return d.errorf("want an object key")
				}
				if _, err := d.str(); err != nil {
					return err
				}
				if d.peek() != ':' {
					return d.errorf("want ':'")
				}
				d.i++
			}
			if err := d.skipDepth(depth + 1); err != nil {
				return err
			}
			next := d.peek()
			d.i++
			if next == end {
				return nil
			}
			if next != ',' {
				d.i--
				return d.errorf("want ',' or %q", end)
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := d.number()
		return err
	case d.literal("null"), d.literal("true"), d.literal("false"):
		return nil
	default:
		return d.errorf("want a JSON value")
	}
}
