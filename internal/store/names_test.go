package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/framegate/framegate/native"
)

func TestWriteHashAndSize(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	rand.NewChaCha8([32]byte{1}).Read(data)
	sum := sha256.Sum256(data)
	for _, tt := range []struct {
		name string
		body io.Reader
	}{
		{"bytes.Reader", bytes.NewReader(data)},
		{"HalfReader", iotest.HalfReader(bytes.NewReader(data))},
		{"DataErrReader", iotest.DataErrReader(bytes.NewReader(data))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newStore(t)
			w, err := ts.write(context.Background(), "big.bin", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if w.Size != int64(len(data)) || w.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("got size %d sha256 %s, want %d %x", w.Size, w.SHA256, len(data), sum)
			}
			if got := ts.content(t, "big.bin"); got != string(data) {
				t.Error("content on disk differs")
			}
		})
	}
}

func TestWriteReplaces(t *testing.T) {
	ts := newStore(t)
	ctx := context.Background()
	for _, content := range []string{"a long first content", "short", ""} {
		if _, err := ts.write(ctx, "x/y/z", strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if got := ts.content(t, "x/y/z"); got != content {
			t.Errorf("got %q, want %q", got, content)
		}
	}
	if w, err := ts.write(ctx, "nil-body", nil); err != nil || w.Size != 0 {
		t.Errorf("Write with a nil body: %+v, %v", w, err)
	}
}

func TestWriteConflicts(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "dir/f", "f")
	for _, name := range []string{"dir", "dir/f/g", "dir/f/g/h"} {
		_, err := ts.write(context.Background(), name, strings.NewReader("x"))
		ts.wantCode(t, "Write "+name, err, native.CodeFailedPrecondition)
	}
	if got := ts.content(t, "dir/f"); got != "f" {
		t.Errorf("dir/f changed: %q", got)
	}
	if temps := ts.temps(t); len(temps) != 0 {
		t.Errorf("temporary files left: %q", temps)
	}
}

// endpoints calls every endpoint that takes a name.
func endpoints(ts *testStore) map[string]func(name string) error {
	ctx := context.Background()
	return map[string]func(string) error{
		"Stat": func(name string) error { return ts.Stat(ctx, &StatRequest{Name: name}, &Entry{}) },
		"Read": func(name string) error {
			_, err := ts.read(ReadRequest{Name: name})
			return err
		},
		"Write": func(name string) error {
			_, err := ts.write(ctx, name, strings.NewReader("pwned"))
			return err
		},
		"Delete": func(name string) error { return ts.Delete(ctx, &DeleteRequest{Name: name}, &DeleteResponse{}) },
	}
}

func TestInvalidNames(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "a/b", "b")
	names := []string{"", "/etc/passwd", "/", "../x", "..", "a/../../x", "a/../b", "a/..", "./a", "a/./b", ".",
		"a//b", "a/", `a\b`, `..\x`, "a\x00b", ".b.tmp-1", "a/.b.tmp-xyz"}
	for op, call := range endpoints(ts) {
		for _, name := range names {
			ts.wantCode(t, op+" "+name, call(name), native.CodeInvalidArgument)
		}
	}
	if got := ts.content(t, "a/b"); got != "b" {
		t.Errorf("a/b changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(ts.dir), "x")); err == nil {
		t.Error("a file was written outside the root")
	}
}

