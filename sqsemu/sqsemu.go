// Package sqsemu runs goaws, an Amazon SQS emulator, for tests: the
// counterpart of packages azurite and s3emu for the events queue. It builds
// a pinned goaws from the Go module proxy into blobvalet's cache directory
// on first use, starts it on a free loopback port, and puts a front of its
// own before it, on another loopback port, which clients use.
//
// The front exists because goaws v0.4.5, the last version the module proxy
// serves, speaks only SQS's Query protocol (form-encoded requests, XML
// answers), while aws-sdk-go-v2's SQS client speaks only the AWS JSON 1.0
// protocol. The front translates the operations blobvalet uses (queues:
// create, get URL, attributes, list, purge, delete; messages: send,
// receive, delete, change visibility) both ways, and adds no queue
// behaviour of its own. goaws checks no signature at all; the front checks
// each request's SigV4 signature against a key made for the run (a wrong
// secret is 403), so tests also prove that blobvalet signs its requests.
//
// Where goaws v0.4.5 differs from SQS, and so what tests on it cannot
// show:
//   - ReceiveMessage ignores its VisibilityTimeout: a received message is
//     hidden for the queue's VisibilityTimeout attribute (set at
//     CreateQueue; 30 s by default). ChangeMessageVisibility works.
//   - ApproximateReceiveCount is always 1: goaws does not count receives.
//     So an event's attempts cannot be counted on goaws, and tests of
//     dead-lettering on it use one attempt.
//   - Hidden messages come back on a one-second tick, so visibility is
//     honoured to within a second.
//   - DeleteMessage with a receipt handle goaws does not hold (the message
//     is gone, or was received again) is an error, which the front reports
//     as ReceiptHandleIsInvalid; SQS succeeds.
//   - Messages are kept in memory only, and never expire.
//   - goaws listens on every interface (0.0.0.0; its address cannot be
//     configured), on a free port; the front and every client use
//     127.0.0.1.
package sqsemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/internal/emulator"
)

// The pinned goaws: its module, version and command.
const (
	Module  = "github.com/Admiral-Piett/goaws"
	Version = "v0.4.5"
	Command = Module + "/app/cmd"
)

// Region is the region requests must be signed for.
const Region = "us-east-1"

// AccountID is the account in every queue URL.
const AccountID = "000000000000"

// DefaultVisibility is the VisibilityTimeout of a queue created without
// one, as on SQS.
const DefaultVisibility = 30 * time.Second

const readyTimeout = 30 * time.Second

// Options configure Start. The zero value is valid: free loopback ports.
type Options struct {
	// Bin is the goaws executable; "" means $GOAWS_BIN, else the pinned
	// copy, built on first use.
	Bin string
	// Port is the front's port at 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives goaws's own output; nil discards it. goaws logs every
	// message's body.
	Log io.Writer
	// Progress is told of a first-run build, what and how long; nil says
	// nothing.
	Progress io.Writer
}

// Server is a running goaws and its front.
type Server struct {
	cmd      *exec.Cmd
	out      *emulator.Tail
	done     chan struct{}
	waitErr  error
	port     int
	front    *http.Server
	access   string
	secret   string
	client   *sqs.Client
	stopOnce sync.Once
}

// ErrNoGo means the go command is not on PATH, so goaws cannot be built.
var ErrNoGo = errors.New("sqsemu: go not found: install Go 1.25+ or set GOAWS_BIN to a goaws " + Version + " executable")

