// Package e2e holds blobvalet's end-to-end tests: each runs the service,
// or the blobvalet binary, against Azurite, and the browser tests drive real
// Fine Uploader and Uppy pages in Chromium. Under -short the package runs
// nothing.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/blobvalet/blobvalet/internal/cli"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: needs Azurite: skipped under -short")
		os.Exit(0)
	}
	code := m.Run()
	chromeStop()
	for _, b := range []*browserEnv{browserEnvV, s3BrowserEnvV} {
		if b != nil {
			b.stopDev()
			<-b.dev.Done()
		}
	}
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the blobvalet binary, built once for the tests that run it as a
// process of its own.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// blobvaletBinary returns the path of the blobvalet binary, built from this
// work tree on first use.
func blobvaletBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "blobvalet-e2e-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "blobvalet")
		out, err := exec.Command("go", "build", "-o", built.path, "github.com/blobvalet/blobvalet").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// run runs a blobvalet command in this process, as main does but with the
// signals left to the test.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Run(ctx, cli.Process{}, args, stdout, stderr)
}
