package azblob

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// Lease timing: a lease of lockLease is renewed every lockRenew while the
// lock is held, so a crashed holder frees it within lockLease.
const (
	lockLease = 60 * time.Second
	lockRenew = 20 * time.Second
)

// Lock implements blobstore.Locker with a lease on the blob ref, which it
// creates empty if need be, renewed until release. Another holder's lease
// is blobstore.ErrTaken.
func (s Store) Lock(ctx context.Context, ref blobref.Ref) (release func(), lost context.Context, err error) {
	lockBlob := s.blob(ref)
	_, err = lockBlob.UploadBuffer(ctx, nil, &blockblob.UploadBufferOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.LeaseIDMissing, bloberror.ConditionNotMet) {
		return nil, nil, fmt.Errorf("create the lock blob %s: %w", ref.Name, Wrap(err))
	}
	lc, err := lease.NewBlobClient(lockBlob, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := lc.AcquireLease(ctx, int32(lockLease/time.Second), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return nil, nil, wrapAs(blobstore.Taken, err)
		}
		return nil, nil, fmt.Errorf("lease the lock blob %s: %w", ref.Name, Wrap(err))
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
					cancel(fmt.Errorf("lost the lock %s: %w", ref.Name, Wrap(err)))
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
