package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/native"
)

// Entry describes one regular file.
type Entry struct {
	// Name is the file's slash-separated path relative to the store root.
	Name string `json:"name" native:"1"`
	// Size is the file's length in bytes.
	Size int64 `json:"size" native:"2"`
	// ModTime is the file's modification time, in UTC.
	ModTime time.Time `json:"mod_time" native:"3"`
	// Mode is the file's mode as ls prints it, e.g. "-rw-r--r--".
	Mode string `json:"mode" native:"4"`
}

func entryOf(name string, fi fs.FileInfo) Entry {
	return Entry{Name: name, Size: fi.Size(), ModTime: fi.ModTime().UTC(), Mode: fi.Mode().String()}
}

// ListRequest is the request of Store.List.
type ListRequest struct {
	// Prefix keeps only the files whose names start with it; a plain string
	// prefix, so "doc" matches "doc.txt" and "docs/a". Empty lists all.
	Prefix string `json:"prefix" native:"1"`
}

// ListResponse is the response of Store.List.
type ListResponse struct {
	// Entries are the matching files, sorted by name; never null.
	Entries []Entry `json:"entries" native:"1"`
}

// List lists the regular files of the whole tree whose names start with
// req.Prefix, sorted by name. Symbolic links are listed as the file they
// point to when that is a regular file inside the root, and skipped
// otherwise; linked directories are not descended into.
func (s *Store) List(ctx context.Context, req *ListRequest, resp *ListResponse) error {
	prefix := req.Prefix
	entries := []Entry{}
	failed := "."
	err := fs.WalkDir(s.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name != "." && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			failed = name
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			// Descend only where a name may start with prefix.
			if dir := name + "/"; name != "." && !strings.HasPrefix(dir, prefix) && !strings.HasPrefix(prefix, dir) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, prefix) || isTemp(d.Name()) {
			return nil
		}
		var fi fs.FileInfo
		switch typ := d.Type(); {
		case typ.IsRegular():
			fi, err = d.Info()
		case typ&fs.ModeSymlink != 0:
			fi, err = s.root.Stat(name) // refuses links that leave the root
		default:
			return nil
		}
		if err != nil || !fi.Mode().IsRegular() {
			return nil // gone, dangling, escaping or not a file: not listed
		}
		entries = append(entries, entryOf(name, fi))
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctxError(ctx, "list", prefix)
		}
		return s.fsError("list", failed, err)
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	resp.Entries = entries
	return nil
}

// StatRequest is the request of Store.Stat.
type StatRequest struct {
	// Name is the file's name.
	Name string `json:"name" native:"1"`
}

// Stat describes one regular file.
func (s *Store) Stat(ctx context.Context, req *StatRequest, resp *Entry) error {
	if err := checkName(req.Name); err != nil {
		return err
	}
	fi, err := s.statRegular("stat", req.Name)
	if err != nil {
		return err
	}
	*resp = entryOf(req.Name, fi)
	return nil
}

// ReadRequest is the request of Store.Read.
type ReadRequest struct {
	// Name is the file's name.
	Name string `json:"name" native:"1"`
	// Offset is where reading starts; it may equal the file's size but not
	// exceed it.
	Offset int64 `json:"offset,omitempty" native:"2"`
	// Length is the most bytes to read; 0 reads to the end.
	Length int64 `json:"length,omitempty" native:"3"`
}

// Read streams a regular file from req.Offset, to its end or for at most
// req.Length bytes (fewer if the file ends first). The stream is an
// io.Closer that closes the file; when it runs to the end it is the *os.File
// itself.
func (s *Store) Read(ctx context.Context, req *ReadRequest, body *io.Reader) error {
	name := req.Name
	if err := checkName(name); err != nil {
		return err
	}
	if req.Offset < 0 || req.Length < 0 {
		return native.Errorf(native.CodeInvalidArgument, "store: read %q: negative offset (%d) or length (%d)", name, req.Offset, req.Length)
	}
	if ctx.Err() != nil {
		return ctxError(ctx, "read", name)
	}
	// Check before opening: opening a FIFO would block.
	if _, err := s.statRegular("read", name); err != nil {
		return err
	}
	f, err := s.root.Open(name)
	if err != nil {
		return s.fsError("read", name, err)
	}
	r, err := s.section(f, name, req.Offset, req.Length)
	if err != nil {
		f.Close()
		return err
	}
	*body = r
	return nil
}

func (s *Store) section(f *os.File, name string, offset, length int64) (io.Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, s.fsError("read", name, err)
	}
	if err := checkRegular("read", name, fi); err != nil {
		return nil, err // replaced since statRegular
	}
	if offset > fi.Size() {
		return nil, native.Errorf(native.CodeOutOfRange, "store: read %q: offset %d is beyond the end of the file (size %d)", name, offset, fi.Size())
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, s.fsError("read", name, err)
		}
	}
	if length > 0 {
		// Like the *os.File below, sent with sendfile on TCP and unix.
		return native.FileSection(f, length), nil
	}
	return f, nil
}

// WriteRequest is the request of Store.Write; the file's content is the
// request's body stream.
type WriteRequest struct {
	// Name is the file's name. Missing parent directories are created.
	Name string `json:"name" native:"1"`
}

// WriteResponse is the response of Store.Write.
type WriteResponse struct {
	// Name is the file's name.
	Name string `json:"name" native:"1"`
	// Size is the number of bytes written.
	Size int64 `json:"size" native:"2"`
	// SHA256 is the hex SHA-256 digest of the content written.
	SHA256 string `json:"sha256" native:"3"`
}

