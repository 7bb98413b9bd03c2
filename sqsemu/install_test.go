package sqsemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/blobvalet/blobvalet/internal/emulator"
)

// fakeGo puts a go on PATH that "builds" a goaws of 1 MiB into GOBIN,
// counting its runs in a file, or fails when failing is set.
func fakeGo(t *testing.T, failing bool) (runs string) {
	t.Helper()
	bin := t.TempDir()
	runs = filepath.Join(bin, "runs")
	script := "#!/bin/sh\necho \"$@\" >> " + runs + "\n"
	if failing {
		script += "echo 'go: module github.com/Admiral-Piett/goaws@v0.4.5: 404 Not Found' >&2\nexit 1\n"
	} else {
		script += `sleep 1; head -c 1048576 /dev/zero > "$GOBIN/cmd"` + "\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("BLOBVALET_CACHE_DIR", t.TempDir())
	return runs
}

func TestInstallSaysWhatItDoes(t *testing.T) {
	runs := fakeGo(t, false)
	var progress bytes.Buffer
	bin, err := Install(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	cache := os.Getenv("BLOBVALET_CACHE_DIR")
	want := regexp.MustCompile(`^building goaws v0\.4\.5 from the Go module proxy into ` + regexp.QuoteMeta(emulator.HomeRelative(cache)) + ` \(once\) … done in \d+s \(1\.0 MiB\)\n$`)
	if !want.MatchString(progress.String()) {
		t.Errorf("progress %q, want it to match %s", progress.String(), want)
	}
	if got, _ := os.ReadFile(runs); strings.TrimSpace(string(got)) != "install github.com/Admiral-Piett/goaws/app/cmd@v0.4.5" {
		t.Errorf("go was run with %q", got)
	}
	progress.Reset()
	if again, err := Install(context.Background(), &progress); err != nil || again != bin {
		t.Fatalf("second install: %q, %v", again, err)
	}
	if progress.Len() != 0 {
		t.Errorf("an installed goaws reported %q", progress.String())
	}
}

// TestInstallBuildsOnce: callers at once wait for one build.
func TestInstallBuildsOnce(t *testing.T) {
	runs := fakeGo(t, false)
	var wg sync.WaitGroup
	bins := make([]string, 3)
	for i := range bins {
		wg.Go(func() {
			var err error
			if bins[i], err = Install(context.Background(), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if bins[0] != bins[1] || bins[1] != bins[2] {
		t.Errorf("paths %q", bins)
	}
	if got, _ := os.ReadFile(runs); strings.Count(string(got), "\n") != 1 {
		t.Errorf("go ran %d times: %q", strings.Count(string(got), "\n"), got)
	}
}

func TestInstallSaysWhenItFails(t *testing.T) {
	fakeGo(t, true)
	var progress bytes.Buffer
	_, err := Install(context.Background(), &progress)
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("error %v, want go's output", err)
	}
	if !strings.HasSuffix(progress.String(), " … failed\n") {
		t.Errorf("progress %q", progress.String())
	}
	entries, _ := os.ReadDir(os.Getenv("BLOBVALET_CACHE_DIR"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".install-") {
			t.Errorf("a failed build left %s", e.Name())
		}
	}
}

func TestNoGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("BLOBVALET_CACHE_DIR", t.TempDir())
	if _, err := Install(context.Background(), nil); !errors.Is(err, ErrNoGo) {
		t.Errorf("Install without go: %v, want ErrNoGo", err)
	}
}
