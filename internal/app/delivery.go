package app

import (
	"context"
)

// handOver tells Deliver that a reload swapped in a new generation, so
// that a changed webhook, queue or key applies to events already waiting.
func (a *App) handOver() {
	select {
	case a.swapped <- struct{}{}:
	default: // one pending hand-over covers any number of reloads
	}
}

// Deliver runs the current generation's deliverer until ctx ends. On a
// reload it stops that deliverer (an attempt it cuts short comes back after
// the queue's visibility timeout) and starts the new one. A configuration
// without webhooks delivers nothing.
func (a *App) Deliver(ctx context.Context) {
	for {
		g := a.current.Load()
		gctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if g.deliverer != nil {
				g.deliverer.Run(gctx)
			}
		}()
		select {
		case <-ctx.Done():
		case <-a.swapped:
		}
		stop()
		<-done
		if ctx.Err() != nil {
			return
		}
	}
}
