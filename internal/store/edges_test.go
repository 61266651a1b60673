package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/framegate/framegate/native"
)

// Any name that may be read may be written: a last element of up to 255
// bytes (the temporary file's name once pushed names of 237-255 bytes over
// the file system's limit).
func TestWriteLongName(t *testing.T) {
	ts := newStore(t)
	for _, n := range []int{200, 237, 255} {
		name := "dir/" + strings.Repeat("n", n)
		if _, err := ts.write(context.Background(), name, strings.NewReader("long")); err != nil {
			t.Errorf("write a name of %d bytes: %v", n, err)
			continue
		}
		if got := ts.content(t, name); got != "long" {
			t.Errorf("read back %q", got)
		}
	}
	if temps := ts.temps(t); len(temps) != 0 {
		t.Errorf("temporary files left: %q", temps)
	}
}

// An aborted upload leaves no directory it created behind, and none that
// was there before is removed.
func TestAbortedWriteRemovesItsDirs(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "kept/old.txt", "old")
	_, err := ts.write(context.Background(), "kept/new/deeper/file.bin", &failingReader{n: 100, err: errors.New("client went away")})
	if err == nil {
		t.Fatal("a write whose body fails succeeded")
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "kept", "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory the aborted write created: %v; want it gone", err)
	}
	if got := ts.content(t, "kept/old.txt"); got != "old" {
		t.Errorf("kept/old.txt = %q", got)
	}
}

// A full disk is FAILED_PRECONDITION (an operator must act), not
// RESOURCE_EXHAUSTED, which REST answers with 429 and clients retry.
func TestFullDiskCode(t *testing.T) {
	ts := newStore(t)
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		err := ts.fsError("write", "f", &os.PathError{Op: "write", Path: "/root/f", Err: errno})
		if native.CodeOf(err) != native.CodeFailedPrecondition || !strings.Contains(err.Error(), "no space left on the store's disk") {
			t.Errorf("%v: %v (%v); want FAILED_PRECONDITION naming the disk", errno, err, native.CodeOf(err))
		}
	}
}

// A 3 MB name is refused with an error that quotes 64 bytes of it and its
// length, not the whole name.
func TestLongNameErrorQuotesLittle(t *testing.T) {
	ts := newStore(t)
	_, err := ts.write(context.Background(), strings.Repeat("n", 3_000_000), strings.NewReader("x"))
	if native.CodeOf(err) != native.CodeInvalidArgument || !strings.Contains(err.Error(), "(3000000 bytes): longer than 4096 bytes") || len(err.Error()) > 256 {
		t.Errorf("a 3 MB name: %d bytes of error, %.200v", len(err.Error()), err)
	}
}
