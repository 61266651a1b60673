package gateway

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/framegate/framegate/native"
)

// exportDescriptors serves srv through a gateway and fetches GET
// /v1/descriptors into a file of dir, checking the response's headers.
func exportDescriptors(t *testing.T, srv *native.Server, dir, name string) string {
	t.Helper()
	g, err := New(context.Background(), Local(srv))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.HTTPHandler())
	defer hs.Close()
	resp, body := do(t, "GET", hs.URL+"/v1/descriptors", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("GET /v1/descriptors: %d %v", resp.StatusCode, resp.Header)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&set, g.Descriptors()) {
		t.Fatal("GET /v1/descriptors differs from Descriptors()")
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBufBreaking runs the pinned `buf breaking` over descriptor sets
// exported from two versions of a backend: inserting a field in the middle
// of a struct that does not pin its numbers is breaking; inserting one in
// a pinned struct is not.
func TestBufBreaking(t *testing.T) {
	buf := bufBinary(t)
	dir := t.TempDir()
	breaking := func(old, next *native.Server, name string) (string, int) {
		t.Helper()
		against := exportDescriptors(t, old, dir, name+"-old.binpb")
		input := exportDescriptors(t, next, dir, name+"-new.binpb")
		cmd := exec.Command(buf, "breaking", input, "--against", against)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := breaking(scEntryV1(t), scEntryV2(t), "unpinned")
	if code == 0 || !strings.Contains(out, "scEntry") {
		t.Errorf("buf breaking over an unpinned insertion: exit %d, want a breaking change on scEntry:\n%s", code, out)
	}
	out, code = breaking(scPinnedV1(t), scPinnedV2(t), "pinned")
	if code != 0 {
		t.Errorf("buf breaking over a pinned insertion: exit %d, want 0:\n%s", code, out)
	}
}
