package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/framegate/framegate/internal/buftool"
	"github.com/framegate/framegate/native"
)

// bufBinary returns the pinned buf (see internal/buftool); it fails the
// test if there is none.
func bufBinary(t *testing.T) string {
	t.Helper()
	p, err := buftool.Path("..")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// googleapisDir returns the folder holding google/api/httpbody.proto: the
// grpc-gateway v1.16.0 module's third_party/googleapis (as the Makefile).
func googleapisDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/grpc-ecosystem/grpc-gateway@v1.16.0").Output()
	if err != nil {
		t.Fatalf("go mod download grpc-gateway v1.16.0: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	return filepath.Join(mod.Dir, "third_party", "googleapis")
}

// copyHTTPBody copies google/api/httpbody.proto into dir, for buf.
func copyHTTPBody(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(googleapisDir(t), "google", "api", "httpbody.proto"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "google", "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "google", "api", "httpbody.proto"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// normalized returns fdp without source info and with every json_name
// spelt out, so that a compiled file compares with a synthesized one.
func normalized(t *testing.T, fdp *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	t.Helper()
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	out := protodesc.ToFileDescriptorProto(fd)
	out.SourceCodeInfo = nil
	var setJSON func(dps []*descriptorpb.DescriptorProto)
	setJSON = func(dps []*descriptorpb.DescriptorProto) {
		for _, dp := range dps {
			for _, f := range dp.Field {
				if f.JsonName == nil {
					f.JsonName = proto.String(defaultJSONName(f.GetName()))
				}
			}
			setJSON(dp.NestedType)
		}
	}
	setJSON(out.MessageType)
	return out
}

// TestProtoPrintCompilesBack prints the descriptors of the test fixture
// (every body kind, maps, lists, optional fields, timestamps, any values,
// nested and recursive messages) and of the demo-like pinned types, compiles
// the .proto with the pinned buf and checks it gives the same descriptors.
func TestProtoPrintCompilesBack(t *testing.T) {
	buf := bufBinary(t)
	srv := native.NewServer()
	if err := register(srv, &probes{m: map[string]*probe{}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("Pin.Echo", func(req *pinE2E, resp *pinE2E) error { return nil }); err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), Local(srv))
	if err != nil {
		t.Fatal(err)
	}
	file := g.set.Load().file
	var src bytes.Buffer
	if err := WriteProto(&src, file); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, file.Path())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, src.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	copyHTTPBody(t, dir)
	image := filepath.Join(t.TempDir(), "image.binpb")
	cmd := exec.Command(buf, "build", "-o", image)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf build of the printed .proto: %v\n%s\nsource:\n%s", err, out, src.String())
	}
	b, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	var got *descriptorpb.FileDescriptorProto
	for _, f := range set.File {
		if f.GetName() == file.Path() {
			got = f
		}
	}
	if got == nil {
		t.Fatalf("buf's image lacks %s", file.Path())
	}
	want := normalized(t, protodesc.ToFileDescriptorProto(file))
	if g := normalized(t, got); !proto.Equal(g, want) {
		t.Errorf("the printed .proto compiles to other descriptors:\ngot  %v\nwant %v\nsource:\n%s", g, want, src.String())
	}
	for _, w := range []string{"stream .google.api.HttpBody", "map<", "optional ", "repeated ", `import "google/api/httpbody.proto";`, "string note = 7;"} {
		if !strings.Contains(src.String(), w) {
			t.Errorf("the .proto lacks %q", w)
		}
	}
}