func TestSymlinkEscapes(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "ok", "ok")
	links := map[string]string{
		"file-link":  filepath.Join(ts.outside, "secret"),
		"dir-link":   ts.outside,
		"rel-link":   "../outside/secret",
		"sub/up":     "../../outside",
		"dangling":   filepath.Join(ts.outside, "missing"),
		"inside":     "ok",
		"inside-dir": "sub",
	}
	for name, target := range links {
		if err := os.MkdirAll(filepath.Join(ts.dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(ts.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for op, call := range endpoints(ts) {
		for _, name := range []string{"file-link", "dir-link", "dir-link/secret", "dir-link/new",
			"rel-link", "sub/up/secret", "sub/up/new", "dangling", "inside-dir/up/secret"} {
			ts.wantCode(t, op+" "+name, call(name), native.CodePermissionDenied)
		}
	}
	entries, err := os.ReadDir(ts.outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || ts.content(t, "file-link") != "secret" {
		t.Errorf("outside directory changed: %v", entries)
	}
	// List neither follows links out nor fails on them; links to files
	// inside are listed.
	if got, want := ts.list(t, ""), []string{"inside", "ok"}; !slices.Equal(got, want) {
		t.Errorf("List: got %q, want %q", got, want)
	}
	if got, err := ts.read(ReadRequest{Name: "inside"}); err != nil || got != "ok" {
		t.Errorf("Read inside link: %q, %v", got, err)
	}
}

func TestDelete(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "dir/f", "f")
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		code native.Code
	}{
		{"missing", native.CodeNotFound},
		{"dir/missing", native.CodeNotFound},
		{"missing/f", native.CodeNotFound},
		{"dir", native.CodeFailedPrecondition},
		{"dir/f/g", native.CodeFailedPrecondition},
		{"dir/f", native.CodeOK},
		{"dir/f", native.CodeNotFound},
	} {
		err := ts.Delete(ctx, &DeleteRequest{Name: tt.name}, &DeleteResponse{})
		ts.wantCode(t, "Delete "+tt.name, err, tt.code)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "dir")); err != nil {
		t.Errorf("directory removed: %v", err)
	}
}

func TestStatAndReadNonFiles(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "dir/f", "f")
	ctx := context.Background()
	for op, call := range endpoints(ts) {
		if op == "Write" {
			continue
		}
		ts.wantCode(t, op+" dir", call("dir"), native.CodeFailedPrecondition)
		ts.wantCode(t, op+" missing", call("missing"), native.CodeNotFound)
	}
	err := ts.Stat(ctx, &StatRequest{Name: "dir/f/x"}, &Entry{})
	ts.wantCode(t, "Stat under a file", err, native.CodeFailedPrecondition)
}

func TestInternalErrors(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions")
	}
	ts := newStore(t)
	ts.put(t, "locked/f", "f")
	locked := filepath.Join(ts.dir, "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	for op, call := range endpoints(ts) {
		ts.wantCode(t, op, call("locked/f"), native.CodeInternal)
	}
	var resp ListResponse
	ts.wantCode(t, "List", ts.List(context.Background(), &ListRequest{}, &resp), native.CodeInternal)
}

func TestClosed(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "f", "f")
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	for op, call := range endpoints(ts) {
		ts.wantCode(t, op, call("f"), native.CodeUnavailable)
	}
	var resp ListResponse
	ts.wantCode(t, "List", ts.List(context.Background(), &ListRequest{}, &resp), native.CodeUnavailable)
}

func TestListCanceled(t *testing.T) {
	ts := newStore(t)
	ts.put(t, "f", "f")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var resp ListResponse
	ts.wantCode(t, "List", ts.List(ctx, &ListRequest{}, &resp), native.CodeCanceled)
}

type registrar struct {
	names []string
	fail  string
}

func (r *registrar) Register(name string, fn any, _ ...native.EndpointOption) error {
	if name == r.fail {
		return errors.New("boom")
	}
	r.names = append(r.names, name)
	return nil
}

func TestRegister(t *testing.T) {
	ts := newStore(t)
	var r registrar
	if err := ts.Register(&r); err != nil {
		t.Fatal(err)
	}
	want := []string{"Store.List", "Store.Stat", "Store.Read", "Store.Write", "Store.Delete", "Store.Watch"}
	if !slices.Equal(r.names, want) {
		t.Errorf("registered %q, want %q", r.names, want)
	}
	if err := ts.Register(&registrar{fail: "Store.Read"}); err == nil || !strings.Contains(err.Error(), "Store.Read") {
		t.Errorf("Register error: %v", err)
	}
}
