package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// Lock timing: a lock lasts lockTTL from its last renewal and is renewed
// every lockRenew while held, so a crashed holder frees it within lockTTL.
const (
	lockTTL   = 60 * time.Second
	lockRenew = 20 * time.Second
)

// metaLockExpires is the metadata that says until when a lock object is
// held (RFC 3339, the holder's clock), in the port's spelling: it is
// stored as x-amz-meta-blobvalet-lock-expires.
const metaLockExpires = "blobvalet_lock_expires"

// Lock implements blobstore.Locker. S3 has no leases: the lock is the
// object at ref, created with If-None-Match: *, its expiry in its metadata
// and its body (so that every renewal has a new ETag). It is renewed with
// If-Match on the ETag it was last written with, and deleted with If-Match
// at release. An object whose expiry has passed is taken over with If-Match
// on the ETag that was read, so that of two takers only one wins; one that
// has not expired is blobstore.ErrTaken.
//
// The limits: expiry is judged by the taker's clock against the holder's,
// so clocks must agree to well within lockTTL-lockRenew; a holder that
// cannot renew for lockTTL (a stalled process, a partition) may find, after
// its lost context has ended, that another took the lock in the meantime.
// Its work must therefore be safe to overlap, as the sweeper's conditional
// deletes are: the lock saves work, it does not guard correctness.
func (s Store) Lock(ctx context.Context, ref blobref.Ref) (release func(), lost context.Context, err error) {
	etag, err := s.writeLock(ctx, ref, "")
	if errors.Is(err, blobstore.ErrTaken) {
		etag, err = s.takeOver(ctx, ref)
	}
	if err != nil {
		return nil, nil, err
	}
	lost, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup // etag is read at release only once the renewals have ended
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
				next, err := s.writeLock(lost, ref, etag)
				if err != nil {
					cancel(fmt.Errorf("lost the lock %s: %w", ref.Name, err))
					return
				}
				etag = next
			}
		}
	}()
	return func() {
		cancel(nil)
		wg.Wait()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		// If it fails, the lock expires by itself.
		_, _ = s.Client.DeleteObject(rctx, &s3sdk.DeleteObjectInput{
			Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name)), IfMatch: aws.String(etag),
		})
	}, lost, nil
}

// writeLock writes the lock object with a new expiry: create-only when
// etag is "", else only over the object with that ETag. A 412 is ErrTaken:
// the lock is another's.
func (s Store) writeLock(ctx context.Context, ref blobref.Ref, etag string) (string, error) {
	var nonce [8]byte
	rand.Read(nonce[:])
	expires := s.now().Add(lockTTL).UTC().Format(time.RFC3339Nano)
	in := &s3sdk.PutObjectInput{
		Bucket:      aws.String(ref.Container),
		Key:         aws.String(string(ref.Name)),
		Body:        strings.NewReader(expires + " " + hex.EncodeToString(nonce[:]) + "\n"),
		ContentType: aws.String("text/plain"),
		Metadata:    toS3Metadata(map[string]string{metaLockExpires: expires}),
	}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	out, err := s.Client.PutObject(ctx, in)
	switch {
	case isStatus(err, http.StatusPreconditionFailed), isStatus(err, http.StatusConflict):
		return "", wrapAs(blobstore.Taken, err)
	case err != nil:
		return "", fmt.Errorf("write the lock object %s: %w", ref.Name, Wrap(err))
	}
	return aws.ToString(out.ETag), nil
}

// takeOver takes the lock object at ref if its expiry has passed.
func (s Store) takeOver(ctx context.Context, ref blobref.Ref) (string, error) {
	p, err := s.Properties(ctx, ref)
	if errors.Is(err, blobstore.ErrNotFound) {
		return s.writeLock(ctx, ref, "") // released meanwhile
	}
	if err != nil {
		return "", fmt.Errorf("read the lock object %s: %w", ref.Name, err)
	}
	expires, err := time.Parse(time.RFC3339Nano, p.Metadata[metaLockExpires])
	if err == nil && s.now().Before(expires) {
		return "", &blobstore.Error{Class: blobstore.Taken, Err: fmt.Errorf("the lock %s is held until %s", ref.Name, expires.Format(time.RFC3339))}
	}
	// Expired, or not a lock object blobvalet wrote: taken over.
	return s.writeLock(ctx, ref, p.ETag)
}
