// Package s3emu runs versitygw, an S3-compatible gateway that verifies
// signatures, as the S3 emulator for tests: the counterpart of package
// azurite. It builds a pinned versitygw from the Go module proxy into
// blobvalet's cache directory on first use, starts it on a free loopback
// port with the posix backend in a directory of its own and a root key
// made for the run, waits until it answers, and stops it with its whole
// process group.
//
// versitygw checks every signature (a wrong secret is 403), conditional
// puts, completes and deletes, and copy-source conditions; it ignores
// If-None-Match on CopyObject (it overwrites), which is why blobvalet's
// create-only promotion is a multipart copy by default.
package s3emu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/internal/emulator"
)

// The pinned versitygw: its module, version and command.
const (
	Module  = "github.com/versity/versitygw"
	Version = "v1.8.0"
	Command = Module + "/cmd/versitygw"
)

// Region is the region versitygw is started with; requests must be signed
// for it.
const Region = "us-east-1"

// copyObjectThreshold is the largest object versitygw copies, in CopyObject
// and UploadPartCopy: S3's own limit for one copy, 5 GiB. The command's
// default is the same; it is set anyway because its zero value (versitygw
// as a library) refuses every copy.
const copyObjectThreshold = 5 << 30

const readyTimeout = 30 * time.Second

// Options configure Start. The zero value is valid: a fresh directory on a
// free loopback port.
type Options struct {
	// Bin is the versitygw executable; "" means $VERSITYGW_BIN, else the
	// pinned copy, built on first use.
	Bin string
	// DataDir keeps buckets in that directory; "" uses a temporary one,
	// removed by Stop.
	DataDir string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives versitygw's own output; nil discards it.
	Log io.Writer
	// Progress is told of a first-run build, what and how long; nil says
	// nothing.
	Progress io.Writer
	// VirtualDomain turns on virtual-hosted-style addressing under that
	// base domain besides path style: with "localhost", bucket B answers
	// at http://B.localhost:PORT. Fine Uploader S3 needs it for signature
	// v4 chunking, which signs the key without the bucket. "localhost"
	// suits browsers, which resolve every *.localhost name to loopback;
	// "" leaves path style only.
	VirtualDomain string
	// IAM runs versitygw's own IAM (in a directory of its own, removed
	// by Stop), so that CreateUser can add accounts besides the root key:
	// such an account may do only what bucket policies grant it.
	IAM bool
}

// Server is a running versitygw.
type Server struct {
	cmd      *exec.Cmd
	out      *emulator.Tail
	done     chan struct{}
	waitErr  error
	port     int
	access   string
	secret   string
	tempDir  string
	iamDir   string
	client   *s3.Client
	vdomain  string
	stopOnce sync.Once
}

// ErrNoGo means the go command is not on PATH, so versitygw cannot be built.
var ErrNoGo = errors.New("s3emu: go not found: install Go 1.25+ or set VERSITYGW_BIN to a versitygw " + Version + " executable")

