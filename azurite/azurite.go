// Package azurite runs the Azurite storage emulator's blob service, for
// tests and for blobvalet dev. It installs a pinned Azurite from npm into
// the user's cache directory on first use, starts it on a free loopback port,
// waits until it answers, and stops it with its whole process group.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// Version is the pinned Azurite version installed on first use.
const Version = "3.37.0"

// The emulator's well-known development account.
const (
	account = "devstoreaccount1"
	key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

const readyTimeout = 30 * time.Second

// Options configure Start. The zero value is valid: in-memory storage on a
// free loopback port.
type Options struct {
	// Bin is the azurite-blob executable; "" means $AZURITE_BIN, else the
	// pinned copy, installed on first use.
	Bin string
	// DataDir keeps blobs in that directory; "" keeps them in memory.
	DataDir string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives Azurite's own output; nil discards it.
	Log io.Writer
	// Progress is told of a first-run install, what and how long; nil
	// says nothing.
	Progress io.Writer
	// CertFile and KeyFile, both PEM, serve HTTPS instead of HTTP.
	CertFile, KeyFile string
	// OAuth accepts bearer tokens ("--oauth basic": checked for form,
	// issuer, audience and time, not signature). It needs HTTPS.
	OAuth bool
	// HTTPClient, if set, is the transport of Client(); with HTTPS it must
	// trust CertFile.
	HTTPClient *http.Client
}

// Server is a running Azurite blob service.
type Server struct {
	cmd      *exec.Cmd
	scheme   string
	port     int
	client   *service.Client
	out      *tail
	done     chan struct{}
	stopOnce sync.Once
	waitErr  error
}

// Start starts Azurite and waits until it answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Bin
	if bin == "" {
		bin = os.Getenv("AZURITE_BIN")
	}
	if bin == "" {
		var err error
		if bin, err = Install(ctx, opts.Progress); err != nil {
			return nil, err
		}
	}
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, fmt.Errorf("azurite: find a free port: %w", err)
		}
	}
	args := []string{
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(port),
		"--disableTelemetry",
		// The SDK sends a newer x-ms-version than Azurite knows.
		"--skipApiVersionCheck",
	}
	scheme := "http"
	if opts.CertFile != "" {
		scheme = "https"
		args = append(args, "--cert", opts.CertFile, "--key", opts.KeyFile)
	}
	if opts.OAuth {
		args = append(args, "--oauth", "basic")
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("azurite: data dir: %w", err)
		}
		args = append(args, "--location", opts.DataDir)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AZURITE_SKIP_API_VERSION_CHECK=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &tail{}
	var w io.Writer = out
	if opts.Log != nil {
		w = io.MultiWriter(out, opts.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("azurite: start %s: %w (install Node.js and npm, or set AZURITE_BIN)", bin, err)
	}
	s := &Server{cmd: cmd, scheme: scheme, port: port, out: out, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		s.Stop()
		return nil, err
	}
	var copts *service.ClientOptions
	if opts.HTTPClient != nil {
		copts = &service.ClientOptions{ClientOptions: policy.ClientOptions{Transport: opts.HTTPClient}}
	}
	if s.client, err = service.NewClientWithSharedKeyCredential(s.Endpoint()+"/", cred, copts); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("azurite: exited at start (%v); its output:\n%s", s.waitErr, s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("azurite: not answering on port %d after %v; its output:\n%s", s.port, readyTimeout, s.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.client.GetProperties(rctx, nil)
		rcancel()
		if err == nil {
			return nil
		}
	}
}

// Endpoint returns the blob service URL, http://127.0.0.1:PORT/devstoreaccount1
// (https with a certificate).
func (s *Server) Endpoint() string {
	return s.scheme + "://127.0.0.1:" + strconv.Itoa(s.port) + "/" + account
}

// Port returns the port Azurite listens on.
func (s *Server) Port() int { return s.port }

// Account returns the emulator's account name.
func (s *Server) Account() string { return account }

// Key returns the emulator's well-known account key.
func (s *Server) Key() string { return key }

// Client returns a Blob service client that signs with the account key.
func (s *Server) Client() *service.Client { return s.client }

// ConnectionString returns a connection string for the emulator.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + account + ";AccountKey=" + key + ";BlobEndpoint=" + s.Endpoint() + ";"
}

// CreateContainers creates the named containers; existing ones are fine.
func (s *Server) CreateContainers(ctx context.Context, names ...string) error {
	for _, n := range names {
		_, err := s.client.CreateContainer(ctx, n, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return fmt.Errorf("azurite: create container %s: %w", n, err)
		}
	}
	return nil
}

// Stop ends Azurite and every process it started, and waits for it. It is
// safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		pgid := s.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
		// Children that outlived the leader.
		syscall.Kill(-pgid, syscall.SIGKILL)
	})
	return nil
}

// Done is closed when the Azurite process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Pid returns the Azurite process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last few KiB written to it, to explain a failed start.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// ErrNoNPM means npm is not on PATH, so Azurite cannot be installed.
var ErrNoNPM = errors.New("azurite: npm not found: install Node.js 20+ and npm, or set AZURITE_BIN to an azurite-blob executable")

// CacheDir returns blobvalet's cache directory: $BLOBVALET_CACHE_DIR, else
// blobvalet under the user cache directory.
func CacheDir() (string, error) {
	if d := os.Getenv("BLOBVALET_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "blobvalet"), nil
}

// Install makes sure the pinned Azurite is installed and returns the path of
// its azurite-blob executable. progress, if not nil, is told of an install.
func Install(ctx context.Context, progress io.Writer) (string, error) {
	dir, err := NPMInstall(ctx, "azurite@"+Version, progress)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "node_modules", ".bin", "azurite-blob"), nil
}

// NPMInstall installs one npm package spec ("name@version") into its own
// directory under CacheDir, once, and returns that directory. Concurrent
// callers, also in other processes, wait for one install: it goes into a
// temporary directory that is renamed into place when complete. An install
// takes from seconds to a minute: progress, if not nil, is told what is
// installed where, then how long it took and how large it is.
func NPMInstall(ctx context.Context, spec string, progress io.Writer) (dir string, err error) {
	base, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("npm install %s: cache dir: %w", spec, err)
	}
	dir = filepath.Join(base, "npm", spec)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", ErrNoNPM
	}
	if progress != nil {
		start := time.Now()
		fmt.Fprintf(progress, "installing %s from npm into %s … ", spec, homeRelative(filepath.Dir(dir)))
		defer func() {
			if err != nil {
				fmt.Fprintln(progress, "failed")
				return
			}
			fmt.Fprintf(progress, "done in %s (%s)\n", time.Since(start).Round(time.Second), formatMiB(treeSize(dir)))
		}()
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, spec,
		"--no-audit", "--no-fund", "--no-save", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %w\n%s", spec, err, bytes.TrimSpace(out))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process finished first: use its copy.
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("npm install %s: %w", spec, err)
	}
	return dir, nil
}

// homeRelative writes a path under the home directory as ~/….
func homeRelative(path string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return path
	}
	if rel, err := filepath.Rel(home, path); err == nil && filepath.IsLocal(rel) {
		return filepath.Join("~", rel)
	}
	return path
}

// treeSize is the size of the files under dir, in bytes.
func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// formatMiB formats a size in MiB with one decimal.
func formatMiB(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
