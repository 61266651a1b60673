// Package benchkit holds what make bench (./bench), make load
// (./bench/load) and make hostile (./bench/hostile) share: a stream source
// over pre-filled memory, the process's peak RSS, a byte-size flag, and the
// median and range of repeated measurements.
package benchkit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
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
func VmHWM() (float64, error) { return StatusMiB("self", "VmHWM") }

// StatusMiB is a memory field of /proc/PID/status (VmRSS, VmHWM) of the
// process pid ("self" for this one), in MiB.
func StatusMiB(pid, field string) (float64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%s/status", field, pid)
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

// Median of v (the mean of the middle two for an even count); NaN if empty.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	n := len(s)
	return (s[n/2-1] + s[n/2]) / 2
}

// MinMax is the smallest and largest of v; NaN, NaN if empty.
func MinMax(v []float64) (lo, hi float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(v), slices.Max(v)
}

// SizeName prints a byte count briefly: 4MiB, 16KiB, 1000B.
func SizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// WriteJSON writes v to path as indented JSON (a results file).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
