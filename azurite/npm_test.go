package azurite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/internal/emulator"
)

// fakeNPM puts an npm on PATH that installs a package of one 1 MiB file,
// or fails when failing is set.
func fakeNPM(t *testing.T, failing bool) {
	t.Helper()
	bin := t.TempDir()
	script := `#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --prefix) prefix="$2"; shift ;; esac
  shift
done
`
	if failing {
		script += "echo 'npm error 404 Not Found' >&2\nexit 1\n"
	} else {
		script += `mkdir -p "$prefix/node_modules/fake" && head -c 1048576 /dev/zero > "$prefix/node_modules/fake/index.js"` + "\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("BLOBVALET_CACHE_DIR", t.TempDir())
}

func TestNPMInstallSaysWhatItDoes(t *testing.T) {
	fakeNPM(t, false)
	var progress bytes.Buffer
	dir, err := NPMInstall(context.Background(), "fake@1.0.0", &progress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fake", "index.js")); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(os.Getenv("BLOBVALET_CACHE_DIR"), "npm")
	want := regexp.MustCompile(`^installing fake@1\.0\.0 from npm into ` + regexp.QuoteMeta(emulator.HomeRelative(cache)) + ` … done in \d+s \(1\.0 MiB\)\n$`)
	if !want.MatchString(progress.String()) {
		t.Errorf("progress %q, want it to match %s", progress.String(), want)
	}
	progress.Reset()
	if again, err := NPMInstall(context.Background(), "fake@1.0.0", &progress); err != nil || again != dir {
		t.Fatalf("second install: %q, %v", again, err)
	}
	if progress.Len() != 0 {
		t.Errorf("an installed package reported %q", progress.String())
	}
}

func TestNPMInstallSaysWhenItFails(t *testing.T) {
	fakeNPM(t, true)
	var progress bytes.Buffer
	_, err := NPMInstall(context.Background(), "fake@1.0.0", &progress)
	if err == nil || !strings.Contains(err.Error(), "npm error 404 Not Found") {
		t.Errorf("error %v, want npm's output", err)
	}
	if !strings.HasSuffix(progress.String(), " … failed\n") {
		t.Errorf("progress %q", progress.String())
	}
}
