package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/sas"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
)

// Server timeouts. A signature request is small and quick; these only stop
// slow or stuck clients from holding connections.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 15 * time.Second
	startCheckTimeout = 15 * time.Second
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); see examples/blobvalet.yaml")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet serve --config FILE")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	defer log.Sync()
	log.Info("blobvalet starting", currentBuild().LogFields()...)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", zap.String("listen", cfg.Listen), zap.Error(err))
		return 1
	}
	plain := ln
	ln, reloadCert, err := secureListener(ln, cfg, log)
	if err != nil {
		plain.Close()
		log.Error("blobvalet cannot start", zap.Error(err))
		return 1
	}
	rl, err := newReloader(ctx, *path, cfg, log)
	if err != nil {
		ln.Close()
		log.Error("blobvalet cannot start", zap.Error(err))
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				rl.reload(ctx)
				reloadCert()
			}
		}
	}()
	go rl.sweep(ctx)
	if err := serveOn(ctx, rl, ln, log); err != nil {
		log.Error("blobvalet stopped", zap.Error(err))
		return 1
	}
	return 0
}

// reloader serves with the current configuration and swaps in a new one on
// reload. Requests in flight finish with the server they started on; a
// configuration that fails its checks leaves the current one in place.
type reloader struct {
	path         string
	log          *zap.Logger
	metrics      *server.Metrics
	sweepMetrics *staging.Metrics
	mu           sync.Mutex // one reload at a time
	listen       string
	current      atomic.Pointer[generation]
}

func newReloader(ctx context.Context, path string, cfg *config.Config, log *zap.Logger) (*reloader, error) {
	metrics := server.NewMetrics(prometheus.NewRegistry())
	b := currentBuild()
	if err := metrics.Registry().Register(server.NewBuildInfo(b.Version, b.Commit, b.GoVersion)); err != nil {
		return nil, err
	}
	rl := &reloader{path: path, log: log, metrics: metrics, sweepMetrics: staging.NewMetrics(metrics.Registry()), listen: cfg.Listen}
	g, err := newGeneration(ctx, cfg, log, nil, rl.metrics, rl.sweepMetrics)
	if err != nil {
		return nil, err
	}
	rl.current.Store(g)
	return rl, nil
}

// ServeHTTP implements http.Handler with the current server.
func (rl *reloader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rl.current.Load().srv.ServeHTTP(w, r)
}

// sweep removes unverified uploads every staging.sweep_every, with the
// current configuration, until ctx ends.
func (rl *reloader) sweep(ctx context.Context) {
	staging.Run(ctx, rl.log.Named("sweeper"),
		func() time.Duration { return time.Duration(rl.current.Load().cfg.Staging.SweepEvery) },
		func() (*staging.Sweeper, time.Duration) {
			g := rl.current.Load()
			return g.sweeper, time.Duration(g.cfg.Staging.MaxAge)
		})
}

// reload reads the configuration file again: rules, tokens, keys, origins
// and the rest take effect for new requests. The listen address and the log
// settings need a restart.
func (rl *reloader) reload(ctx context.Context) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	cfg, err := config.Load(rl.path)
	if err == nil {
		var g *generation
		if g, err = newGeneration(ctx, cfg, rl.log, nil, rl.metrics, rl.sweepMetrics); err == nil {
			old := rl.current.Swap(g)
			if c, ok := old.srv.Signer.(io.Closer); ok {
				c.Close()
			}
			if cfg.Listen != rl.listen {
				rl.log.Warn("listen changed in the configuration; it takes effect on restart", zap.String("listen", rl.listen), zap.String("configured", cfg.Listen))
			}
			rl.log.Info("configuration reloaded", zap.String("config", rl.path), zap.String("key", cfg.Storage.KeyName()))
			return nil
		}
	}
	rl.log.Error("configuration not reloaded; the previous one stays in force", zap.String("config", rl.path), zap.Error(err))
	return err
}

// serveOn serves h on ln until ctx is done, then shuts down gracefully.
func serveOn(ctx context.Context, h http.Handler, ln net.Listener, log *zap.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}

