// Package emulator holds what the storage emulators blobvalet runs for
// development and tests (Azurite, versitygw, goaws) share: free loopback
// ports, the tail of a child's output that explains a failed start, how an
// install reports where it went and how large it is, and (GoInstall) the
// one build of a pinned Go command from the module proxy into the cache.
package emulator

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// FreePorts returns n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// Held open until all are chosen, so that they differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail keeps the last few KiB written to it, to explain a failed start.
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

// Write implements io.Writer.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(p), nil
}

// String returns what was kept, trimmed.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// HomeRelative writes a path under the home directory as ~/….
func HomeRelative(path string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return path
	}
	if rel, err := filepath.Rel(home, path); err == nil && filepath.IsLocal(rel) {
		return filepath.Join("~", rel)
	}
	return path
}

// FormatMiB formats a size in MiB with one decimal.
func FormatMiB(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
