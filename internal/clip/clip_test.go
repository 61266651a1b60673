package clip

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":                            `""`,
		"short":                       `"short"`,
		strings.Repeat("a", Max):      `"` + strings.Repeat("a", Max) + `"`,
		strings.Repeat("a", 3e6):      `"` + strings.Repeat("a", Max) + `"... (3000000 bytes)`,
		strings.Repeat("é", 40):       `"` + strings.Repeat("é", 32) + `"... (80 bytes)`,
		"a" + strings.Repeat("é", 40): `"a` + strings.Repeat("é", 31) + `"... (81 bytes)`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%d bytes) = %s; want %s", len(in), got, want)
		}
	}
}

func TestText(t *testing.T) {
	if got := Text("json: cannot unmarshal number 1"+strings.Repeat("9", 1e5), 40); got != "json: cannot unmarshal number 1999999999... (100031 bytes)" {
		t.Errorf("Text = %q", got)
	}
	if got := Text("short", 40); got != "short" {
		t.Errorf("Text = %q", got)
	}
}
