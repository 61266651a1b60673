// Package buftool finds the pinned buf for tests: ./bin/buf (make tools),
// or else one built once from tools/go.mod into a temporary directory, so a
// test that needs buf runs it rather than skipping.
package buftool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	once sync.Once
	path string
	err  error
)

// Path returns the path of the pinned buf; root is the repository's root.
// The first call may take a while (a go build, cached by the go command).
func Path(root string) (string, error) {
	once.Do(func() {
		if p, e := filepath.Abs(filepath.Join(root, "bin", "buf")); e == nil {
			if _, e := os.Stat(p); e == nil {
				path = p
				return
			}
		}
		dir, e := os.MkdirTemp("", "framegate-buf-")
		if e != nil {
			err = e
			return
		}
		path = filepath.Join(dir, "buf")
		cmd := exec.Command("go", "build", "-modfile=tools/go.mod", "-o", path, "github.com/bufbuild/buf/cmd/buf")
		cmd.Dir = root
		if out, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("buftool: building buf from tools/go.mod: %v\n%s", e, out)
		}
	})
	return path, err
}
