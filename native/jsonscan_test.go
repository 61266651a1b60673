package native

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// specialBytes must find the first byte of a word that is not plain, for
// words made mostly of the bytes around its thresholds.
func TestSpecialBytesFindsTheFirst(t *testing.T) {
	edges := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7e, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xdf, 0xe0, 0xfe, 0xff, 'a'}
	rng := rand.New(rand.NewPCG(1, 2))
	var w [8]byte
	for range 200000 {
		for i := range w {
			if rng.IntN(4) == 0 {
				w[i] = byte(rng.IntN(256))
			} else {
				w[i] = edges[rng.IntN(len(edges))]
			}
		}
		want := 8
		for i, c := range w {
			if !printableASCII[c] {
				want = i
				break
			}
		}
		m := specialBytes(binary.LittleEndian.Uint64(w[:]))
		if got := bits.TrailingZeros64(m) >> 3; got != want {
			t.Fatalf("% x: first special byte at %d, want %d", w, got, want)
		}
	}
}

// quoted reads strings of every length the same, with the word loop and
// the byte loop meeting anywhere in them.
func TestQuotedEveryLength(t *testing.T) {
	for n := range 40 {
		for _, tail := range []string{"", `,"x":1}`} {
			for _, c := range []string{"a", `\"`, "é", "\x01"} {
				body := ""
				for len(body) < n {
					body += "a"
				}
				if n > 0 {
					body = body[:n/2] + c + body[n/2:]
				}
				d := headerDecoder{b: []byte(`"` + body + `"` + tail)}
				raw, plain, err := d.quoted()
				switch {
				case c == "\x01" && n > 0:
					if err == nil {
						t.Fatalf("%q: no error for a control character", d.b)
					}
				case err != nil:
					t.Fatalf("%q: %v", d.b, err)
				case string(raw) != body || plain != (c == "a" || n == 0) || d.i != len(body)+2:
					t.Fatalf("%q: got %q plain %v at %d", d.b, raw, plain, d.i)
				}
			}
		}
	}
}