// Start starts goaws and its front and waits until they answer.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Bin
	if bin == "" {
		bin = os.Getenv("GOAWS_BIN")
	}
	if bin == "" {
		var err error
		if bin, err = Install(ctx, opts.Progress); err != nil {
			return nil, err
		}
	}
	ports, err := emulator.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("sqsemu: find free ports: %w", err)
	}
	backend := ports[0]
	s := &Server{port: opts.Port, out: &emulator.Tail{}, done: make(chan struct{})}
	if s.port == 0 {
		s.port = ports[1]
	}
	dir, err := os.MkdirTemp("", "sqsemu-*")
	if err != nil {
		return nil, fmt.Errorf("sqsemu: config dir: %w", err)
	}
	// goaws reads its configuration once, at start; it keeps queues in
	// memory, so the directory is needed no longer.
	defer os.RemoveAll(dir)
	config := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(config, goawsConfig(backend), 0o644); err != nil {
		return nil, fmt.Errorf("sqsemu: config: %w", err)
	}
	s.access, s.secret = "BV"+randomHex(9), randomHex(20)
	s.cmd = exec.Command(bin, "-config", config, "Local")
	s.cmd.Dir = dir
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
		// death signal to that thread.
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
		return nil, fmt.Errorf("sqsemu: start %s: %w (set GOAWS_BIN, or unset it to build the pinned goaws)", bin, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("sqsemu: front: %w", err)
	}
	f := &front{
		backend: "http://127.0.0.1:" + strconv.Itoa(backend),
		self:    s.Endpoint(),
		access:  s.access, secret: s.secret, region: Region,
		client: &http.Client{Timeout: time.Minute},
		now:    time.Now,
	}
	s.front = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.front.Serve(l) }() // ends with ErrServerClosed at Stop
	s.client = s.NewClient(s.access, s.secret)
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// goawsConfig is goaws's configuration: no queues or topics, queue URLs on
// 127.0.0.1 at port, SQS's defaults of visibility and size.
func goawsConfig(port int) []byte {
	return []byte(`Local:
  Host: 127.0.0.1
  Port: "` + strconv.Itoa(port) + `"
  AccountId: "` + AccountID + `"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: ` + strconv.Itoa(int(DefaultVisibility/time.Second)) + `
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
`)
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("sqsemu: goaws exited at start (%w); its output:\n%s", s.waitErr, s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("sqsemu: goaws not answering after %v; its output:\n%s", readyTimeout, s.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.client.ListQueues(rctx, &sqs.ListQueuesInput{})
		rcancel()
		if err == nil {
			return nil
		}
	}
}

// Endpoint returns the front's URL, http://127.0.0.1:PORT: the SQS
// endpoint for clients.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// QueueURL returns the URL of the queue called name, as SQS writes it:
// ENDPOINT/ACCOUNT/NAME.
func (s *Server) QueueURL(name string) string { return s.Endpoint() + "/" + AccountID + "/" + name }

// AccessKey returns the access key id, made for this run.
func (s *Server) AccessKey() string { return s.access }

// SecretKey returns the secret access key, made for this run.
func (s *Server) SecretKey() string { return s.secret }

// Client returns a client that signs with the run's key.
func (s *Server) Client() *sqs.Client { return s.client }

// NewClient returns a client of the server that signs with the given key,
// which need not be the run's: a test of refusals passes a wrong secret.
func (s *Server) NewClient(access, secret string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
}

// CreateQueue creates the standard queue called name, with the given
// visibility timeout (0: DefaultVisibility), and returns its URL. An
// existing queue is fine, and keeps its attributes.
func (s *Server) CreateQueue(ctx context.Context, name string, visibility time.Duration) (string, error) {
	attrs := map[string]string{}
	if visibility > 0 {
		attrs["VisibilityTimeout"] = strconv.Itoa(int((visibility + time.Second - 1) / time.Second))
	}
	out, err := s.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("sqsemu: create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// Stop ends goaws and every process it started, waits for it, and closes
// the front. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.front != nil {
			s.front.Close()
		}
		pgid := s.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
		syscall.Kill(-pgid, syscall.SIGKILL) // children that outlived the leader
	})
	return nil
}

// Done is closed when goaws has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Pid returns goaws's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Install makes sure the pinned goaws is built and returns the path of its
// executable. The first call builds it with "go install" from the Go
// module proxy (seconds) into a temporary directory under
// azurite.CacheDir, renamed into place when complete; concurrent callers,
// also in other processes, wait for that one build. progress, if not nil,
// is told what is built where, then how long it took and how large it is.
func Install(ctx context.Context, progress io.Writer) (string, error) {
	base, err := azurite.CacheDir()
	if err != nil {
		return "", fmt.Errorf("sqsemu: cache dir: %w", err)
	}
	bin, err := emulator.GoInstall(ctx, base, emulator.GoTool{
		Name: "goaws", Command: Command, Version: Version,
		Built:   "cmd",
		ErrNoGo: ErrNoGo,
	}, progress)
	if err != nil && !errors.Is(err, ErrNoGo) {
		return "", fmt.Errorf("sqsemu: %w", err)
	}
	return bin, err
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