// writeChunk is the size of Write's copy buffer; ctx is checked between
// chunks.
const writeChunk = 1 << 20

// Write replaces or creates a regular file with the body, atomically: the
// body goes to a hidden temporary file in the target's directory, which is
// synced and renamed over the target once the body is complete. On any
// error, including a failed body read or a cancelled ctx, the temporary file
// is removed and the target is untouched. A body error keeps its code if it
// is a *native.Error or a context error. When name is a symbolic link to a
// file inside the root, the link is replaced, as by mv.
func (s *Store) Write(ctx context.Context, req *WriteRequest, body io.Reader, resp *WriteResponse) (err error) {
	name := req.Name
	if err := checkName(name); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctxError(ctx, "write", name)
	}
	switch fi, err := s.root.Stat(name); {
	case err == nil:
		if err := checkRegular("write", name, fi); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return s.fsError("write", name, err)
	}
	dir := path.Dir(name)
	if dir != "." {
		created := s.missingDirs(dir)
		defer func() {
			if err != nil { // leave no directory this write made behind
				for _, d := range created {
					s.root.Remove(d) // only if empty: another write may use it
				}
			}
		}()
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) { // an element is not a directory
				return errorf(native.CodeFailedPrecondition, err, "store: write %q: a parent is not a directory", name)
			}
			return s.fsError("write", name, err)
		}
	}
	f, tmp, err := s.createTemp(dir)
	if err != nil {
		return s.fsError("write", name, err)
	}
	defer func() {
		if err != nil {
			if f != nil {
				f.Close()
			}
			s.root.Remove(tmp)
		}
	}()

	if body == nil {
		body = strings.NewReader("")
	}
	h := sha256.New()
	size, err := copyChunks(ctx, io.MultiWriter(f, h), body)
	switch {
	case err == nil:
	case errors.Is(err, errBody):
		var ne *native.Error
		msg := err.Error()
		if errors.As(err, &ne) {
			msg = ne.Message()
		}
		return errorf(native.CodeOf(err), err, "store: write %q: reading body: %s", name, msg)
	case ctx.Err() != nil:
		return ctxError(ctx, "write", name)
	default:
		return s.fsError("write", name, err)
	}
	if err = f.Sync(); err != nil {
		return s.fsError("write", name, err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return s.fsError("write", name, err)
	}
	if ctx.Err() != nil {
		return ctxError(ctx, "write", name)
	}
	if err = s.commit(tmp, name, size); err != nil {
		return s.fsError("write", name, err)
	}
	s.syncDir(dir) // best effort: the rename is done, the file is there
	*resp = WriteResponse{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	return nil
}

// createTemp creates a new hidden temporary file in dir. Its name is short
// (".tmp-" and at most 13 characters), so that any name that may be read
// may be written too, up to the file system's 255 bytes.
func (s *Store) createTemp(dir string) (*os.File, string, error) {
	for range 100 {
		tmp := path.Join(dir, tempMarker+strconv.FormatUint(rand.Uint64(), 36))
		f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, tmp, err
		}
	}
	return nil, "", errors.New("cannot create a temporary file")
}

// missingDirs returns dir and those of its parents that do not exist yet,
// deepest first: what MkdirAll(dir) is about to create.
func (s *Store) missingDirs(dir string) []string {
	var missing []string
	for d := dir; d != "."; d = path.Dir(d) {
		if _, err := s.root.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	return missing
}

// syncDir syncs directory dir so that a rename in it is durable.
func (s *Store) syncDir(dir string) {
	if d, err := s.root.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// errBody marks errors reading the body, as opposed to writing the file.
var errBody = errors.New("body")

// bodyError is an error reading the body; it unwraps to the error and to
// errBody.
type bodyError struct{ err error }

func (e *bodyError) Error() string   { return e.err.Error() }
func (e *bodyError) Unwrap() []error { return []error{e.err, errBody} }

// copyChunks copies src to dst in chunks of writeChunk bytes, checking ctx
// between chunks, and returns the number of bytes copied. Errors reading src
// are *bodyError values.
func copyChunks(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, writeChunk)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			if _, err := dst.Write(buf[:nr]); err != nil {
				return n, err
			}
			n += int64(nr)
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, &bodyError{rerr}
		}
	}
}

// DeleteRequest is the request of Store.Delete.
type DeleteRequest struct {
	// Name is the file's name.
	Name string `json:"name" native:"1"`
}

// DeleteResponse is the empty response of Store.Delete.
type DeleteResponse struct{}

// Delete removes a regular file; it refuses directories. When name is a
// symbolic link inside the root, the link is removed, not its target.
func (s *Store) Delete(ctx context.Context, req *DeleteRequest, resp *DeleteResponse) error {
	name := req.Name
	if err := checkName(name); err != nil {
		return err
	}
	c := s.changes
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := s.statRegular("delete", name)
	if err != nil {
		return err
	}
	if err := s.root.Remove(name); err != nil {
		return s.fsError("delete", name, err)
	}
	c.publishLocked(EventDeleted, name, fi.Size())
	return nil
}

// commit renames a write's temporary file over name and publishes the
// change: created if name did not exist, written if it did.
func (s *Store) commit(tmp, name string, size int64) error {
	c := s.changes
	c.mu.Lock()
	defer c.mu.Unlock()
	kind := EventCreated
	if _, err := s.root.Lstat(name); err == nil {
		kind = EventWritten
	}
	if err := s.root.Rename(tmp, name); err != nil {
		return err
	}
	c.publishLocked(kind, name, size)
	return nil
}
