package main

// The clients of a scenario can run in a child process (-clients-apart,
// the default), so that the peak RSS of this process is the gateway's and
// the backend's own: in one process it also counts the clients' receive
// windows and buffers, which grow with the clients' pace, not the
// gateway's. The child is this executable again, told what to do by the
// environment variable clientChildEnv; it warms its client up, says
// "ready", waits for a line on stdin, drives the load and writes what it
// measured (a driven) as JSON.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// clientChildEnv carries a clientJob to the child.
const clientChildEnv = "FRAMEGATE_LOAD_CLIENT"

// clientJob is what the child needs of the scenario and the config.
type clientJob struct {
	Protocol   string        `json:"protocol"`
	GRPCAddr   string        `json:"grpc_addr"`
	HTTPBase   string        `json:"http_base"`
	Streams    int           `json:"streams"`
	StreamSize int64         `json:"stream_size"`
	Callers    int           `json:"callers"`
	Duration   time.Duration `json:"duration"`
	Grace      time.Duration `json:"grace"`
	Timeline   bool          `json:"timeline"`
}

// driveApart runs the clients of protocol in a child process, calling
// start once they are warmed up.
func driveApart(e *env, protocol string, cfg *config, start func()) (driven, error) {
	exe, err := os.Executable()
	if err != nil {
		return driven{}, err
	}
	job, err := json.Marshal(clientJob{Protocol: protocol, GRPCAddr: e.grpcAddr, HTTPBase: e.httpBase, Streams: cfg.streams,
		StreamSize: cfg.streamSize, Callers: cfg.callers, Duration: cfg.duration, Grace: cfg.grace, Timeline: cfg.timeline})
	if err != nil {
		return driven{}, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), clientChildEnv+"="+string(job))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return driven{}, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return driven{}, err
	}
	if err := cmd.Start(); err != nil {
		return driven{}, err
	}
	fail := func(err error) (driven, error) {
		in.Close()
		return driven{}, errors.Join(err, cmd.Wait(), childErr("client process", stderr.String()))
	}
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		return fail(fmt.Errorf("client process: %q before ready: %v", line, err))
	}
	start()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		return fail(err)
	}
	var d driven
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return fail(fmt.Errorf("client process: %w", err))
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return d, errors.Join(err, childErr("client process", stderr.String()))
	}
	return d, nil
}

// childErr is what the child who wrote to stderr, as an error (nil if
// nothing).
func childErr(who, s string) error {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return errors.New(who + ": " + s)
}

// clientChild is the child's side: if clientChildEnv is set, it runs the
// job it describes and returns the exit code and true.
func clientChild(stdin io.Reader, stdout, stderr io.Writer) (int, bool) {
	v, ok := os.LookupEnv(clientChildEnv)
	if !ok {
		return 0, false
	}
	if err := runClientJob(v, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1, true
	}
	return 0, true
}

func runClientJob(v string, stdin io.Reader, stdout io.Writer) error {
	var job clientJob
	if err := json.Unmarshal([]byte(v), &job); err != nil {
		return fmt.Errorf("%s: %w", clientChildEnv, err)
	}
	cfg := &config{streams: job.Streams, streamSize: job.StreamSize, callers: job.Callers, duration: job.Duration, grace: job.Grace, timeline: job.Timeline}
	c, err := warmClient(&env{cfg: cfg, grpcAddr: job.GRPCAddr, httpBase: job.HTTPBase}, job.Protocol, cfg)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, "ready\n"); err != nil {
		return errors.Join(err, c.close())
	}
	if _, err := bufio.NewReader(stdin).ReadString('\n'); err != nil {
		return errors.Join(fmt.Errorf("waiting for go: %w", err), c.close())
	}
	resetPeakRSS()
	d := drive(c, cfg)
	return errors.Join(json.NewEncoder(stdout).Encode(d), c.close())
}
