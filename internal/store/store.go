// Package store is a small file store served as an ordinary native service:
// the demo service the gateway serves by default.
//
// A Store is rooted at one directory and exposes six endpoints, registered
// with [Store.Register]: Store.List, Store.Stat, Store.Read, Store.Write,
// Store.Delete and Store.Watch, a stream of the changes Write and Delete
// make. [Echo] is a second demo service, of a bidi stream of messages. Files are named by slash-separated paths relative to the root
// ("docs/readme.txt"). Every name goes through one check (see the error codes
// below), and every file system access goes through an [os.Root], so no name
// and no symbolic link can reach outside the root.
//
// Handlers return *native.Error values:
//
//   - InvalidArgument: a malformed name (empty, absolute, not clean, with ".."
//     elements, backslashes or NUL bytes) or a negative offset or length.
//   - PermissionDenied: a name that leaves the root through a symbolic link.
//   - NotFound: a missing file.
//   - FailedPrecondition: a directory, or another non-regular file, where a
//     regular file is needed, or a file where a directory is needed.
//   - OutOfRange: a read offset beyond the end of the file; a watch's
//     Last-Event-ID older than the events kept, or after the last one.
//   - ResourceExhausted: a watcher that fell behind, or too many watchers.
//   - Unavailable: the store is closed.
//   - Internal: any other file system error; its message names the file
//     relative to the root, never the root's absolute path.
//
// Writes are atomic: the body goes to a hidden temporary file next to the
// target, which is synced and renamed over the target only when the whole
// body arrived. Temporary files never show up in listings, and names that
// look like one are rejected.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/framegate/framegate/native"

	"github.com/framegate/framegate/internal/clip"
)

// Store is a file store rooted at one directory. Its methods are safe for
// concurrent use.
type Store struct {
	root *os.Root
	// errEscape is the error os.Root returns for a name that leaves the
	// root. The os package does not export it, so Open captures it.
	errEscape error
	changes   *changes
}

// Open opens the store rooted at dir, creating dir (mode 0o755) if missing.
func Open(dir string, opts ...Option) (*Store, error) {
	o := options{watch: DefaultWatchLimits}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// ".." always escapes: the error it yields is os.Root's sentinel.
	_, err = root.Lstat("..")
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		root.Close()
		return nil, fmt.Errorf("store: os.Root did not refuse %q: %v", "..", err)
	}
	return &Store{root: root, errEscape: pe.Err, changes: newChanges(o.watch)}, nil
}

// Close closes the store. Calls made after Close fail with Unavailable,
// and so do the watches in progress; streams already returned by Read stay
// readable.
func (s *Store) Close() error {
	s.changes.close()
	return s.root.Close()
}

// Registrar is where Register puts endpoints; a *native.Server is one.
type Registrar interface {
	Register(name string, fn any, opts ...native.EndpointOption) error
}

// Register registers the store's endpoints on r.
// List, Stat, Read and Watch are safe (read-only); Write and Delete change
// the store but are idempotent: doing either twice leaves what doing it
// once does.
func (s *Store) Register(r Registrar) error {
	endpoints := []struct {
		name string
		fn   any
		decl native.EndpointOption
	}{
		{"Store.List", s.List, native.Safe()},
		{"Store.Stat", s.Stat, native.Safe()},
		{"Store.Read", s.Read, native.Safe()},
		{"Store.Write", s.Write, native.Idempotent()},
		{"Store.Delete", s.Delete, native.Idempotent()},
		{"Store.Watch", s.Watch, native.Safe()},
	}
	for _, e := range endpoints {
		if err := r.Register(e.name, e.fn, e.decl); err != nil {
			return fmt.Errorf("store: register %s: %w", e.name, err)
		}
	}
	return nil
}

// tempMarker marks the hidden temporary files Write creates:
// ".tmp-<random>" (older versions made ".<base>.tmp-<random>").
const tempMarker = ".tmp-"

// isTemp reports whether a file's base name is that of a temporary file.
func isTemp(base string) bool {
	return strings.HasPrefix(base, ".") && strings.Contains(base, tempMarker)
}

// maxNameLen is the longest name the store takes: Linux's PATH_MAX. It
// also bounds what an error about a name can quote.
const maxNameLen = 4096