// Start starts versitygw and waits until it answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Bin
	if bin == "" {
		bin = os.Getenv("VERSITYGW_BIN")
	}
	if bin == "" {
		var err error
		if bin, err = Install(ctx, opts.Progress); err != nil {
			return nil, err
		}
	}
	s := &Server{port: opts.Port, out: &emulator.Tail{}, done: make(chan struct{}), vdomain: opts.VirtualDomain}
	if s.port == 0 {
		ports, err := emulator.FreePorts(1)
		if err != nil {
			return nil, fmt.Errorf("s3emu: find a free port: %w", err)
		}
		s.port = ports[0]
	}
	dir := opts.DataDir
	if dir == "" {
		var err error
		if s.tempDir, err = os.MkdirTemp("", "s3emu-*"); err != nil {
			return nil, fmt.Errorf("s3emu: data dir: %w", err)
		}
		dir = s.tempDir
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("s3emu: data dir: %w", err)
	}
	s.access, s.secret = "BV"+randomHex(9), randomHex(20)
	args := []string{
		"--port", "127.0.0.1:" + strconv.Itoa(s.port),
		"--region", Region,
		"--copy-object-threshold", strconv.Itoa(copyObjectThreshold),
	}
	if s.vdomain != "" {
		args = append(args, "--virtual-domain", s.vdomain)
	}
	if opts.IAM {
		var err error
		if s.iamDir, err = os.MkdirTemp("", "s3emu-iam-*"); err != nil {
			s.removeTemp()
			return nil, fmt.Errorf("s3emu: iam dir: %w", err)
		}
		args = append(args, "--iam-dir", s.iamDir)
	}
	args = append(args, "posix", dir)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	// The root key goes in the environment, not on the command line, which
	// any local user can read.
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.access, "ROOT_SECRET_KEY="+s.secret)
	s.cmd.SysProcAttr = procAttr()
	var w io.Writer = s.out
	if opts.Log != nil {
		w = io.MultiWriter(s.out, opts.Log)
	}
	s.cmd.Stdout, s.cmd.Stderr = w, w
	started := make(chan error)
	go func() {
		// As in package azurite: the thread that started the process stays
		// with it while it runs, because the kernel binds the process's
		// death signal to that thread, and is unlocked once it has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("s3emu: start %s: %w (set VERSITYGW_BIN, or unset it to build the pinned versitygw)", bin, err)
	}
	s.client = s.NewClient(s.access, s.secret)
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
			return fmt.Errorf("s3emu: versitygw exited at start (%w); its output:\n%s", s.waitErr, s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("s3emu: versitygw not answering on port %d after %v; its output:\n%s", s.port, readyTimeout, s.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.client.ListBuckets(rctx, &s3.ListBucketsInput{})
		rcancel()
		if err == nil {
			return nil
		}
	}
}

// Endpoint returns the service URL, http://127.0.0.1:PORT, which takes
// path-style requests.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// VirtualEndpoint returns the base URL of virtual-hosted-style
// addressing, http://DOMAIN:PORT, where bucket B is http://B.DOMAIN:PORT;
// "" unless Options.VirtualDomain was set.
func (s *Server) VirtualEndpoint() string {
	if s.vdomain == "" {
		return ""
	}
	return "http://" + s.vdomain + ":" + strconv.Itoa(s.port)
}

// Port returns the port versitygw listens on.
func (s *Server) Port() int { return s.port }

// AccessKey returns the root access key id, made for this run.
func (s *Server) AccessKey() string { return s.access }

// SecretKey returns the root secret access key, made for this run.
func (s *Server) SecretKey() string { return s.secret }

// Client returns a client that signs with the root key.
func (s *Server) Client() *s3.Client { return s.client }

// NewClient returns a path-style client of the server that signs with the
// given key, which need not be the server's: a test of refusals passes a
// wrong secret.
func (s *Server) NewClient(access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		BaseEndpoint:               aws.String(s.Endpoint()),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBuckets creates the named buckets; existing ones are fine.
func (s *Server) CreateBuckets(ctx context.Context, names ...string) error {
	for _, n := range names {
		_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(n)})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("s3emu: create bucket %s: %w", n, err)
		}
	}
	return nil
}

// Stop ends versitygw and every process it started, waits for it, and
// removes the temporary data directory. It is safe to call more than once.
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
		syscall.Kill(-pgid, syscall.SIGKILL) // children that outlived the leader
		s.removeTemp()
	})
	return nil
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
	if s.iamDir != "" {
		os.RemoveAll(s.iamDir)
	}
}

// Done is closed when versitygw has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Pid returns versitygw's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Install makes sure the pinned versitygw is built and returns the path of
// its executable. The first call builds it with "go install" from the Go
// module proxy (a few minutes on two cores) into a temporary directory
// under azurite.CacheDir, renamed into place when complete; concurrent
// callers, also in other processes, wait for that one build. progress, if
// not nil, is told what is built where, then how long it took and how
// large it is.
func Install(ctx context.Context, progress io.Writer) (string, error) {
	base, err := azurite.CacheDir()
	if err != nil {
		return "", fmt.Errorf("s3emu: cache dir: %w", err)
	}
	bin, err := emulator.GoInstall(ctx, base, emulator.GoTool{
		Name: "versitygw", Command: Command, Version: Version,
		Takes: "a few minutes", ErrNoGo: ErrNoGo,
	}, progress)
	if err != nil && !errors.Is(err, ErrNoGo) {
		return "", fmt.Errorf("s3emu: %w", err)
	}
	return bin, err
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
