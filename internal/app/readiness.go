package app

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/server"
)

// Parts of readiness: blobvalet is ready while it can sign; verifying
// finished uploads needs storage, and storing and delivering webhook
// events needs the events queue: each only degrades it.
const (
	partSigning   = "signing"
	partVerifying = "verifying"
	partEvents    = "events"
)

// readiness is what blobvalet can do now, as /readyz reports it. It is kept
// up to date in the background, so that a probe reads it and never waits
// for storage. It outlives reloads.
type readiness struct {
	log      *zap.Logger
	now      func() time.Time
	mu       sync.Mutex
	parts    []server.Part
	stopping bool
}

func newReadiness(log *zap.Logger) *readiness {
	return &readiness{log: log, now: time.Now}
}

// set records whether part works; err nil means it does. A change is
// logged once.
func (s *readiness) set(part string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	problem := ""
	if err != nil {
		problem = err.Error()
	}
	i := slices.IndexFunc(s.parts, func(p server.Part) bool { return p.Name == part })
	if i < 0 {
		s.parts = append(s.parts, server.Part{Name: part, Essential: part == partSigning, Since: now})
		i = len(s.parts) - 1
		if problem == "" {
			s.parts[i].Checked = now
			return
		}
	}
	p := &s.parts[i]
	p.Checked = now
	if p.Problem == problem {
		return
	}
	p.Problem, p.Since = problem, now
	if problem != "" {
		s.log.Warn(part+" degraded", zap.String("part", part), zap.String("reason", problem))
	} else {
		s.log.Info(part+" works again", zap.String("part", part))
	}
}

// stop makes readiness fail from now on: shutdown has begun.
func (s *readiness) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
}

// report is the readiness that /readyz serves.
func (s *readiness) report() server.Readiness {
	s.mu.Lock()
	defer s.mu.Unlock()
	return server.Readiness{Stopping: s.stopping, Parts: slices.Clone(s.parts)}
}

// publish records in st what the generation knows without asking storage.
func (g *generation) publish(st *readiness) {
	st.set(partSigning, g.signingErr())
	if g.pending.Load() {
		st.set(partVerifying, g.pendingErr)
	} else {
		st.set(partVerifying, nil)
	}
}

// refresh checks what the generation can do and records it in st: the
// events queue is asked whether it answers; a pending storage check is run
// again (and logged when it passes), else storage is asked whether it
// answers.
func (g *generation) refresh(ctx context.Context, st *readiness, log *zap.Logger) {
	st.set(partSigning, g.signingErr())
	ctx, cancel := within(ctx, probeTimeout)
	defer cancel()
	if g.queues != nil {
		err := g.queues.check(ctx)
		if err != nil {
			err = fmt.Errorf("events queue: %w", err)
		}
		st.set(partEvents, err)
	}
	if g.pending.Load() {
		err := g.checkStorage(ctx)
		if err != nil {
			st.set(partVerifying, fmt.Errorf("storage check pending: %w", err))
			return
		}
		g.pending.Store(false)
		log.Info("storage check passed", zap.String("account", g.cfg.Storage.Account), zap.String("endpoint", g.cfg.Storage.Endpoint), zap.String("key", g.cfg.Storage.KeyName()))
		st.set(partVerifying, nil)
		return
	}
	if g.s3 != nil {
		st.set(partVerifying, g.s3.ping(ctx))
		return
	}
	_, err := g.probe.GetProperties(ctx, nil)
	if err != nil {
		if u := unreachable(ctx, g.cfg.Storage, err); u != nil {
			err = u
		} else {
			err = fmt.Errorf("storage account %s: %w", g.cfg.Storage.Account, azblob.Wrap(err))
		}
	}
	st.set(partVerifying, err)
}

// watch keeps st up to date with the generation current returns, every
// readyEvery, until ctx ends.
func watch(ctx context.Context, st *readiness, current func() *generation, log *zap.Logger) {
	t := time.NewTicker(readyEvery)
	defer t.Stop()
	for {
		current().refresh(ctx, st, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
