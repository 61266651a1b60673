package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
)

// sweepCandidates are the grpc-go settings -grpc-sweep tries; grpcBest is
// set from its results.
var sweepCandidates = []grpcSettings{
	grpcDefaults,
	{name: "win16M", window: 16 << 20, connWin: 16 << 20, recvMsg: 64 << 20},
	{name: "win64M", window: 64 << 20, connWin: 64 << 20, recvMsg: 64 << 20},
	{name: "buf1M", writeBuf: 1 << 20, rdBuf: 1 << 20, recvMsg: 64 << 20},
	{name: "win16M+buf256K", window: 16 << 20, connWin: 16 << 20, writeBuf: 256 << 10, rdBuf: 256 << 10, recvMsg: 64 << 20},
	{name: "win16M+buf1M", window: 16 << 20, connWin: 16 << 20, writeBuf: 1 << 20, rdBuf: 1 << 20, recvMsg: 64 << 20},
	{name: "win16M+buf1M+unshared", window: 16 << 20, connWin: 16 << 20, writeBuf: 1 << 20, rdBuf: 1 << 20, recvMsg: 64 << 20, sharedWriteBufOf: true},
	{name: "win16M+wbuf0+rbuf1M", window: 16 << 20, connWin: 16 << 20, writeBuf: -1, rdBuf: 1 << 20, recvMsg: 64 << 20},
	{name: "win64M+buf4M", window: 64 << 20, connWin: 64 << 20, writeBuf: 4 << 20, rdBuf: 4 << 20, recvMsg: 64 << 20},
	{name: "win64M+wbuf0+rbuf4M", window: 64 << 20, connWin: 64 << 20, writeBuf: -1, rdBuf: 4 << 20, recvMsg: 64 << 20},
	{name: "win64M+buf1M", window: 64 << 20, connWin: 64 << 20, writeBuf: 1 << 20, rdBuf: 1 << 20, recvMsg: 64 << 20},
}

// sweepGRPC measures every candidate on both transports with 1 MiB and
// 256 KiB messages, rounds interleaved, and prints the medians. -only
// selects candidates by name.
func sweepGRPC(cfg *config, stdout, stderr io.Writer) error {
	var cands []grpcSettings
	for _, c := range sweepCandidates {
		if cfg.only.MatchString(c.name) {
			cands = append(cands, c)
		}
	}
	type key struct {
		cand      int
		transport string
		size      int
	}
	vals := map[key][]float64{}
	for i := range cfg.rounds {
		for _, t := range []string{"unix", "tcp"} {
			for _, size := range []int{1 << 20, 256 << 10} {
				for ci, c := range cands {
					runtime.GC()
					r := &round{index: i, cfg: cfg, name: c.name}
					v, err := grpcStream(r, t, size, c)
					if err != nil {
						return fmt.Errorf("%s %s %s: %w", c.name, t, sizeName(size), err)
					}
					k := key{ci, t, size}
					vals[k] = append(vals[k], v)
					fmt.Fprintf(stderr, "round %d  %-5s %-7s %-24s %.2f GiB/s\n", i+1, t, sizeName(size), c.name, v)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "%-24s %12s %12s %12s %12s   (GiB/s, median of %d)\n", "settings", "unix/1MiB", "unix/256KiB", "tcp/1MiB", "tcp/256KiB", cfg.rounds)
	for ci, c := range cands {
		fmt.Fprintf(stdout, "%-24s", c.name)
		for _, t := range []string{"unix", "tcp"} {
			for _, size := range []int{1 << 20, 256 << 10} {
				v := vals[key{ci, t, size}]
				lo, hi := slices.Min(v), slices.Max(v)
				fmt.Fprintf(stdout, " %5.2f(%4.2f-%4.2f)", median(v), lo, hi)
			}
		}
		fmt.Fprintf(stdout, "\n    %s\n", c)
	}
	return nil
}
