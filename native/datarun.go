package native

// A stream's DATA on a shared connection: runs of frames in one write.
//
// Beside other calls a stream's DATA frames are cut to sharedQuantum
// (flow.go), so that a small call's answer waits for one frame at most.
// Written one frame per write(2), a 1 MiB chunk was eight writes and, as
// the socket filled, as many waits for room: over a unix socketpair 16
// write(2)s and 16 readv(2)s per MiB against 10 with whole chunks (perf
// stat of mux/stream-alone with the quantum forced), 5% of the stream's
// GiB/s. A run writes the chunk's frames with writev(2), the rest of the
// frame being written and the next one, and lets go of the write lock at
// the first frame boundary after someone came to wait for it.
//
// Measured with the builds alternated (bench -only '^mux/', 3 rounds, two
// runs each; stream beside the calls over alone, small calls' p99 beside
// over alone): frame by frame 0.793 and 0.790, 3.44x and 2.80x; runs of
// two frames 0.826 and 0.818, 4.35x and 4.17x (the p99 beside the stream
// 285-320 us either way; the p99 alone moved). With no bound on the frames
// of one writev the socket took up to its whole buffer at once, and the
// small calls' p99 went to 2.7 ms in some rounds.
//
// The cost is the small calls': a request or answer that comes while a
// writev is under way waits for the frame it ended in, now and then the
// second. Six runs more of each build (3 rounds): beside a download, the
// calls' p50 62-67 us frame by frame against 70-74 in runs, the download
// 0.79-0.82 of alone against 0.82-0.83; beside an upload, p50 77-88 us
// against 100-112, the upload 4.1-4.3 GiB/s against 4.3-4.6. Writevs
// capped at 128 KiB kept the latencies and lost the gain (0.76-0.78), as
// did 96 KiB frames in runs (0.78-0.79). The writer decides whether the
// next frame goes too when the socket has room, not before it waits for
// room (vecSource): a call that came meanwhile waits for one frame. Beside
// an upload the calls' p50 went from 118-120 to 101-105 us (three
// alternated runs), the rest within the spread.

import (
	"sync"
)

// vecWriter writes several buffers in order with one write of the
// transport: it returns once at least one byte went, as much as the
// transport took, as a short Write would. It asks src for the buffers when
// the transport has room, each time it tries.
type vecWriter interface {
	writeFrom(src vecSource) (int, error)
}

// vecSource gives the buffers of a vectored write as they are now.
type vecSource interface {
	vecs() [][]byte
}

// maxRunFrames bounds the frames of one run (a credit taken at once), and
// runAhead those of one writev.
const (
	maxRunFrames = 16
	runAhead     = 2
)

// dataRun is a run's scratch: the frame headers and the buffers of a
// writev. Pooled: the writev's iovecs point at them, so they live on the
// heap, and one per run would be an allocation per chunk.
type dataRun struct {
	hdrs [maxRunFrames][FrameHeaderLen]byte
	bufs [2 * maxRunFrames][]byte

	w      *wire
	p      []byte // the run's payload
	frames int
	i      int // the frame being written
	done   int // bytes of frame i written, its header's first
}

// payload is frame i's payload.
func (r *dataRun) payload(i int) []byte {
	return r.p[i*sharedQuantum : min(len(r.p), (i+1)*sharedQuantum)]
}

// vecs gives the rest of frame i and, unless someone waits for the write
// lock, the frame after it (runAhead). The writer asks when the socket has
// room, so a call that came to wait meanwhile waits for frame i only.
func (r *dataRun) vecs() [][]byte {
	bufs := r.bufs[:0]
	if r.done < FrameHeaderLen {
		bufs = append(bufs, r.hdrs[r.i][r.done:], r.payload(r.i))
	} else {
		bufs = append(bufs, r.payload(r.i)[r.done-FrameHeaderLen:])
	}
	last := r.i + 1
	if !r.w.contended() {
		last = min(r.frames, r.i+runAhead)
	}
	for j := r.i + 1; j < last; j++ {
		bufs = append(bufs, r.hdrs[j][:], r.payload(j))
	}
	return bufs
}

var dataRuns = sync.Pool{New: func() any { return new(dataRun) }}

// writeDataRuns is writeData on a shared connection whose transport writes
// several buffers at once (w.vw): the payload after buf's header room goes
// out in runs of frames of sharedQuantum bytes at most, each run as large
// as the credit allows.
func (w *wire) writeDataRuns(hf *half, buf []byte) error {
	for off := FrameHeaderLen; off < len(buf); {
		n, err := w.takeCredit(hf, min(len(buf)-off, maxRunFrames*sharedQuantum))
		if err != nil {
			return err
		}
		if err := w.writeRun(hf, buf[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// writeRun writes p, within hf's credit, as DATA frames of sharedQuantum
// bytes at most, under the write lock at the low priority; it lets the
// lock go at a frame boundary when someone waits for it, and takes it
// again for the rest.
func (w *wire) writeRun(hf *half, p []byte) error {
	run := dataRuns.Get().(*dataRun)
	defer dataRuns.Put(run)
	run.w, run.p, run.frames, run.i, run.done = w, p, (len(p)+sharedQuantum-1)/sharedQuantum, 0, 0
	defer func() { // p is the caller's again
		run.w, run.p = nil, nil
		clear(run.bufs[:])
	}()
	for i := range run.frames {
		putFrameHeader(run.hdrs[i][:], FrameHeader{Type: TypeData, Length: uint32(len(run.payload(i))), Call: hf.id})
	}
	w.wl.lock(false)
	for run.i < run.frames {
		// A frame begun is finished: its end is where the peer looks
		// for the next header, even when an RST of hf waits behind it.
		if run.done == 0 && !hf.open.Load() {
			w.unlock()
			w.refund(len(p) - run.i*sharedQuantum) // frames 0 to i-1 went
			return errHalfClosed
		}
		if w.werr != nil {
			w.unlock()
			return w.werr
		}
		n, err := w.vw.writeFrom(run)
		if err != nil {
			err = w.writeFailed(err)
			w.unlock()
			return err
		}
		for run.done += n; run.i < run.frames && run.done >= FrameHeaderLen+len(run.payload(run.i)); run.i++ {
			run.done -= FrameHeaderLen + len(run.payload(run.i))
		}
		if run.done == 0 && run.i < run.frames && w.contended() {
			w.unlock() // its turn, at a frame boundary
			w.wl.lock(false)
		}
	}
	w.unlock()
	return nil
}

// contended reports whether someone waits for the write lock, or for its
// next holder to write a queued control frame.
func (w *wire) contended() bool {
	return w.ctrlPending.Load() || w.wl.waited()
}
