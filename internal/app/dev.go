package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/corscfg"
	"github.com/blobvalet/blobvalet/events/azurequeue"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/web"
)

// devRules are the core example's rules, as the demo runs them.
const devRules = `
rules:
  - name: own-folder
    users: ["*"]
    container: uploads
    blobs: "users/{user}/**"
    methods: [PUT, DELETE]
    overwrite: false
    max_size: 10MiB
    content_types: ["image/*", "text/plain"]
  - name: staff-drop
    groups: [staff]
    container: shared
    blobs: "**"
    methods: [PUT]
    overwrite: true
`

// Dev is a running "blobvalet dev".
type Dev struct {
	// URL is the demo page and the service.
	URL string
	// Storage is the Azurite it runs on; nil on S3.
	Storage *azurite.Server
	// S3 is the versitygw it runs on with DevOptions.Storage "s3"; nil
	// on Azure.
	S3 *s3emu.Server
	// Cfg is the demo's configuration.
	Cfg *config.Config
	// Tokens are the demo users' bearer tokens, by user.
	Tokens map[string]string
	done   chan error
}

// Done receives the result once dev has stopped, its emulator with it.
func (d *Dev) Done() <-chan error { return d.done }

// DevOptions say where blobvalet dev listens and keeps its blobs.
type DevOptions struct {
	// Listen is the address of the demo page and the service.
	Listen string
	// DataDir keeps the blobs between runs; "" keeps them in memory.
	DataDir string
	// Log receives the logs and Azurite's install progress.
	Log io.Writer
	// Expose allows a listen address other than loopback.
	Expose bool
	// UploadHook sees each part of a traditional upload before it is
	// stored (Options.UploadHook); for tests.
	UploadHook UploadHook
	// Storage is StorageAzure (also "") for Azurite, or StorageS3 for
	// versitygw.
	Storage string
}

// The storages blobvalet dev runs on (DevOptions.Storage).
const (
	StorageAzure = "azure"
	StorageS3    = "s3"
)

// StartDev starts Azurite, sets it up for the demo, and starts the service
// with the demo page. Everything stops when ctx is done; Done then
// receives the result.
func StartDev(ctx context.Context, o DevOptions) (*Dev, error) {
	switch o.Storage {
	case "", StorageAzure:
	case StorageS3:
		return startS3Dev(ctx, o)
	default:
		return nil, fmt.Errorf("unknown storage %q: want %s or %s", o.Storage, StorageAzure, StorageS3)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (pick another with --listen): %w", o.Listen, err)
	}
	vendor, err := web.InstallVendor(ctx, o.Log)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("install fine-uploader and uppy: %w", err)
	}
	az, err := azurite.Start(ctx, azurite.Options{DataDir: o.DataDir, Progress: o.Log, Queue: true})
	if err != nil {
		ln.Close()
		return nil, err
	}
	env, err := setUpDev(ctx, az, ln, vendor, o)
	if err != nil {
		ln.Close()
		az.Stop()
		return nil, err
	}
	return env, nil
}

func setUpDev(ctx context.Context, az *azurite.Server, ln net.Listener, vendor web.Vendor, o DevOptions) (*Dev, error) {
	if err := az.CreateContainers(ctx, "uploads", "shared", "incoming"); err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	if _, err := corscfg.Apply(ctx, az.Client(), corscfg.Desired{Origins: []string{url}, MaxAge: time.Hour}); err != nil {
		return nil, fmt.Errorf("storage CORS: %w", err)
	}
	env := &Dev{URL: url, Storage: az, Tokens: map[string]string{"alice": newToken(), "bob": newToken()}, done: make(chan error, 1)}
	secrets := map[string]string{"DEV_STORAGE_KEY": az.Key(), "DEV_ALICE_TOKEN": env.Tokens["alice"], "DEV_BOB_TOKEN": env.Tokens["bob"]}
	yaml := fmt.Sprintf(`
listen: %q
storage: {account: %s, endpoint: %q, queue_endpoint: %q, key_env: DEV_STORAGE_KEY}
staging: {container: incoming}
cors_origins: [%q]
auth:
  tokens:
    - {user: alice, token_env: DEV_ALICE_TOKEN, groups: [staff]}
    - {user: bob, token_env: DEV_BOB_TOKEN}
log: {format: console}
upload: {enabled: true, container: uploads}
`, ln.Addr().String(), az.Account(), az.Endpoint(), az.QueueEndpoint(), url) + devRules
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return secrets[k] })
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	env.Cfg = cfg
	if err := ensureEventQueues(ctx, cfg); err != nil {
		return nil, err
	}
	log, err := NewLogger(cfg.Log, o.Log)
	if err != nil {
		return nil, err
	}
	demo := web.Demo{
		ContainerURL: az.Endpoint() + "/uploads",
		Users:        []web.User{{ID: "alice", Token: env.Tokens["alice"]}, {ID: "bob", Token: env.Tokens["bob"]}},
	}
	st := newReadiness(log)
	g, err := newGeneration(ctx, cfg, deps{log: log, extra: web.Routes(demo, vendor), readiness: st, uploadHook: o.UploadHook}, startupCheck)
	if err != nil {
		return nil, err
	}
	g.publish(st)
	go watch(ctx, st, func() *generation { return g }, log)
	if g.deliverer != nil {
		go g.deliverer.Run(ctx)
	}
	h := withAdmin(g.srv)
	if !o.Expose {
		h = web.HostGuard(ln.Addr().String(), h)
	}
	go func() {
		err := serveOn(ctx, h, ln, "listening", log)
		az.Stop()
		log.Sync()
		env.done <- err
	}()
	return env, nil
}

// ensureEventQueues creates the events queue and its dead-letter queue on
// Azurite, so that a webhook added to the demo's configuration finds them.
func ensureEventQueues(ctx context.Context, cfg *config.Config) error {
	svc, err := newQueueServiceClient(cfg.Storage, cfg.Storage.QueueEndpoint, clientSettings{})
	if err != nil {
		return err
	}
	name := config.DefaultEventsQueue
	if ev := cfg.Events(); ev != nil {
		name = ev.Queue
	}
	queues, err := azurequeue.NewQueues(svc, name)
	if err != nil {
		return err
	}
	if err := queues.Ensure(ctx); err != nil {
		return fmt.Errorf("events queues: %w", err)
	}
	return nil
}

// withAdmin serves the admin routes (/readyz, /metrics) beside the others,
// for dev's one loopback listener.
func withAdmin(srv *server.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/readyz", srv.Admin())
	mux.Handle("/metrics", srv.Admin())
	mux.Handle("/", srv)
	return mux
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
