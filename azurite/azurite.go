// Package azurite runs the Azurite storage emulator's blob service, and on
// request its queue service, for tests and for blobvalet dev. It installs a pinned Azurite from npm into
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
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/blobvalet/blobvalet/internal/emulator"
)

// Version is the pinned Azurite version installed on first use.
const Version = "3.37.0"

// The emulator's well-known development account and its key, the same in
// every Azurite: not a secret.
const (
	WellKnownAccount = "devstoreaccount1"
	WellKnownKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

const readyTimeout = 30 * time.Second

// Options configure Start. The zero value is valid: in-memory storage on a
// free loopback port.
type Options struct {
	// Bin is the azurite-blob executable; "" means $AZURITE_BIN, else the
	// pinned copy, installed on first use. The queue service runs the
	// azurite-queue executable in the same directory.
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
	// Queue also starts the queue service (azurite-queue, next to Bin) on
	// its own free loopback port; see QueueEndpoint.
	Queue bool
	// QueuePort is the queue service's port at 127.0.0.1; 0 picks a free one.
	QueuePort int
}

// Server is a running Azurite blob service, with its queue service if
// Options.Queue asked for it.
type Server struct {
	blob      *proc
	queue     *proc
	scheme    string
	port      int
	queuePort int
	client    *service.Client
	done      chan struct{}
	stopOnce  sync.Once
}

// proc is one Azurite process, in a process group of its own.
type proc struct {
	cmd     *exec.Cmd
	out     *emulator.Tail
	done    chan struct{}
	waitErr error
}

func startProc(bin string, args []string, log io.Writer) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AZURITE_SKIP_API_VERSION_CHECK=true")
	cmd.SysProcAttr = procAttr()
	out := &emulator.Tail{}
	var w io.Writer = out
	if log != nil {
		w = io.MultiWriter(out, log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	started := make(chan error)
	go func() {
		// Where procAttr binds the process to its parent's death, the
		// kernel means the thread that started it: this goroutine keeps
		// that thread, blocked in Wait, for the process's lifetime. It
		// unlocks the thread once the process has exited rather than
		// returning locked: Go ends a thread whose goroutine returns
		// locked, and the kernel would then kill any other child bound to
		// that thread's death, such as a browser a test started from it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("azurite: start %s: %w (install Node.js and npm, or set AZURITE_BIN)", bin, err)
	}
	return p, nil
}

// stop ends the process and every process it started, and waits for it.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader.
	syscall.Kill(-pgid, syscall.SIGKILL)
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
	port, queuePort := opts.Port, opts.QueuePort
	if port == 0 || (opts.Queue && queuePort == 0) {
		ports, err := emulator.FreePorts(2)
		if err != nil {
			return nil, fmt.Errorf("azurite: find a free port: %w", err)
		}
		if port == 0 {
			port = ports[0]
		}
		if queuePort == 0 {
			queuePort = ports[1]
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
	var common []string
	if opts.CertFile != "" {
		scheme = "https"
		common = append(common, "--cert", opts.CertFile, "--key", opts.KeyFile)
	}
	if opts.OAuth {
		common = append(common, "--oauth", "basic")
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("azurite: data dir: %w", err)
		}
		common = append(common, "--location", opts.DataDir)
	} else {
		common = append(common, "--inMemoryPersistence")
	}
	args = append(args, common...)
	s := &Server{scheme: scheme, port: port, done: make(chan struct{})}
	var err error
	if s.blob, err = startProc(bin, args, opts.Log); err != nil {
		return nil, err
	}
	if opts.Queue {
		s.queuePort = queuePort
		qargs := append([]string{
			"--queueHost", "127.0.0.1",
			"--queuePort", strconv.Itoa(s.queuePort),
			"--disableTelemetry",
			"--skipApiVersionCheck",
		}, common...)
		if s.queue, err = startProc(filepath.Join(filepath.Dir(bin), "azurite-queue"), qargs, opts.Log); err != nil {
			s.Stop()
			return nil, err
		}
	}
	go func() {
		<-s.blob.done
		if s.queue != nil {
			<-s.queue.done
		}
		close(s.done)
	}()
	cred, err := azblob.NewSharedKeyCredential(WellKnownAccount, WellKnownKey)
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
	blobUp, queueUp := false, s.queue == nil
	for {
		select {
		case <-s.blob.done:
			return fmt.Errorf("azurite: exited at start (%w); its output:\n%s", s.blob.waitErr, s.blob.out.String())
		case <-s.queueDone():
			return fmt.Errorf("azurite: queue service exited at start (%w); its output:\n%s", s.queue.waitErr, s.queue.out.String())
		case <-ctx.Done():
			if !blobUp || s.queue == nil {
				return fmt.Errorf("azurite: not answering on port %d after %v; its output:\n%s", s.port, readyTimeout, s.blob.out.String())
			}
			return fmt.Errorf("azurite: queue service not answering on port %d after %v; its output:\n%s", s.queuePort, readyTimeout, s.queue.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if !blobUp {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := s.client.GetProperties(rctx, nil)
			rcancel()
			blobUp = err == nil
		}
		if !queueUp {
			// Any HTTP answer means the queue service is listening.
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.queuePort), time.Second)
			if err == nil {
				c.Close()
				queueUp = true
			}
		}
		if blobUp && queueUp {
			return nil
		}
	}
}

// queueDone is the queue process's done channel, or nil (never ready) when
// there is no queue service.
func (s *Server) queueDone() <-chan struct{} {
	if s.queue == nil {
		return nil
	}
	return s.queue.done
}

// Endpoint returns the blob service URL, http://127.0.0.1:PORT/devstoreaccount1
// (https with a certificate).
func (s *Server) Endpoint() string {
	return s.scheme + "://127.0.0.1:" + strconv.Itoa(s.port) + "/" + WellKnownAccount
}

// QueueEndpoint returns the queue service URL,
// http://127.0.0.1:PORT/devstoreaccount1 (https with a certificate), or ""
// when Options.Queue was not set.
func (s *Server) QueueEndpoint() string {
	if s.queue == nil {
		return ""
	}
	return s.scheme + "://127.0.0.1:" + strconv.Itoa(s.queuePort) + "/" + WellKnownAccount
}

// Port returns the port Azurite listens on.
func (s *Server) Port() int { return s.port }

// Account returns the emulator's account name.
func (s *Server) Account() string { return WellKnownAccount }

// Key returns the emulator's well-known account key.
func (s *Server) Key() string { return WellKnownKey }

// Client returns a Blob service client that signs with the account key.
func (s *Server) Client() *service.Client { return s.client }

// ConnectionString returns a connection string for the emulator.
func (s *Server) ConnectionString() string {
	cs := "DefaultEndpointsProtocol=" + s.scheme + ";AccountName=" + WellKnownAccount + ";AccountKey=" + WellKnownKey + ";BlobEndpoint=" + s.Endpoint() + ";"
	if s.queue != nil {
		cs += "QueueEndpoint=" + s.QueueEndpoint() + ";"
	}
	return cs
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
		var wg sync.WaitGroup
		for _, p := range []*proc{s.blob, s.queue} {
			if p != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.stop()
				}()
			}
		}
		wg.Wait()
	})
	return nil
}

// Done is closed when the Azurite processes have exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Pid returns the Azurite blob service's process id.
func (s *Server) Pid() int { return s.blob.cmd.Process.Pid }

// QueuePid returns the queue service's process id, or 0 without one.
func (s *Server) QueuePid() int {
	if s.queue == nil {
		return 0
	}
	return s.queue.cmd.Process.Pid
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
		fmt.Fprintf(progress, "installing %s from npm into %s … ", spec, emulator.HomeRelative(filepath.Dir(dir)))
		defer func() {
			if err != nil {
				fmt.Fprintln(progress, "failed")
				return
			}
			fmt.Fprintf(progress, "done in %s (%s)\n", time.Since(start).Round(time.Second), emulator.FormatMiB(treeSize(dir)))
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

// treeSize is the size of the files under dir, in bytes, as far as it can
// be read: it is only reported.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
