package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/framegate/framegate/native"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testStore is a Store rooted at dir, next to a directory outside it that
// holds a file "secret".
type testStore struct {
	*Store
	dir, outside string
}

func newStore(t *testing.T, opts ...Option) *testStore {
	t.Helper()
	base := t.TempDir()
	ts := &testStore{dir: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	s, err := Open(ts.dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts.Store = s
	if err := os.Mkdir(ts.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ts
}

// put creates a file directly on disk.
func (ts *testStore) put(t *testing.T, name, content string) {
	t.Helper()
	p := filepath.Join(ts.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// content returns a file's content on disk, or "<missing>".
func (ts *testStore) content(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ts.dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return "<missing>"
	} else if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// temps returns the temporary files anywhere under the root.
func (ts *testStore) temps(t *testing.T) []string {
	t.Helper()
	var temps []string
	err := filepath.WalkDir(ts.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && isTemp(d.Name()) {
			temps = append(temps, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return temps
}

func (ts *testStore) write(ctx context.Context, name string, body io.Reader) (WriteResponse, error) {
	var resp WriteResponse
	err := ts.Write(ctx, &WriteRequest{Name: name}, body, &resp)
	return resp, err
}

func (ts *testStore) read(req ReadRequest) (string, error) {
	var body io.Reader
	if err := ts.Read(context.Background(), &req, &body); err != nil {
		if body != nil {
			return "", errors.New("Read failed but set its body")
		}
		return "", err
	}
	b, err := io.ReadAll(body)
	if cerr := body.(io.Closer).Close(); err == nil {
		err = cerr
	}
	return string(b), err
}

func (ts *testStore) list(t *testing.T, prefix string) []string {
	t.Helper()
	var resp ListResponse
	if err := ts.List(context.Background(), &ListRequest{Prefix: prefix}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Entries == nil {
		t.Fatalf("List(%q): nil entries", prefix)
	}
	names := []string{}
	for _, e := range resp.Entries {
		names = append(names, e.Name)
	}
	return names
}

// wantCode checks err's code, and that its message does not leak the root.
func (ts *testStore) wantCode(t *testing.T, what string, err error, want native.Code) {
	t.Helper()
	if got := native.CodeOf(err); got != want {
		t.Errorf("%s: got code %v (%v), want %v", what, got, err, want)
	}
	if err != nil && (strings.Contains(err.Error(), ts.dir) || !strings.Contains(err.Error(), "store: ")) {
		t.Errorf("%s: message %q leaks the root or lacks the prefix", what, err)
	}
}

func TestHappyPath(t *testing.T) {
	ts := newStore(t)
	ctx := context.Background()
	w, err := ts.write(ctx, "a/b/c.txt", strings.NewReader("hello, world"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("hello, world"))
	if want := (WriteResponse{Name: "a/b/c.txt", Size: 12, SHA256: hex.EncodeToString(sum[:])}); w != want {
		t.Errorf("Write: got %+v, want %+v", w, want)
	}
	var e Entry
	if err := ts.Stat(ctx, &StatRequest{Name: "a/b/c.txt"}, &e); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(ts.dir, "a", "b", "c.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Entry{Name: "a/b/c.txt", Size: 12, ModTime: fi.ModTime().UTC(), Mode: fi.Mode().String()}); e != want {
		t.Errorf("Stat: got %+v, want %+v", e, want)
	}
	if got := ts.list(t, ""); !slices.Equal(got, []string{"a/b/c.txt"}) {
		t.Errorf("List: got %q", got)
	}
	if got, err := ts.read(ReadRequest{Name: "a/b/c.txt"}); err != nil || got != "hello, world" {
		t.Errorf("Read: got %q, %v", got, err)
	}
	if err := ts.Delete(ctx, &DeleteRequest{Name: "a/b/c.txt"}, &DeleteResponse{}); err != nil {
		t.Fatal(err)
	}
	ts.wantCode(t, "Stat after Delete", ts.Stat(ctx, &StatRequest{Name: "a/b/c.txt"}, &e), native.CodeNotFound)
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x", "y")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("Open did not create %s: %v", dir, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(dir, "..", "..", "x", "y")); err != nil {
		t.Errorf("Open existing: %v", err)
	}
}

func TestList(t *testing.T) {
	ts := newStore(t)
	for _, name := range []string{"b.txt", "a/x", "a.txt", "a/b/c", "docs/readme", ".hidden"} {
		ts.put(t, name, name)
	}
	ts.put(t, ".a.txt.tmp-123", "partial")
	ts.put(t, "a/.x.tmp-abc", "partial")
	if err := os.Mkdir(filepath.Join(ts.dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{".hidden", "a.txt", "a/b/c", "a/x", "b.txt", "docs/readme"}},
		{"a", []string{"a.txt", "a/b/c", "a/x"}},
		{"a/", []string{"a/b/c", "a/x"}},
		{"a/b", []string{"a/b/c"}},
		{"docs/readme", []string{"docs/readme"}},
		{"docs/readme/", []string{}},
		{"zzz", []string{}},
		{"empty", []string{}},
		{"../", []string{}},
	} {
		if got := ts.list(t, tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q): got %q, want %q", tt.prefix, got, tt.want)
		}
	}
	var resp ListResponse
	if err := ts.List(context.Background(), &ListRequest{Prefix: "none"}, &resp); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(resp); string(b) != `{"entries":[]}` {
		t.Errorf("empty List encodes as %s", b)
	}
}

// blockingReader returns one chunk, then blocks until release is closed,
// then returns EOF.
type blockingReader struct {
	chunk   []byte
	started chan struct{}
	release chan struct{}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if r.chunk != nil {
		n := copy(p, r.chunk)
		r.chunk = nil
		return n, nil
	}
	close(r.started)
	<-r.release
	return 0, io.EOF
}

func TestListDuringWrite(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "f", "old")
	r := &blockingReader{chunk: []byte("new"), started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := ts.write(context.Background(), "f", r)
		done <- err
	}()
	<-r.started
	if n := len(ts.temps(t)); n != 1 {
		t.Errorf("%d temporary files during Write, want 1", n)
	}
	if got := ts.list(t, ""); !slices.Equal(got, []string{"f"}) {
		t.Errorf("List during Write: got %q", got)
	}
	if got := ts.content(t, "f"); got != "old" {
		t.Errorf("content during Write: %q", got)
	}
	close(r.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ts.content(t, "f"); got != "new" {
		t.Errorf("content after Write: %q", got)
	}
	if temps := ts.temps(t); len(temps) != 0 {
		t.Errorf("temporary files left: %q", temps)
	}
}

func TestRead(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "f", "0123456789")
	for _, tt := range []struct {
		offset, length int64
		want           string
		code           native.Code
	}{
		{0, 0, "0123456789", native.CodeOK},
		{3, 0, "3456789", native.CodeOK},
		{3, 4, "3456", native.CodeOK},
		{0, 1, "0", native.CodeOK},
		{8, 100, "89", native.CodeOK},
		{10, 0, "", native.CodeOK},
		{10, 5, "", native.CodeOK},
		{11, 0, "", native.CodeOutOfRange},
		{1 << 40, 1, "", native.CodeOutOfRange},
		{-1, 0, "", native.CodeInvalidArgument},
		{0, -1, "", native.CodeInvalidArgument},
	} {
		got, err := ts.read(ReadRequest{Name: "f", Offset: tt.offset, Length: tt.length})
		ts.wantCode(t, "Read", err, tt.code)
		if got != tt.want {
			t.Errorf("Read(offset %d, length %d): got %q, want %q", tt.offset, tt.length, got, tt.want)
		}
	}
}

func TestReadSectionCopy(t *testing.T) {
	ts := newStore(t)
	data := strings.Repeat("0123456789", 100_000)
	ts.put(t, "f", data)
	var body io.Reader
	if err := ts.Read(context.Background(), &ReadRequest{Name: "f", Offset: 12345, Length: 500_000}, &body); err != nil {
		t.Fatal(err)
	}
	defer body.(io.Closer).Close()
	dst, err := os.Create(filepath.Join(t.TempDir(), "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if n, err := io.Copy(dst, body); err != nil || n != 500_000 {
		t.Fatalf("io.Copy to a file: %d, %v", n, err)
	}
	if got, err := os.ReadFile(dst.Name()); err != nil || string(got) != data[12345:12345+500_000] {
		t.Errorf("io.Copy to a file copied the wrong bytes (%d, %v)", len(got), err)
	}
}

func TestReadStream(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "f", "0123456789")
	var body io.Reader
	if err := ts.Read(context.Background(), &ReadRequest{Name: "f", Offset: 2}, &body); err != nil {
		t.Fatal(err)
	}
	if f, ok := body.(*os.File); !ok {
		t.Errorf("Read to the end: body is %T, want *os.File", body)
	} else {
		f.Close()
	}
	if err := ts.Read(context.Background(), &ReadRequest{Name: "f", Length: 2}, &body); err != nil {
		t.Fatal(err)
	}
	// A section is native.FileSection, which native sends with sendfile.
	sec, ok := body.(io.ReadCloser)
	if !ok {
		t.Fatalf("Read with a length: body is %T, want an io.ReadCloser", body)
	}
	var dst bytes.Buffer
	if n, err := io.Copy(&dst, sec); err != nil || n != 2 || dst.String() != "01" {
		t.Errorf("io.Copy to a buffer: %d, %q, %v", n, dst.String(), err)
	}
	if err := sec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sec.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v, want os.ErrClosed (the file was closed by the first)", err)
	}
}

// failingReader returns n bytes of data, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func TestWriteAtomic(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		body io.Reader
		code native.Code
	}{
		{"plain body error", context.Background(), &failingReader{3 << 19, errors.New("connection reset")}, native.CodeUnknown},
		{"unexpected EOF", context.Background(), &failingReader{3 << 19, io.ErrUnexpectedEOF}, native.CodeUnknown},
		{"native body error", context.Background(), &failingReader{3 << 19, native.Errorf(native.CodeDataLoss, "stream truncated")}, native.CodeDataLoss},
		{"context error from body", context.Background(), &failingReader{100, context.Canceled}, native.CodeCanceled},
		{"canceled before", canceled, strings.NewReader("new"), native.CodeCanceled},
		{"canceled during", nil, nil, native.CodeCanceled},
		{"deadline exceeded", expired, strings.NewReader("new"), native.CodeDeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newStore(t)
			ts.put(t, "d/f", "old")
			ctx, body := tt.ctx, tt.body
			if ctx == nil {
				c, cancel := context.WithCancel(context.Background())
				ctx = c
				body = &cancelingReader{r: strings.NewReader(strings.Repeat("x", 3<<20)), cancel: cancel}
			}
			_, err := ts.write(ctx, "d/f", body)
			ts.wantCode(t, "Write", err, tt.code)
			if got := ts.content(t, "d/f"); got != "old" {
				t.Errorf("content after failed Write: %q", got)
			}
			if temps := ts.temps(t); len(temps) != 0 {
				t.Errorf("temporary files left: %q", temps)
			}
			if _, err := ts.write(ctx, "d/new", body); err == nil {
				t.Fatal("Write of a new file succeeded")
			}
			if got := ts.content(t, "d/new"); got != "<missing>" {
				t.Errorf("failed Write created the file: %q", got)
			}
		})
	}
}

// cancelingReader cancels its context after its first Read.
type cancelingReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	defer r.cancel()
	return r.r.Read(p)
}
