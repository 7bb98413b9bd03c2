// Package app is blobvalet's running service: it wires the configuration
// into the HTTP server, the staging sweeper and the delivery of webhook
// events, serves them on the public and admin listeners, reloads on
// request, and stops in order. The commands (package cli) start it; tests
// build it through Options, its one seam.
package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
)

// Server timeouts. A signature request is small and quick; these only stop
// slow or stuck clients from holding connections. The write timeout is
// config.ServerWriteTimeout, which shutdown.timeout must exceed.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = config.ServerWriteTimeout
	idleTimeout       = 2 * time.Minute
)

// Options are what blobvalet is built with besides its configuration. The
// zero value of each field but Log is serve's default.
type Options struct {
	// Log is the logger; required.
	Log *zap.Logger
	// ConfigPath is the file Reload reads again.
	ConfigPath string
	// Build is the build that runs, reported as blobvalet_build_info.
	Build Build
	// Metrics are served at the admin listener's /metrics and outlive
	// reloads; nil makes new ones in a registry of their own.
	Metrics *server.Metrics
	// Extra registers further routes, such as the demo page.
	Extra func(*mux.Router)
	// Now is the clock the SAS expiry is set by; nil means time.Now.
	Now func() time.Time
	// Token replaces the default Entra ID credential chain of the storage
	// clients (credential azuread).
	Token azcore.TokenCredential
	// Client replaces serve's options of the storage clients (retries,
	// timeouts, transport).
	Client *service.ClientOptions
	// DeliveryBackoff and DeliveryPoll replace the event deliverer's
	// (events.Deliverer); nil and 0 keep its defaults.
	DeliveryBackoff func(attempt int) time.Duration
	DeliveryPoll    time.Duration
	// UploadHook, if set, sees each part of a traditional upload before it
	// is stored, and fails it by returning an error: for tests.
	UploadHook UploadHook
}

// App serves with the current configuration and swaps in a new one on
// reload. Requests in flight finish with the server they started on; a
// configuration that fails its checks leaves the current one in place.
type App struct {
	opts         Options
	log          *zap.Logger
	metrics      *server.Metrics
	sweepMetrics *staging.Metrics
	// eventsMetrics count stored and delivered webhook events, across
	// reloads.
	eventsMetrics *events.Metrics
	// swapped tells Deliver that a reload swapped in a new generation.
	swapped   chan struct{}
	readiness *readiness
	mu        sync.Mutex // one reload at a time
	listen    string
	current   atomic.Pointer[generation]
	// secure serves TLS on a listener when the configuration has tls:;
	// reloadCert reads the certificate again.
	secure     func(net.Listener) net.Listener
	reloadCert func()
}

// New checks cfg as serve does at start, storage included, and builds
// blobvalet on it. Nothing listens until Run.
func New(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	log := o.Log
	// Everything is checked before anything listens: a load balancer never
	// sees a port that cannot serve.
	secure, reloadCert, err := secureListener(cfg, log)
	if err != nil {
		return nil, err
	}
	metrics := o.Metrics
	if metrics == nil {
		metrics = server.NewMetrics(prometheus.NewRegistry())
	}
	b := o.Build
	if err := metrics.Registry().Register(server.NewBuildInfo(b.Version, b.Commit, b.GoVersion)); err != nil {
		return nil, err
	}
	a := &App{
		opts: o, log: log, metrics: metrics, listen: cfg.Listen, secure: secure, reloadCert: reloadCert,
		sweepMetrics: staging.NewMetrics(metrics.Registry()), eventsMetrics: events.NewMetrics(metrics.Registry()),
		swapped: make(chan struct{}, 1), readiness: newReadiness(log),
	}
	g, err := newGeneration(ctx, cfg, a.deps(), startupCheck)
	if err != nil {
		return nil, err
	}
	a.current.Store(g)
	g.publish(a.readiness)
	return a, nil
}

// deps are what every generation of the App shares.
func (a *App) deps() deps {
	return deps{
		log: a.log, extra: a.opts.Extra, now: a.opts.Now, metrics: a.metrics, sweepMetrics: a.sweepMetrics, eventsMetrics: a.eventsMetrics,
		clients: clientSettings{token: a.opts.Token, options: a.opts.Client}, readiness: a.readiness,
		deliveryBackoff: a.opts.DeliveryBackoff, deliveryPoll: a.opts.DeliveryPoll,
		uploadHook: a.opts.UploadHook,
	}
}

// watch keeps readiness up to date with the current generation until ctx
// ends.
func (a *App) watch(ctx context.Context) {
	watch(ctx, a.readiness, a.current.Load, a.log)
}

// Refresh checks now what readiness reports, as Run does in the
// background every few seconds.
func (a *App) Refresh(ctx context.Context) {
	a.current.Load().refresh(ctx, a.readiness, a.log)
}

// Readiness is what /readyz reports now.
func (a *App) Readiness() server.Readiness {
	return a.readiness.report()
}

// ServeHTTP implements http.Handler with the current server.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.current.Load().public.ServeHTTP(w, r)
}

// Admin returns the handler of the admin listener, with the current server.
func (a *App) Admin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.current.Load().srv.Admin().ServeHTTP(w, r)
	})
}

// Close releases the current configuration's resources, such as the
// renewal of a user delegation key.
func (a *App) Close() {
	a.current.Load().srv.Close()
}

