package client

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientNodeTests runs the plugin's unit tests (client/*.test.mjs) with
// Node's test runner.
func TestClientNodeTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node: skipped under -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Node.js is required in CI to test the Uppy plugin (web/client)")
		}
		t.Skip("node not found: install Node.js 20 or newer to run the Uppy plugin's tests (node --test web/client)")
	}
	files, err := filepath.Glob("*.test.mjs")
	if err != nil || len(files) == 0 {
		t.Fatalf("no tests in web/client (%v)", err)
	}
	// Files, not the directory: Node 22 reads --test arguments as globs.
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", strings.Join(files, " "), err, out)
	}
	t.Logf("%s", out)
}
