package native

// The JSON scanner that the header codec (headerdecode.go) and the plain
// struct codec (plaindecode.go) share: whitespace, literals, strings,
// numbers, and skipping a value, over one byte slice, with errors that
// name the offset and quote a few bytes of what was found.

import (
	"encoding/binary"
	"fmt"
	"math/bits"
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
		if d.i+8 <= len(d.b) {
			// Eight bytes at a time, to the first that is not plain.
			m := specialBytes(binary.LittleEndian.Uint64(d.b[d.i:]))
			if m == 0 {
				d.i += 8
				continue
			}
			d.i += bits.TrailingZeros64(m) >> 3
		} else if printableASCII[d.b[d.i]] {
			d.i++
			continue
		}
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], plain, nil
		case c == '\\':
			plain = false
			d.i += 2
		case c < 0x20:
			return nil, false, d.errorf("control character %#x in a string", c)
		default: // from 0x80
			plain = false
			d.i++
		}
	}
	return nil, false, d.errorf("unterminated string")
}

// specialBytes marks, in the high bit of each byte of its result, the
// bytes of x (little-endian) that are not printableASCII: below 0x20, from
// 0x80, a quote or a backslash. It is the classic haszero and hasless of
// "Bit Twiddling Hacks", which are exact for the lowest byte they mark
// (a borrow runs only upward): the lowest mark is the first such byte.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := x^(ones*'"'), x^(ones*'\\')
	m := (x - ones*0x20) & ^x // below 0x20
	m |= (q - ones) & ^q      // a quote
	m |= (bs - ones) & ^bs    // a backslash
	return (m | x) & highs    // x: from 0x80
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
