package app

import (
	"context"

	"github.com/blobvalet/blobvalet/events"
)

// delivery runs the current configuration's event deliverer for the life
// of the process. A reload hands over to the new configuration's, so that
// a changed webhook, queue or key applies to events already waiting.
type delivery struct {
	metrics *events.Metrics // one set for the process, across reloads
	swapped chan struct{}   // a reload swapped in a new generation
}

func newDelivery(m *events.Metrics) delivery {
	return delivery{metrics: m, swapped: make(chan struct{}, 1)}
}

// handOver tells Deliver that the generation changed.
func (d delivery) handOver() {
	select {
	case d.swapped <- struct{}{}:
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
		case <-a.deliveries.swapped:
		}
		stop()
		<-done
		if ctx.Err() != nil {
			return
		}
	}
}
