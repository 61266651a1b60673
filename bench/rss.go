package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/framegate/framegate/bench/internal/benchkit"
)

// Peak memory of a long stream: the harness re-runs itself with -rss-child
// so the measurement starts in a fresh process; the child streams
// -rss-bytes (10 GiB) through native over a socketpair in one call and
// reports its peak RSS (VmHWM).

func init() {
	register(contender{name: "rss/native/unix/10GiB", unit: "MiB", order: 900, heavy: true,
		target: lessThan(64), run: rssRow})
}

type rssResult struct {
	BaseMiB float64 `json:"base_mib"` // VmHWM after setup and one 1 MiB call
	PeakMiB float64 `json:"peak_mib"` // VmHWM after the stream
	GiBps   float64 `json:"gib_s"`
}

func rssRow(r *round) (float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(exe, "-rss-child", "-rss-bytes", strconv.FormatInt(r.cfg.rssBytes, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ps := cmd.ProcessState; ps != nil {
		r.childCPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return 0, fmt.Errorf("%s -rss-child: %w: %s", exe, err, stderr.String())
	}
	var res rssResult
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("-rss-child printed %q: %w", out, err)
	}
	r.record("baseline", "MiB", res.BaseMiB)
	r.record("rate", "GiB/s", res.GiBps)
	return res.PeakMiB, nil
}

// rssChild is the child's side: it writes one rssResult as JSON to w.
func rssChild(n int64, w io.Writer) error {
	ns, err := startNative("unix")
	if err != nil {
		return err
	}
	buf := make([]byte, chunk)
	if err := nativeGet(ns.client, chunk, buf, false); err != nil {
		return errors.Join(err, ns.close())
	}
	base, err := benchkit.VmHWM()
	if err != nil {
		return errors.Join(err, ns.close())
	}
	t0 := time.Now()
	if err := nativeGet(ns.client, n, buf, false); err != nil {
		return errors.Join(err, ns.close())
	}
	el := time.Since(t0)
	peak, err := benchkit.VmHWM()
	if err := errors.Join(err, ns.close()); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(rssResult{BaseMiB: base, PeakMiB: peak, GiBps: float64(n) / (1 << 30) / el.Seconds()})
}
