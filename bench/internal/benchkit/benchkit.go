// Package benchkit holds what make bench (./bench) and make load
// (./bench/load) both need: a stream source over pre-filled memory, and the
// process's peak RSS.
package benchkit

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
)

// PatternReader yields Left bytes of Pattern from offset Off, over and over.
// Read copies into p (the copy any io.Reader source costs); it has no
// WriteTo, so io.Copy and native both see a plain reader.
type PatternReader struct {
	Pattern []byte
	Left    int64
	Off     int
}

func (r *PatternReader) Read(p []byte) (int, error) {
	if r.Left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.Left {
		p = p[:r.Left]
	}
	n := copy(p, r.Pattern[r.Off:])
	r.Off = (r.Off + n) % len(r.Pattern)
	r.Left -= int64(n)
	return n, nil
}

// VmHWM is this process's peak resident set size in MiB.
func VmHWM() (float64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
