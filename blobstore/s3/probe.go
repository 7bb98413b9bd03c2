package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// ProbePrefix begins the keys of ProbeCreateOnly's objects: one segment,
// so that no staging name (three or more) is ever the same, and a probe
// object left behind by a crash is swept as any stale staging object.
const ProbePrefix = "blobvalet-probe-"

// CreateOnly says which create-only writes (If-None-Match: *) a service
// honours, as ProbeCreateOnly found on it: each creates where nothing is,
// and is refused where an object is.
type CreateOnly struct {
	// Put: PutObject, which the sweeper's lock is written with.
	Put bool
	// Copy: CopyObject, which Promote uses for create-only promotions up
	// to MaxCopySize when Store.CopyIfNoneMatch is set.
	Copy bool
	// Complete: CompleteMultipartUpload of a multipart copy, which Promote
	// uses otherwise.
	Complete bool
	// Notes say, for each write not honoured, what the service did.
	Notes []string
}

// CanCreateOnly reports whether Promote can keep a create-only promotion
// of an object of size bytes from overwriting, with copyIfNoneMatch as
// Store.CopyIfNoneMatch would be set from c: by the multipart copy, or by
// the CopyObject up to MaxCopySize.
func (c CreateOnly) CanCreateOnly(size int64) bool {
	return c.Complete || (c.Copy && size <= MaxCopySize)
}

// ProbeCreateOnly finds out, in bucket, whether the service honours
// If-None-Match: * on PutObject, on CopyObject and on a multipart copy's
// CompleteMultipartUpload, the way Promote and Lock use them: it writes a
// small object, copies it twice to one new key by each path (the second
// copy must be refused), and removes what it wrote. A service that
// ignores the condition is found out by the second copy overwriting the
// first. An error means the probe could not run (no access, no answer),
// not that a condition is ignored.
func (s Store) ProbeCreateOnly(ctx context.Context, bucket string) (CreateOnly, error) {
	var nonce [8]byte
	rand.Read(nonce[:])
	prefix := ProbePrefix + hex.EncodeToString(nonce[:])
	ref := func(what string) blobref.Ref {
		return blobref.Ref{Container: bucket, Name: blobref.Name(prefix + "-" + what)}
	}
	src, put, cp, mp := ref("source"), ref("put"), ref("copy"), ref("multipart")
	defer s.removeProbe(ctx, src, put, cp, mp)

	var res CreateOnly
	body := "blobvalet create-only probe\n"
	out, err := s.Client.PutObject(ctx, &s3sdk.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(string(src.Name)),
		Body: strings.NewReader(body), ContentType: aws.String("text/plain"),
	})
	if err != nil {
		return res, fmt.Errorf("write the probe object %s in bucket %s: %w", src.Name, bucket, Wrap(err))
	}
	etag, size := aws.ToString(out.ETag), int64(len(body))

	if res.Put, err = s.probeTwice("PutObject", &res, func() error {
		_, err := s.Client.PutObject(ctx, &s3sdk.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(string(put.Name)),
			Body: strings.NewReader(body), IfNoneMatch: aws.String("*"),
		})
		if isStatus(err, http.StatusPreconditionFailed) {
			return wrapAs(blobstore.Taken, err)
		}
		return Wrap(err)
	}); err != nil {
		return res, err
	}
	commit := blobstore.Commit{ContentType: "text/plain", CreateOnly: true}
	copyStore, multipartStore := s, s
	copyStore.CopyIfNoneMatch, multipartStore.CopyIfNoneMatch = true, false
	if res.Copy, err = s.probeTwice("CopyObject", &res, func() error {
		_, err := copyStore.Promote(ctx, src, etag, size, cp, commit)
		return err
	}); err != nil {
		return res, err
	}
	if res.Complete, err = s.probeTwice("CompleteMultipartUpload", &res, func() error {
		_, err := multipartStore.Promote(ctx, src, etag, size, mp, commit)
		return err
	}); err != nil {
		return res, err
	}
	return res, nil
}

// probeTwice runs write, a create-only write to one new key, twice: it is
// honoured when the first creates and the second finds the name taken.
// Refused credentials and no answer are the probe's error; any other
// refusal means the write is not honoured, and is noted.
func (s Store) probeTwice(what string, res *CreateOnly, write func() error) (bool, error) {
	for i, want := range []string{"create an object where none is", "refuse to overwrite the object"} {
		err := write()
		switch {
		case i == 1 && errors.Is(err, blobstore.ErrTaken):
			return true, nil
		case i == 0 && err == nil:
			continue
		case err == nil:
			res.Notes = append(res.Notes, what+" with If-None-Match: * overwrote an existing object")
			return false, nil
		}
		switch blobstore.Classify(err) {
		case blobstore.Refused, blobstore.Unreachable, blobstore.Slow, blobstore.Throttled:
			return false, fmt.Errorf("probe %s with If-None-Match: *: %w", what, err)
		}
		res.Notes = append(res.Notes, fmt.Sprintf("%s with If-None-Match: * did not %s: %s", what, want, describe(err)))
		return false, nil
	}
	return false, nil
}

// describe is S3's answer in err for an operator: status and code.
func describe(err error) string {
	var e *blobstore.Error
	if errors.As(err, &e) && e.Status != 0 {
		if e.Code != "" {
			return fmt.Sprintf("%d %s", e.Status, e.Code)
		}
		return fmt.Sprintf("status %d", e.Status)
	}
	return err.Error()
}

// removeProbe deletes the probe's objects and aborts any multipart upload
// left of them, even when ctx has ended; what it cannot remove the
// sweeper removes once it is stale.
func (s Store) removeProbe(ctx context.Context, refs ...blobref.Ref) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, ref := range refs {
		_, _ = s.Client.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name))})
		_, _, _ = s.abortUploads(ctx, ref, time.Time{})
	}
}
