//go:build !linux

package native

import (
	"io"
	"syscall"
)

func socketOf(any) (syscall.RawConn, bool) { return nil, false }

func newReadv(io.Reader) vecReader { return nil }

func newTryWriter(io.Writer) tryWriter { return nil }

func newWritev(io.Writer) vecWriter { return nil }
