package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// reloader serves with the current configuration and swaps in a new one on
// reload. Requests in flight finish with the server they started on; a
// configuration that fails its checks leaves the current one in place.
type reloader struct {
	path         string
	log          *zap.Logger
	metrics      *server.Metrics
	sweepMetrics *staging.Metrics
	deliveries   delivery
	status       *status
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
	rl := &reloader{path: path, log: log, metrics: metrics, sweepMetrics: staging.NewMetrics(metrics.Registry()), status: newStatus(log), listen: cfg.Listen}
	rl.deliveries = newDelivery(events.NewMetrics(metrics.Registry()))
	g, err := newGeneration(ctx, cfg, rl.parts())
	if err != nil {
		return nil, err
	}
	rl.current.Store(g)
	g.publish(rl.status)
	return rl, nil
}

// parts are what every generation of the reloader shares.
func (rl *reloader) parts() parts {
	return parts{log: rl.log, metrics: rl.metrics, sweepMetrics: rl.sweepMetrics, eventsMetrics: rl.deliveries.metrics, status: rl.status}
}

// watch keeps readiness up to date with the current generation until ctx
// ends.
func (rl *reloader) watch(ctx context.Context) {
	watch(ctx, rl.status, rl.current.Load, rl.log)
}

// ServeHTTP implements http.Handler with the current server.
func (rl *reloader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rl.current.Load().srv.ServeHTTP(w, r)
}

// admin returns the handler of the admin listener, with the current server.
func (rl *reloader) admin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl.current.Load().srv.Admin().ServeHTTP(w, r)
	})
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
// and the rest take effect for new requests. The listen addresses and the
// log settings need a restart. When storage cannot be reached, the new
// configuration applies anyway and its storage check stays pending, run
// again in the background: a revoked token must not wait for storage.
func (rl *reloader) reload(ctx context.Context) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	cfg, err := config.Load(rl.path)
	if err == nil {
		var g *generation
		p := rl.parts()
		p.storagePending = true
		if g, err = newGeneration(ctx, cfg, p); err == nil {
			old := rl.current.Swap(g)
			rl.deliveries.handOver()
			g.publish(rl.status)
			old.srv.Close()
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
