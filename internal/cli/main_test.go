package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the respond command built once for the tests that need a real process (crashes).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "respond-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "respond")
	build := exec.Command("go", "build", "-o", binary, "github.com/respond-sec/respond/cmd/respond")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build respond:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
