package staging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// LockBlob is the blob in the staging container whose lease lets one
// instance sweep at a time. Its name has one segment, so no staging name
// (three or more) is ever the same.
const LockBlob = "blobvalet-sweeper.lock"

// ErrLocked means another instance holds the sweeper's lock.
var ErrLocked = errors.New("another instance is sweeping the staging container")

// Metrics count what the sweeper does.
type Metrics struct {
	removed prometheus.Counter
	failed  prometheus.Counter
	runs    *prometheus.CounterVec
}

// NewMetrics registers the sweeper's metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_staging_swept_total",
			Help: "Unverified uploads removed from the staging container.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_staging_sweep_failures_total",
			Help: "Unverified uploads the sweeper could not remove; it went on past each.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_staging_sweeps_total",
			Help: "Sweeps of the staging container by outcome (done, locked, error).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.removed, m.failed, m.runs)
	return m
}

// SweepStore is the storage a sweep uses.
type SweepStore interface {
	blobstore.Lister
	blobstore.Deleter
	blobstore.Locker
}

// Sweeper removes unverified uploads older than a given age from the
// staging container.
type Sweeper struct {
	// Container is the staging container.
	Container string
	// Store lists and deletes the staging blobs and holds the sweeper's
	// lock, with the service's own credential.
	Store SweepStore
	// Log receives one line per removed blob and one per sweep.
	Log *zap.Logger
	// Metrics, if set, count removals and sweeps.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
}

// Report says what one sweep did.
type Report struct {
	// Examined counts the staging blobs looked at.
	Examined int
	// Removed counts the blobs removed (or, in a dry run, that would be).
	Removed int
	// Bytes is their committed size.
	Bytes int64
	// Failed counts the blobs that could not be removed; the sweep went on
	// past each, and the next sweep tries them again.
	Failed int
}

// ErrIncomplete means a sweep went through the whole staging container but
// could not remove some of the blobs it should have.
var ErrIncomplete = errors.New("some unverified uploads could not be removed")

// Sweep removes every staging blob, committed or holding only uncommitted
// blocks, last modified more than olderThan ago, with its snapshots, and
// breaks a lease that holds one. A blob it cannot remove is logged, counted
// and passed over, so that no uploader can stop the sweep at their own
// blob; the sweep then returns ErrIncomplete once it has gone through the
// rest. It holds the lock blob's lease while it runs and returns ErrLocked
// when another instance holds it.
func (s *Sweeper) Sweep(ctx context.Context, olderThan time.Duration) (Report, error) {
	now := time.Now //nolint:forbidigo // the default clock
	if s.Now != nil {
		now = s.Now
	}
	rep, err := s.sweep(ctx, now().Add(-olderThan))
	if s.Metrics != nil {
		outcome := "done"
		switch {
		case errors.Is(err, ErrLocked):
			outcome = "locked"
		case err != nil:
			outcome = "error"
		}
		s.Metrics.runs.WithLabelValues(outcome).Inc()
	}
	return rep, err
}

func (s *Sweeper) sweep(ctx context.Context, cutoff time.Time) (Report, error) {
	release, lost, err := s.Store.Lock(ctx, blobref.Ref{Container: s.Container, Name: LockBlob})
	switch {
	case errors.Is(err, blobstore.ErrTaken):
		return Report{}, ErrLocked
	case err != nil:
		return Report{}, fmt.Errorf("the sweeper's lock: %w", err)
	}
	defer release()
	var rep Report
	err = s.Store.List(lost, s.Container, func(item blobstore.Item) error {
		if err := context.Cause(lost); err != nil {
			return err
		}
		if item.Name == LockBlob {
			return nil
		}
		rep.Examined++
		if !item.LastModified.Before(cutoff) {
			return nil
		}
		removed, err := s.remove(lost, item)
		if err != nil {
			if lerr := context.Cause(lost); lerr != nil {
				return lerr
			}
			rep.Failed++
			s.Log.Warn("could not remove an unverified upload; going on", s.fields(item, zap.Error(err))...)
			if s.Metrics != nil {
				s.Metrics.failed.Inc()
			}
			return nil
		}
		if removed {
			rep.Removed++
			rep.Bytes += item.Size
		}
		return nil
	})
	if lerr := context.Cause(lost); err != nil && lerr != nil {
		return rep, lerr
	}
	if err != nil {
		return rep, fmt.Errorf("list staging container: %w", err)
	}
	if rep.Failed > 0 {
		return rep, fmt.Errorf("%w: %d", ErrIncomplete, rep.Failed)
	}
	return rep, nil
}

// fields are the log fields of a staging blob.
func (s *Sweeper) fields(item blobstore.Item, more ...zap.Field) []zap.Field {
	fields := []zap.Field{zap.String("staging_blob", string(item.Name)), zap.Time("last_modified", item.LastModified.UTC())}
	if user, final, ok := Final(string(item.Name)); ok {
		fields = append(fields, zap.String("user", user), zap.String("container", final.Container), zap.String("blob", string(final.Name)))
	}
	return append(fields, more...)
}

// remove deletes one staging blob unless it was written since it was
// listed: an upload that is going on again is left alone. The condition is
// on the time, not the ETag: a blob that holds only uncommitted blocks has
// no ETag to match.
func (s *Sweeper) remove(ctx context.Context, item blobstore.Item) (bool, error) {
	fields := s.fields(item)
	if s.DryRun {
		s.Log.Info("would remove an unverified upload", fields...)
		return true, nil
	}
	err := s.Store.Delete(ctx, blobref.Ref{Container: s.Container, Name: item.Name}, blobstore.Condition{UnmodifiedSince: item.LastModified})
	switch {
	case errors.Is(err, blobstore.ErrNotFound), errors.Is(err, blobstore.ErrChanged):
		return false, nil // verified, removed or written again meanwhile
	case err != nil:
		return false, fmt.Errorf("remove %s: %w", item.Name, err)
	}
	s.Log.Info("removed an unverified upload", fields...)
	if s.Metrics != nil {
		s.Metrics.removed.Inc()
	}
	return true, nil
}

// Run sweeps every interval until ctx ends, removing unverified uploads
// older than the current configuration's maximum age. sweeper returns the
// sweeper and age to use now, so that a reload takes effect at the next
// sweep.
func Run(ctx context.Context, log *zap.Logger, every func() time.Duration, sweeper func() (*Sweeper, time.Duration)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every()):
		}
		s, maxAge := sweeper()
		start := time.Now() //nolint:forbidigo // how long a sweep took, on the wall clock
		rep, err := s.Sweep(ctx, maxAge)
		switch {
		case errors.Is(err, ErrLocked):
			log.Debug("sweep skipped", zap.Error(err))
		case err != nil:
			log.Warn("sweep failed; the next one tries again", zap.Error(err), zap.Int("removed", rep.Removed), zap.Int("failed", rep.Failed))
		default:
			log.Info("swept the staging container", zap.Int("examined", rep.Examined), zap.Int("removed", rep.Removed),
				zap.Int64("bytes", rep.Bytes), zap.Duration("older_than", maxAge), zap.Duration("took", time.Since(start)))
		}
	}
}
