// Package clip shortens client input before an error or a log line quotes
// it: a peer that sends a 3 MB name must not get a 3 MB error back, nor
// write a 3 MB log line.
package clip

import (
	"strconv"
	"unicode/utf8"
)

// Max is how many bytes of client input Quote keeps.
const Max = 64

// Quote returns s quoted as strconv.Quote does; past Max bytes it keeps
// the first Max (cut at a rune boundary) and says how long s was:
// "aaaa..." (3000000 bytes).
func Quote(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	return strconv.Quote(prefix(s, Max)) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// Text returns s, or past n bytes its first n (cut at a rune boundary) and
// how long s was: for messages that already embed client input, such as
// a JSON decoder's error.
func Text(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return prefix(s, n) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// prefix is s cut to at most n bytes without splitting a rune.
func prefix(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