// sweep removes unverified uploads every staging.sweep_every, with the
// current configuration, until ctx ends.
func (a *App) sweep(ctx context.Context) {
	staging.Run(ctx, a.log.Named("sweeper"),
		func() time.Duration { return time.Duration(a.current.Load().cfg.Staging.SweepEvery) },
		func() (*staging.Sweeper, time.Duration) {
			g := a.current.Load()
			return g.sweeper, time.Duration(g.cfg.Staging.MaxAge)
		})
}

// Signals are what the process's signals mean to a running blobvalet. Only
// package main subscribes to signals; a nil channel never fires.
type Signals struct {
	// Reload receives on each request to reload the configuration and the
	// certificate (SIGHUP).
	Reload <-chan struct{}
	// Force is closed by a second stop signal: a stop in progress then
	// ends at once.
	Force <-chan struct{}
}

// Run serves on the configured listeners until ctx ends, then stops in
// order: see stop. It sweeps staging, delivers webhook events and keeps
// readiness up to date meanwhile, and reloads on sig.Reload. It logs what
// happens, so its error needs no further report.
func (a *App) Run(ctx context.Context, sig Signals) error {
	cfg, log := a.current.Load().cfg, a.log
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", zap.String("listen", cfg.Listen), zap.Error(err))
		return err
	}
	admin, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		log.Error("cannot listen", zap.String("admin_listen", cfg.AdminListen), zap.Error(err))
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig.Reload:
				_ = a.Reload(ctx) // it logs what it did
				a.reloadCert()
			}
		}
	}()
	go a.sweep(ctx)
	go a.Deliver(ctx)
	go a.watch(ctx)

	flight := newInFlight()
	public := NewHTTPServer(flight.track(a), log)
	adm := NewHTTPServer(flight.track(a.Admin()), log)
	failed := make(chan error, 2)
	go func() { failed <- public.Serve(a.secure(ln)) }()
	go func() { failed <- adm.Serve(admin) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("admin", admin.Addr().String()))
	_ = log.Sync() // the line a supervisor waits for goes out at once
	select {
	case err := <-failed:
		public.Close()
		adm.Close()
		log.Error("blobvalet stopped", zap.Error(err))
		return err
	case <-ctx.Done():
	}
	if err := stop(a.readiness, cfg.Shutdown, sig.Force, flight, log, public, adm); err != nil {
		log.Error("blobvalet stopped", zap.Error(err))
		return err
	}
	log.Info("blobvalet stopped")
	return nil
}

// NewHTTPServer returns an HTTP server for h with serve's timeouts.
func NewHTTPServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// errForced is a stop cut short by a second signal.
var errForced = errors.New("second signal: stopped at once, requests in flight cut")

// stop stops serving in order: readiness fails at once, serving goes on for
// the drain (while load balancers take this instance out), then no new
// connection is accepted and the requests in flight get sh.Timeout to
// finish; any still running then is logged and cut. A signal on force
// stops at once.
func stop(st *readiness, sh config.Shutdown, force <-chan struct{}, flight *inFlight, log *zap.Logger, servers ...*http.Server) error {
	st.stop()
	log.Info("stopping: readiness fails now; serving on while load balancers drain", zap.Duration("drain", sh.Drain.Duration()))
	closeAll := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	select {
	case <-time.After(sh.Drain.Duration()):
	case <-force:
		flight.log(log, "request cut by a second signal")
		closeAll()
		return errForced
	}
	log.Info("drained: accepting no new connections; waiting for the requests in flight",
		zap.Int("in_flight", flight.count()), zap.Duration("timeout", sh.Timeout.Duration()))
	ctx, cancel := context.WithTimeout(context.Background(), sh.Timeout.Duration())
	defer cancel()
	done := make(chan error, len(servers))
	for _, s := range servers {
		go func() { done <- s.Shutdown(ctx) }()
	}
	var err error
	for range servers {
		select {
		case e := <-done:
			err = errors.Join(err, e)
		case <-force:
			flight.log(log, "request cut by a second signal")
			closeAll()
			return errForced
		}
	}
	if err != nil {
		flight.log(log, "request cut: it outlasted shutdown.timeout")
		closeAll()
	}
	return nil
}

// inFlight tracks the requests being served, to say which a stop cut.
type inFlight struct {
	mu   sync.Mutex
	reqs map[*http.Request]time.Time
}

func newInFlight() *inFlight { return &inFlight{reqs: map[*http.Request]time.Time{}} }

func (f *inFlight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs[r] = time.Now()
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.reqs, r)
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

func (f *inFlight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// log writes one line per request in flight: method and path (never the
// query, which may carry a SAS), the caller's address and how long it ran.
func (f *inFlight) log(log *zap.Logger, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for r, started := range f.reqs {
		log.Warn(msg, zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("remote", r.RemoteAddr), zap.Duration("running", time.Since(started)))
	}
}

// serveOn serves h on ln until ctx is done, then lets the requests in
// flight finish: blobvalet dev, which no load balancer drains. It logs msg
// with the address once it serves.
func serveOn(ctx context.Context, h http.Handler, ln net.Listener, msg string, log *zap.Logger) error {
	hs := NewHTTPServer(h, log)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info(msg, zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), config.DefaultShutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}