// newServer checks storage and assembles the HTTP server.
func newServer(ctx context.Context, cfg *config.Config, log *zap.Logger, extra func(*mux.Router), metrics *server.Metrics) (*server.Server, error) {
	g, err := newGeneration(ctx, cfg, log, extra, metrics, nil)
	if err != nil {
		return nil, err
	}
	return g.srv, nil
}

// generation is what one configuration runs: the HTTP server and the
// staging sweeper.
type generation struct {
	srv     *server.Server
	sweeper *staging.Sweeper
	cfg     *config.Config
}

// newGeneration checks storage and assembles the server and the sweeper.
func newGeneration(ctx context.Context, cfg *config.Config, log *zap.Logger, extra func(*mux.Router), metrics *server.Metrics, sweepMetrics *staging.Metrics) (*generation, error) {
	client, err := cfg.Storage.NewServiceClient()
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	containers := cfg.Policy().Containers()
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if err := checkStorage(cctx, client, cfg.Storage, containers, cfg.Staging.Container); err != nil {
		return nil, err
	}
	auth, err := authn.New(ctx, cfg.Auth)
	if err != nil {
		return nil, err
	}
	signer, ready, err := newSigner(ctx, cfg, client)
	if err != nil {
		return nil, err
	}
	log.Info("storage ready",
		zap.String("account", cfg.Storage.Account),
		zap.String("key", cfg.Storage.KeyName()),
		zap.Strings("containers", containers),
		zap.String("staging", cfg.Staging.Container),
		zap.Int("rules", len(cfg.Policy().Rules())))
	area := staging.Area{Container: cfg.Staging.Container, Client: client.NewContainerClient(cfg.Staging.Container)}
	srv := server.New(server.Options{
		Logger:      log,
		Auth:        auth,
		Policy:      cfg.Policy(),
		Resolver:    cfg.Resolver(),
		Signer:      signer,
		Lifetime:    time.Duration(cfg.SAS.Lifetime),
		Staging:     area,
		CORSOrigins: cfg.CORSOrigins,
		Ready:       ready,
		Success:     newChecker(cfg, client, signer, area, log),
		Extra:       extra,
		Metrics:     metrics,
		Limits:      limits.New(limits.OptionsFrom(cfg.Limits), time.Now, log.Named("limits")),
	})
	sweeper := &staging.Sweeper{Client: area.Client, Log: log.Named("sweeper"), Metrics: sweepMetrics}
	return &generation{srv: srv, sweeper: sweeper, cfg: cfg}, nil
}

// newSigner returns the SAS signer for the configured credential, and the
// readiness check that goes with it.
func newSigner(ctx context.Context, cfg *config.Config, client *service.Client) (server.Signer, func(context.Context) error, error) {
	storageReady := readiness(client)
	allowHTTP := config.IsLoopback(cfg.Storage.Endpoint)
	if cfg.Storage.Credential == config.CredentialAzureAD {
		d := sas.NewDelegationSigner(cfg.Resolver(), client, allowHTTP, time.Now, sas.DefaultKeyLifetime, sas.DefaultRenewBefore)
		if err := d.Start(ctx); err != nil {
			return nil, nil, fmt.Errorf("storage account %s refused a user delegation key: give blobvalet's identity the Storage Blob Delegator role (and Storage Blob Data Contributor on the containers): %s", cfg.Storage.Account, shortError(err))
		}
		return d, func(ctx context.Context) error {
			if err := d.Ready(); err != nil {
				return err
			}
			return storageReady(ctx)
		}, nil
	}
	cred, err := cfg.Storage.SharedKeyCredential()
	if err != nil {
		return nil, nil, fmt.Errorf("storage key: %w", err)
	}
	signer, err := sas.NewSharedKeySigner(cfg.Resolver(), cred, allowHTTP)
	return signer, storageReady, err
}

// thumbnailLifetime is how long a thumbnail's read-only SAS URL is valid;
// promotionReadLifetime, the read-only SAS storage copies a staging blob
// with.
const (
	thumbnailLifetime     = time.Hour
	promotionReadLifetime = time.Hour
)

