package main

// gw call -o FILE [-continue]: a stream response written to a file, resumed
// with a range, with a progress bar on a terminal.

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/framegate/framegate/native"
)

// downloadTo calls endpoint and writes its stream to path. With resume, a
// path that holds n bytes asks for the stream from n on; a server that
// answers the whole stream instead has path rewritten from the start. A
// stream that fails leaves what arrived, for the next -continue.
func downloadTo(ctx context.Context, c native.Caller, endpoint string, req any, path string, resume bool, stderr *os.File) error {
	var have int64
	if resume {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			have = fi.Size()
		}
	}
	var opts []native.CallOption
	var info native.StreamInfo
	var hdr native.Metadata
	opts = append(opts, native.Info(&info), native.Header(&hdr))
	if have > 0 {
		opts = append(opts, native.Range("bytes="+strconv.FormatInt(have, 10)+"-", ""))
	}
	var rc io.ReadCloser
	if err := c.Call(ctx, endpoint, req, &rc, opts...); err != nil {
		if have > 0 && native.CodeOf(err) == native.CodeOutOfRange && hdr.Get(native.RangeSizeKey) == strconv.FormatInt(have, 10) {
			return nil // the file is whole already
		}
		return err
	}
	defer rc.Close()
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	total := info.Length
	if have > 0 && info.Partial() && info.Offset == have {
		flags = os.O_WRONLY | os.O_APPEND
		total = info.Size
	} else {
		have = 0 // the server sent the whole stream
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return native.NewError(native.CodeInvalidArgument, err)
	}
	var w io.Writer = f
	if stderr != nil && term.IsTerminal(int(stderr.Fd())) {
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionThrottle(100_000_000),
			progressbar.OptionSetPredictTime(total > 0),
			progressbar.OptionSetDescription(path),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
		)
		bar.Set64(have)
		w = io.MultiWriter(f, bar)
	}
	_, err = io.Copy(w, rc)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = native.NewError(native.CodeInternal, cerr)
	}
	return err
}
