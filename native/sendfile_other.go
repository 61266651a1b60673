//go:build !linux

package native

import (
	"io"
	"os"
	"syscall"
)

func (w *wire) sendFile(*half, syscall.RawConn, io.Reader, *os.File, int64, func() Metadata) (int64, error, error) {
	panic("unreachable")
}
