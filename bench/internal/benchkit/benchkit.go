// Package benchkit holds what make bench (./bench) and make load
// (./bench/load) both need: a stream source over pre-filled memory, the
// process's peak RSS, and a byte-size flag.
package benchkit

import (
	"bufio"
	"errors"
	"fmt"
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

// ByteSize is a flag value such as 2GiB, 64MiB, 1.5G or 1048576.
type ByteSize int64

func (b *ByteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *ByteSize) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return fmt.Errorf("bad size %q (want e.g. 2GiB, 64MiB, 1048576)", s)
	}
	*b = ByteSize(v * float64(mult))
	return nil
}
