package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/corscfg"
	"github.com/blobvalet/blobvalet/events"
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

// devEnv is a running "blobvalet dev".
type devEnv struct {
	URL     string
	Storage *azurite.Server
	Cfg     *config.Config
	Tokens  map[string]string
	done    chan error
}

type devOptions struct {
	listen  string
	dataDir string
	log     io.Writer
	// expose allows a listen address other than loopback.
	expose bool
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo page and the service")
	data := fs.String("data", "", "keep blobs in this directory between runs (default: in memory)")
	expose := fs.Bool("expose", false, "allow a --listen address other than loopback: anyone who can reach it gets the demo users' tokens")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet dev [--listen ADDR] [--data DIR] [--expose]")
		return 2
	}
	if !*expose && !loopbackListen(*listen) {
		fmt.Fprintf(stderr, "blobvalet dev: --listen %s is not a loopback address: the demo page hands its users' tokens to anyone who can reach it. Use 127.0.0.1:PORT, or add --expose if that is what you want.\n", *listen)
		return 2
	}
	// Closing the terminal stops dev as Ctrl-C does, Azurite with it.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	fmt.Fprintln(stderr, "blobvalet dev: starting Azurite and the service (the first run installs Azurite, fine-uploader and uppy from npm)…")
	env, err := startDev(ctx, devOptions{listen: *listen, dataDir: *data, log: stderr, expose: *expose})
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet dev: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `
  blobvalet dev is running. Press Ctrl-C to stop it (Azurite too).

  Demo page:  %s/
  Storage:    %s   (Azurite, account %s, well-known key)
  Blobs:      %s
  Users:      alice (group staff)  token %s
              bob                  token %s

  Try:  curl -H "Authorization: Bearer %s" "%s/sas?bloburi=%s/uploads/users/alice/x.txt&_method=PUT"

`, env.URL, env.Storage.Endpoint(), env.Storage.Account(), dataNote(*data), env.Tokens["alice"], env.Tokens["bob"], env.Tokens["alice"], env.URL, env.Storage.Endpoint())
	if err := <-env.done; err != nil {
		fmt.Fprintf(stderr, "blobvalet dev: %v\n", err)
		return 1
	}
	return 0
}

func dataNote(dir string) string {
	if dir == "" {
		return "in memory (gone when this stops; --data DIR keeps them)"
	}
	return "kept in " + dir
}

// startDev starts Azurite, sets it up for the demo, and starts the service
// with the demo page. Everything stops when ctx is done; env.done then
// receives the result.
func startDev(ctx context.Context, o devOptions) (*devEnv, error) {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (pick another with --listen): %w", o.listen, err)
	}
	vendor, err := web.InstallVendor(ctx, o.log)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("install fine-uploader and uppy: %w", err)
	}
	az, err := azurite.Start(ctx, azurite.Options{DataDir: o.dataDir, Progress: o.log, Queue: true})
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

func setUpDev(ctx context.Context, az *azurite.Server, ln net.Listener, vendor web.Vendor, o devOptions) (*devEnv, error) {
	if err := az.CreateContainers(ctx, "uploads", "shared", "incoming"); err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	if _, err := corscfg.Apply(ctx, az.Client(), corscfg.Desired{Origins: []string{url}, MaxAge: time.Hour}); err != nil {
		return nil, fmt.Errorf("storage CORS: %w", err)
	}
	env := &devEnv{URL: url, Storage: az, Tokens: map[string]string{"alice": newToken(), "bob": newToken()}, done: make(chan error, 1)}
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
`, ln.Addr().String(), az.Account(), az.Endpoint(), az.QueueEndpoint(), url) + devRules
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return secrets[k] })
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	env.Cfg = cfg
	if err := ensureEventQueues(ctx, cfg); err != nil {
		return nil, err
	}
	log, err := newLogger(cfg.Log, o.log)
	if err != nil {
		return nil, err
	}
	demo := web.Demo{
		ContainerURL: az.Endpoint() + "/uploads",
		Users:        []web.User{{ID: "alice", Token: env.Tokens["alice"]}, {ID: "bob", Token: env.Tokens["bob"]}},
	}
	st := newStatus(log)
	g, err := newGeneration(ctx, cfg, parts{log: log, extra: web.Routes(demo, vendor), status: st})
	if err != nil {
		return nil, err
	}
	g.publish(st)
	go watch(ctx, st, func() *generation { return g }, log)
	if g.deliverer != nil {
		go g.deliverer.Run(ctx)
	}
	h := withAdmin(g.srv)
	if !o.expose {
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
	svc, err := newQueueServiceClient(cfg.Storage, cfg.Storage.QueueEndpoint, storageParts{})
	if err != nil {
		return err
	}
	name := config.DefaultEventsQueue
	if ev := cfg.Events(); ev != nil {
		name = ev.Queue
	}
	queues, err := events.NewQueues(svc, name)
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