// checkName returns an InvalidArgument error if name is not a valid file
// name: a clean, relative, slash-separated path without "..", backslashes or
// NUL bytes, whose last element is not reserved for temporary files.
func checkName(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty name"
	case len(name) > maxNameLen:
		why = "longer than " + strconv.Itoa(maxNameLen) + " bytes"
	case strings.IndexByte(name, 0) >= 0:
		why = "contains a NUL byte"
	case strings.Contains(name, `\`):
		why = "contains a backslash"
	case strings.HasPrefix(name, "/"):
		why = "absolute path"
	case hasDotDot(name):
		why = `contains a ".." element`
	case !fs.ValidPath(name) || name == ".":
		why = "not a clean slash-separated path"
	case isTemp(path.Base(name)):
		why = "reserved for temporary files"
	default:
		return nil
	}
	return native.Errorf(native.CodeInvalidArgument, "store: invalid name %s: %s", clip.Quote(name), why)
}

func hasDotDot(name string) bool {
	for elem := range strings.SplitSeq(name, "/") {
		if elem == ".." {
			return true
		}
	}
	return false
}

// storeError is the local cause of a *native.Error: its message travels, its
// cause stays in the process for errors.Is and logs.
type storeError struct {
	msg   string
	cause error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.cause }

// errorf returns a *native.Error with code and a formatted message that
// wraps cause locally without printing it.
func errorf(code native.Code, cause error, format string, args ...any) *native.Error {
	return native.NewError(code, &storeError{msg: fmt.Sprintf(format, args...), cause: cause})
}

// fsError maps a file system error from operation op on name to a
// *native.Error. Its message names name, never the root's absolute path: the
// *os.File values an os.Root opens carry that path in their errors.
func (s *Store) fsError(op, name string, err error) *native.Error {
	code := native.CodeInternal
	switch {
	case errors.Is(err, s.errEscape):
		return errorf(native.CodePermissionDenied, err, "store: %s %q: path escapes from the store root", op, name)
	case errors.Is(err, fs.ErrNotExist):
		return errorf(native.CodeNotFound, err, "store: %s %q: no such file", op, name)
	case errors.Is(err, os.ErrClosed):
		return errorf(native.CodeUnavailable, err, "store: %s %q: store is closed", op, name)
	case errors.Is(err, syscall.ENOTDIR):
		return errorf(native.CodeFailedPrecondition, err, "store: %s %q: a parent is not a directory", op, name)
	case errors.Is(err, syscall.EISDIR):
		return errorf(native.CodeFailedPrecondition, err, "store: %s %q: is a directory", op, name)
	case errors.Is(err, syscall.ENAMETOOLONG):
		code = native.CodeInvalidArgument
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// Not RESOURCE_EXHAUSTED, which REST answers with 429 (retry
		// later): a full disk needs an operator first, which gRPC's
		// guide says is FAILED_PRECONDITION.
		return errorf(native.CodeFailedPrecondition, err, "store: %s %q: no space left on the store's disk", op, name)
	}
	return errorf(code, err, "store: %s %q: %s", op, name, describe(err))
}

// describe returns err's message without the paths of the *fs.PathError,
// *os.LinkError and *os.SyscallError values that wrap its cause.
func describe(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	for {
		switch e := err.(type) {
		case *fs.PathError:
			err = e.Err
		case *os.LinkError:
			err = e.Err
		case *os.SyscallError:
			err = e.Err
		default:
			return err.Error()
		}
	}
}

// statRegular returns the file info of name, following symbolic links inside
// the root, and requires a regular file.
func (s *Store) statRegular(op, name string) (fs.FileInfo, error) {
	fi, err := s.root.Stat(name)
	if err != nil {
		return nil, s.fsError(op, name, err)
	}
	if err := checkRegular(op, name, fi); err != nil {
		return nil, err
	}
	return fi, nil
}

func checkRegular(op, name string, fi fs.FileInfo) error {
	switch {
	case fi.Mode().IsRegular():
		return nil
	case fi.IsDir():
		return native.Errorf(native.CodeFailedPrecondition, "store: %s %q: is a directory", op, name)
	}
	return native.Errorf(native.CodeFailedPrecondition, "store: %s %q: not a regular file", op, name)
}

// ctxError returns the error for a call whose ctx is done.
func ctxError(ctx context.Context, op, name string) *native.Error {
	err := ctx.Err()
	return errorf(native.CodeOf(err), err, "store: %s %q: %v", op, name, err)
}
