package native

import (
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		spec          string
		size          int64
		start, length int64
		ok, err       bool
	}{
		{"bytes=0-0", 10, 0, 1, true, false},
		{"bytes=0-", 10, 0, 10, true, false},
		{"bytes=3-5", 10, 3, 3, true, false},
		{"bytes=3-500", 10, 3, 7, true, false},
		{"bytes=-3", 10, 7, 3, true, false},
		{"bytes=-300", 10, 0, 10, true, false},
		{"bytes= 2-3", 10, 2, 2, true, false},
		{"bytes=10-", 10, 0, 0, false, true},
		{"bytes=10-20", 10, 0, 0, false, true},
		{"bytes=-0", 10, 0, 0, false, true},
		{"bytes=0-", 0, 0, 0, false, true},
		{"bytes=5-3", 10, 0, 0, false, false},
		{"bytes=1-2,4-5", 10, 0, 0, false, false},
		{"bytes=+1-2", 10, 0, 0, false, false},
		{"bytes=1", 10, 0, 0, false, false},
		{"bytes=-", 10, 0, 0, false, false},
		{"bytes=99999999999999999999-", 10, 0, 0, false, false},
		{"items=0-1", 10, 0, 0, false, false},
		{"", 10, 0, 0, false, false},
	} {
		start, length, ok, err := parseRange(tc.spec, tc.size)
		if start != tc.start || length != tc.length || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v; want %d, %d, %v, error %v", tc.spec, tc.size, start, length, ok, err, tc.start, tc.length, tc.ok, tc.err)
		}
	}
}

// FuzzParseRange: a range accepted is a non-empty part of the resource.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=9-1", "bytes=0-1,2-3", "bytes=00000000000000000001-2", "bytes=-9223372036854775807", "bytes=9223372036854775806-9223372036854775807"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 {
			return
		}
		start, length, ok, err := parseRange(spec, size)
		if ok && (err != nil || start < 0 || length < 1 || start > size-length) {
			t.Fatalf("parseRange(%q, %d) = %d, %d, %v, %v", spec, size, start, length, ok, err)
		}
		if ok && !strings.HasPrefix(spec, "bytes=") {
			t.Fatalf("parseRange(%q) accepted another unit", spec)
		}
		if err != nil && len(err.Error()) > 100 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}