// newChecker assembles the upload-success check from the configuration.
func newChecker(cfg *config.Config, client *service.Client, signer server.Signer, area staging.Area, log *zap.Logger) *success.Checker {
	notifier := func(w *config.Webhook) *success.Notifier {
		if w == nil {
			return nil
		}
		return &success.Notifier{URL: w.URL, Secret: w.Secret(), Timeout: time.Duration(w.Timeout), Now: time.Now}
	}
	thumbs := map[string]string{}
	hooks := map[string]*success.Notifier{}
	for _, r := range cfg.Rules {
		thumbs[r.Name] = r.Thumbnail
		if r.Webhook != nil {
			hooks[r.Name] = notifier(r.Webhook)
		}
	}
	return &success.Checker{
		Store: success.AzureStore{Client: client, SourceURL: func(ref blobref.Ref) (string, error) {
			return signer.Sign(ref, sas.Permissions{Read: true}, time.Now().Add(promotionReadLifetime))
		}},
		Policy:   cfg.Policy(),
		Staging:  area,
		Notifier: notifier(cfg.Webhook),
		Hooks:    hooks,
		Now:      time.Now,
		Log:      log,
		Thumbs: func(rule *authz.Rule, ref blobref.Ref, contentType string) (string, error) {
			switch t := thumbs[rule.Name]; t {
			case "none":
				return "", nil
			case "", "sas":
				if !success.IsRasterImage(contentType) {
					return "", nil
				}
				return signer.Sign(ref, sas.Permissions{Read: true}, time.Now().Add(thumbnailLifetime))
			default:
				return success.ExpandTemplate(t, ref), nil
			}
		},
	}
}

// checkStorage makes sure the account answers, the key is right, every
// container the rules name exists, and the staging container exists and is
// private, and says what to fix when not.
func checkStorage(ctx context.Context, client *service.Client, st config.Storage, containers []string, stagingContainer string) error {
	if _, err := client.GetProperties(ctx, nil); err != nil {
		var re *azcore.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
			if st.Credential == config.CredentialAzureAD {
				return fmt.Errorf("storage account %s at %s refused blobvalet's Entra ID identity: grant it the Storage Blob Data Contributor role (%s)", st.Account, st.Endpoint, shortError(err))
			}
			return fmt.Errorf("storage account %s at %s refused the key %q: check that it is the account's current key", st.Account, st.Endpoint, st.KeyName())
		case ctx.Err() != nil || isNetError(err):
			return fmt.Errorf("storage endpoint %s did not answer: check storage.endpoint and the network (%v)", st.Endpoint, shortError(err))
		}
		return fmt.Errorf("storage account %s at %s: %v", st.Account, st.Endpoint, shortError(err))
	}
	for _, c := range containers {
		_, err := client.NewContainerClient(c).GetProperties(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return fmt.Errorf("container %q, named by a rule, does not exist in storage account %s: create it (az storage container create --account-name %s --name %s) or fix the rule", c, st.Account, st.Account, c)
		}
		if err != nil {
			return fmt.Errorf("container %q: %v", c, shortError(err))
		}
	}
	props, err := client.NewContainerClient(stagingContainer).GetProperties(ctx, nil)
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return fmt.Errorf("staging container %q does not exist in storage account %s: create it without public access (az storage container create --account-name %s --name %s)", stagingContainer, st.Account, st.Account, stagingContainer)
	case err != nil:
		return fmt.Errorf("staging container %q: %v", stagingContainer, shortError(err))
	case props.BlobPublicAccess != nil && *props.BlobPublicAccess != "":
		return fmt.Errorf("staging container %q allows public access (%s): unverified uploads must never be readable; make it private (az storage container set-permission --account-name %s --name %s --public-access off)", stagingContainer, *props.BlobPublicAccess, st.Account, stagingContainer)
	}
	return nil
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// shortError keeps the first line of an SDK error: the rest is a dump of the
// HTTP exchange.
func shortError(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// readiness returns a check that storage still answers, cached for a few
// seconds so that probes do not load the account.
func readiness(client *service.Client) func(context.Context) error {
	const ttl = 5 * time.Second
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(checked) < ttl {
			return last
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := client.GetProperties(cctx, nil)
		last, checked = nil, time.Now()
		if err != nil {
			last = fmt.Errorf("storage does not answer: %s", shortError(err))
		}
		return last
	}
}

func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if c.Level != "" {
		if err := level.Set(c.Level); err != nil {
			return nil, err
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if c.Format == "console" {
		ec.EncodeLevel = levelEncoder(w)
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), level)), nil
}
