package app

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
)

// App serves with the current configuration and swaps in a new one on
// reload. Requests in flight finish with the server they started on; a
// configuration that fails its checks leaves the current one in place.
type App struct {
	opts         Options
	log          *zap.Logger
	metrics      *server.Metrics
	sweepMetrics *staging.Metrics
	deliveries   delivery
	status       *status
	mu           sync.Mutex // one reload at a time
	listen       string
	current      atomic.Pointer[generation]
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
	a := &App{opts: o, log: log, metrics: metrics, sweepMetrics: staging.NewMetrics(metrics.Registry()), status: newStatus(log), listen: cfg.Listen,
		secure: secure, reloadCert: reloadCert}
	a.deliveries = newDelivery(events.NewMetrics(metrics.Registry()))
	g, err := newGeneration(ctx, cfg, a.parts())
	if err != nil {
		return nil, err
	}
	a.current.Store(g)
	g.publish(a.status)
	return a, nil
}

// parts are what every generation of the App shares.
func (a *App) parts() parts {
	return parts{
		log: a.log, extra: a.opts.Extra, now: a.opts.Now, metrics: a.metrics, sweepMetrics: a.sweepMetrics, eventsMetrics: a.deliveries.metrics, status: a.status,
		storage:         storageParts{token: a.opts.Token, options: a.opts.Client},
		deliveryBackoff: a.opts.DeliveryBackoff, deliveryPoll: a.opts.DeliveryPoll,
	}
}

// watch keeps readiness up to date with the current generation until ctx
// ends.
func (a *App) watch(ctx context.Context) {
	watch(ctx, a.status, a.current.Load, a.log)
}

// Refresh checks now what readiness reports, as Run does in the
// background every few seconds.
func (a *App) Refresh(ctx context.Context) {
	a.current.Load().refresh(ctx, a.status, a.log)
}

// Readiness is what /readyz reports now.
func (a *App) Readiness() server.Readiness {
	return a.status.report()
}

// ServeHTTP implements http.Handler with the current server.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.current.Load().srv.ServeHTTP(w, r)
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

// Reload reads the configuration file again: rules, tokens, keys, origins
// and the rest take effect for new requests. The listen addresses and the
// log settings need a restart. When storage cannot be reached, the new
// configuration applies anyway and its storage check stays pending, run
// again in the background: a revoked token must not wait for storage.
func (a *App) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	path := a.opts.ConfigPath
	cfg, err := config.Load(path)
	if err == nil {
		var g *generation
		p := a.parts()
		p.storagePending = true
		if g, err = newGeneration(ctx, cfg, p); err == nil {
			old := a.current.Swap(g)
			a.deliveries.handOver()
			g.publish(a.status)
			old.srv.Close()
			if cfg.Listen != a.listen {
				a.log.Warn("listen changed in the configuration; it takes effect on restart", zap.String("listen", a.listen), zap.String("configured", cfg.Listen))
			}
			a.log.Info("configuration reloaded", zap.String("config", path), zap.String("key", cfg.Storage.KeyName()))
			return nil
		}
	}
	a.log.Error("configuration not reloaded; the previous one stays in force", zap.String("config", path), zap.Error(err))
	return err
}
