//go:build !linux

package native

import (
	"io"
	"syscall"
)

func socketOf(io.Reader) (syscall.RawConn, bool) { return nil, false }

func newReadv(io.Reader) vecReader { return nil }
