package staging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// LockBlob is the blob in the staging container whose lease lets one
// instance sweep at a time. Its name has one segment, so no staging name
// (three or more) is ever the same.
const LockBlob = "blobvalet-sweeper.lock"

// Lease timing: a lease of lockLease is renewed every lockRenew while a
// sweep runs, so a crashed sweeper frees the lock within lockLease.
const (
	lockLease = 60 * time.Second
	lockRenew = 20 * time.Second
)

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

// Sweeper removes unverified uploads older than a given age from the
// staging container.
type Sweeper struct {
	// Client is the staging container, with the service's own credential.
	Client *container.Client
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
	release, lost, err := s.lock(ctx)
	if err != nil {
		return Report{}, err
	}
	defer release()
	var rep Report
	pager := s.Client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Include: container.ListBlobsInclude{UncommittedBlobs: true},
	})
	for pager.More() {
		if err := context.Cause(lost); err != nil {
			return rep, err
		}
		page, err := pager.NextPage(lost)
		if err != nil {
			return rep, fmt.Errorf("list staging container: %w", err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || *item.Name == LockBlob || item.Properties == nil || item.Properties.LastModified == nil {
				continue
			}
			rep.Examined++
			if !item.Properties.LastModified.Before(cutoff) {
				continue
			}
			removed, err := s.remove(lost, *item.Name, item.Properties)
			if err != nil {
				if lerr := context.Cause(lost); lerr != nil {
					return rep, lerr
				}
				rep.Failed++
				s.Log.Warn("could not remove an unverified upload; going on", s.fields(*item.Name, item.Properties, zap.Error(err))...)
				if s.Metrics != nil {
					s.Metrics.failed.Inc()
				}
				continue
			}
			if removed {
				rep.Removed++
				if item.Properties.ContentLength != nil {
					rep.Bytes += *item.Properties.ContentLength
				}
			}
		}
	}
	if rep.Failed > 0 {
		return rep, fmt.Errorf("%w: %d", ErrIncomplete, rep.Failed)
	}
	return rep, nil
}

// fields are the log fields of a staging blob.
func (s *Sweeper) fields(name string, p *container.BlobProperties, more ...zap.Field) []zap.Field {
	fields := []zap.Field{zap.String("staging_blob", name), zap.Time("last_modified", p.LastModified.UTC())}
	if user, final, ok := Final(name); ok {
		fields = append(fields, zap.String("user", user), zap.String("container", final.Container), zap.String("blob", string(final.Name)))
	}
	return append(fields, more...)
}

// remove deletes one staging blob unless it was written since it was
// listed: an upload that is going on again is left alone. The condition is
// on the time, not the ETag: a blob that holds only uncommitted blocks has
// no ETag to match.
func (s *Sweeper) remove(ctx context.Context, name string, p *container.BlobProperties) (bool, error) {
	fields := s.fields(name, p)
	if s.DryRun {
		s.Log.Info("would remove an unverified upload", fields...)
		return true, nil
	}
	err := Delete(ctx, s.Client.NewBlobClient(name), &blob.ModifiedAccessConditions{IfUnmodifiedSince: p.LastModified})
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ConditionNotMet):
		return false, nil // verified, removed or written again meanwhile
	case err != nil:
		return false, fmt.Errorf("remove %s: %w", name, err)
	}
	s.Log.Info("removed an unverified upload", fields...)
	if s.Metrics != nil {
		s.Metrics.removed.Inc()
	}
	return true, nil
}

// Delete deletes a staging blob, as long as it meets cond, together with
// its snapshots; a lease on it is broken first. The uploader's write SAS
// lets them snapshot and lease their own staging blob, and neither may keep
// blobvalet from removing it.
func Delete(ctx context.Context, b *blob.Client, cond *blob.ModifiedAccessConditions) error {
	opts := &blob.DeleteOptions{
		DeleteSnapshots:  to.Ptr(blob.DeleteSnapshotsOptionTypeInclude),
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	}
	_, err := b.Delete(ctx, opts)
	if !bloberror.HasCode(err, bloberror.LeaseIDMissing) {
		return err
	}
	lc, err := lease.NewBlobClient(b, nil)
	if err != nil {
		return err
	}
	if _, err := lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: to.Ptr(int32(0)), ModifiedAccessConditions: cond}); err != nil {
		return fmt.Errorf("break the lease: %w", err)
	}
	_, err = b.Delete(ctx, opts)
	return err
}

// lock takes the lease on the lock blob and keeps renewing it. The
// returned context ends when the lease is lost; release gives it back.
func (s *Sweeper) lock(ctx context.Context) (release func(), lost context.Context, err error) {
	lockBlob := s.Client.NewBlockBlobClient(LockBlob)
	_, err = lockBlob.UploadBuffer(ctx, nil, &blockblob.UploadBufferOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.LeaseIDMissing, bloberror.ConditionNotMet) {
		return nil, nil, fmt.Errorf("create the sweeper's lock blob %s: %w", LockBlob, err)
	}
	lc, err := lease.NewBlobClient(lockBlob, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := lc.AcquireLease(ctx, int32(lockLease/time.Second), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return nil, nil, ErrLocked
		}
		return nil, nil, fmt.Errorf("lease the sweeper's lock blob %s: %w", LockBlob, err)
	}
	lost, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(lockRenew)
		defer t.Stop()
		for {
			select {
			case <-lost.Done():
				return
			case <-t.C:
				if _, err := lc.RenewLease(lost, nil); err != nil {
					cancel(fmt.Errorf("lost the sweeper's lock: %w", err))
					return
				}
			}
		}
	}()
	return func() {
		cancel(nil)
		wg.Wait()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		_, _ = lc.ReleaseLease(rctx, nil) // if it fails, the lease ends by itself

	}, lost, nil
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
