// Package jsonstr writes JSON strings and numbers byte for byte as
// encoding/json (Go 1.26) writes Go strings and floats, and reads JSON
// strings as encoding/json/v2 does. native's header and plain struct codecs
// and the gateway's JSON writer share it; their tests compare the output
// with encoding/json.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append appends s quoted as a JSON string: invalid UTF-8 becomes \ufffd,
// U+2028 and U+2029 are escaped, and with escapeHTML (encoding/json's
// default) so are '<', '>' and '&'.
func Append(dst []byte, s string, escapeHTML bool) []byte {
	dst, _ = appendString(dst, s, escapeHTML, false)
	return dst
}

// AppendValid is Append for s that is UTF-8; for s that is not, it
// reports false (what it appended is of no use). encoding/json in Go 1.26
// writes invalid bytes as \ufffd, in 1.27 as a raw U+FFFD: a caller that
// must match its Go's encoding/json byte for byte declines such strings.
func AppendValid(dst []byte, s string, escapeHTML bool) ([]byte, bool) {
	return appendString(dst, s, escapeHTML, true)
}

func appendString(dst []byte, s string, escapeHTML, refuseInvalid bool) ([]byte, bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if refuseInvalid {
				return dst, false
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), true
}
