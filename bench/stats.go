package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

// median of v (the mean of the middle two for an even count); NaN if empty.
func median(v []float64) float64 { return benchkit.Median(v) }

func minMax(v []float64) (lo, hi float64) { return benchkit.MinMax(v) }

// percentile of sorted latencies by nearest rank, p in (0, 100].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// summary is one row of the table and of the JSON file.
type summary struct {
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Ratio   bool      `json:"ratio,omitempty"`
	Target  string    `json:"target,omitempty"`
	Pass    *bool     `json:"pass,omitempty"`
	Samples []float64 `json:"samples"` // per round; null where not measured
}

func summarize(rs *results) []summary {
	var out []summary
	for _, s := range rs.order {
		v := s.measured()
		if len(v) == 0 {
			continue
		}
		lo, hi := minMax(v)
		sm := summary{Name: s.name, Unit: s.unit, Median: median(v), Min: lo, Max: hi, Ratio: s.ratio}
		for _, x := range s.values {
			sm.Samples = append(sm.Samples, x)
		}
		if s.target != nil {
			sm.Target = s.target.String()
			pass := s.target.met(sm.Median)
			sm.Pass = &pass
		}
		out = append(out, sm)
	}
	return out
}

// fmtVal prints a value with about three significant digits.
func fmtVal(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// printTable prints the rows, then the ratios.
func printTable(w io.Writer, sums []summary) {
	width := len("row")
	for _, s := range sums {
		width = max(width, len(s.Name))
	}
	line := func(name, unit, med, lo, hi, tgt string) {
		fmt.Fprintf(w, "%-*s  %-10s %10s %10s %10s   %s\n", width, name, unit, med, lo, hi, tgt)
	}
	section := func(title string, ratio bool) {
		if !slices.ContainsFunc(sums, func(s summary) bool { return s.Ratio == ratio }) {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		line("name", "unit", "median", "min", "max", "target")
		fmt.Fprintln(w, strings.Repeat("-", width+50))
		for _, s := range sums {
			if s.Ratio != ratio {
				continue
			}
			tgt := ""
			if s.Pass != nil {
				tgt = s.Target + "  " + map[bool]string{true: "PASS", false: "FAIL"}[*s.Pass]
			}
			line(s.Name, s.Unit, fmtVal(s.Median), fmtVal(s.Min), fmtVal(s.Max), tgt)
		}
	}
	section("Rows (median and min-max over rounds)", false)
	section("Ratios (computed per round, then median and min-max)", true)
}

// report is the JSON file.
type report struct {
	Meta map[string]any `json:"meta"`
	Rows []summary      `json:"rows"`
}

// nanJSON: JSON has no NaN; samples not measured become null.
func (s summary) MarshalJSON() ([]byte, error) {
	type plain summary
	p := plain(s)
	samples := make([]*float64, len(s.Samples))
	for i := range s.Samples {
		if !math.IsNaN(s.Samples[i]) {
			samples[i] = &s.Samples[i]
		}
	}
	p.Samples = nil
	b, err := json.Marshal(struct {
		plain
		Samples []*float64 `json:"samples"`
	}{p, samples})
	return b, err
}

func writeJSON(path string, meta map[string]any, sums []summary) error {
	b, err := json.MarshalIndent(report{Meta: meta, Rows: sums}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
