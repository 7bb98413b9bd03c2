package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
)

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
		if g, err = newGeneration(ctx, cfg, a.deps(), reloadCheck); err == nil {
			old := a.current.Swap(g)
			a.handOver()
			g.publish(a.readiness)
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
