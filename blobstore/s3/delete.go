package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// Delete implements blobstore.Deleter: the object at ref, if it meets cond,
// and, unless cond names an ETag (which only an object has), the key's
// incomplete multipart uploads that meet cond's time. S3 objects have no
// snapshots or leases to clear.
//
// S3's DELETE takes If-Match but no If-Unmodified-Since, and answers 204
// for a key that does not exist. So Delete first asks HEAD, with If-Match
// as cond says, and compares its Last-Modified with cond's time: that
// tells ErrNotFound and ErrChanged, and gives the ETag the DELETE is then
// pinned to with If-Match. The one case that leaves open: an object rewritten between the
// two requests with the very same bytes (so the same ETag) is deleted
// although it is newer than cond's time. Its bytes are those that were
// judged stale, and a newer upload with the same name and other bytes is
// never deleted.
//
// The time is compared by blobvalet, not sent as If-Unmodified-Since: HEAD's
// Last-Modified and the condition are both cut to whole seconds, as HTTP
// dates are, while some services (versitygw) compare the header with a
// finer time of their own and so refuse an object at its own listed time.
func (s Store) Delete(ctx context.Context, ref blobref.Ref, cond blobstore.Condition) error {
	objErr := s.deleteObject(ctx, ref, cond)
	if objErr != nil && !errors.Is(objErr, blobstore.ErrNotFound) && !errors.Is(objErr, blobstore.ErrChanged) {
		return objErr
	}
	if cond.ETag != "" {
		return objErr
	}
	aborted, kept, err := s.abortUploads(ctx, ref, cond.UnmodifiedSince)
	switch {
	case err != nil:
		return err
	case errors.Is(objErr, blobstore.ErrChanged):
		return objErr
	case kept > 0:
		return &blobstore.Error{Class: blobstore.Changed, Err: blobstore.ErrChanged}
	case objErr == nil || aborted > 0:
		return nil
	}
	return objErr
}

func (s Store) deleteObject(ctx context.Context, ref blobref.Ref, cond blobstore.Condition) error {
	head := &s3sdk.HeadObjectInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name))}
	if cond.ETag != "" {
		head.IfMatch = aws.String(cond.ETag)
	}
	out, err := s.Client.HeadObject(ctx, head)
	if err != nil {
		return Wrap(err)
	}
	if since := cond.UnmodifiedSince; !since.IsZero() && aws.ToTime(out.LastModified).After(since.Truncate(time.Second)) {
		return &blobstore.Error{Class: blobstore.Changed, Err: fmt.Errorf("%w: last modified %s, after %s", blobstore.ErrChanged,
			aws.ToTime(out.LastModified).UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))}
	}
	_, err = s.Client.DeleteObject(ctx, &s3sdk.DeleteObjectInput{
		Bucket:  aws.String(ref.Container),
		Key:     aws.String(string(ref.Name)),
		IfMatch: out.ETag,
	})
	return Wrap(err)
}

// abortUploads aborts the incomplete multipart uploads of exactly ref's key
// that were started, and last had a part written, no later than since (any
// time, when since is zero). It returns how many it aborted and how many it
// kept because they are newer.
func (s Store) abortUploads(ctx context.Context, ref blobref.Ref, since time.Time) (aborted, kept int, err error) {
	err = s.uploads(ctx, ref.Container, string(ref.Name), func(u types.MultipartUpload) error {
		if aws.ToString(u.Key) != string(ref.Name) {
			return nil
		}
		if !since.IsZero() {
			last, err := s.lastWritten(ctx, ref, u)
			if err != nil {
				return err
			}
			if last.After(since) {
				kept++
				return nil
			}
		}
		_, err := s.Client.AbortMultipartUpload(ctx, &s3sdk.AbortMultipartUploadInput{
			Bucket: aws.String(ref.Container), Key: u.Key, UploadId: u.UploadId,
		})
		switch {
		case isStatus(err, http.StatusNotFound):
			return nil // completed or aborted meanwhile
		case err != nil:
			return fmt.Errorf("abort the multipart upload of %s: %w", ref.Name, Wrap(err))
		}
		aborted++
		return nil
	})
	return aborted, kept, err
}

// lastWritten is when an upload last changed: its start, or its newest part.
func (s Store) lastWritten(ctx context.Context, ref blobref.Ref, u types.MultipartUpload) (time.Time, error) {
	last := aws.ToTime(u.Initiated)
	pages := s3sdk.NewListPartsPaginator(s.Client, &s3sdk.ListPartsInput{
		Bucket: aws.String(ref.Container), Key: u.Key, UploadId: u.UploadId,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("list the parts of %s: %w", ref.Name, Wrap(err))
		}
		for _, p := range page.Parts {
			if t := aws.ToTime(p.LastModified); t.After(last) {
				last = t
			}
		}
	}
	return last, nil
}

// uploads calls fn with every incomplete multipart upload in bucket whose
// key starts with prefix.
func (s Store) uploads(ctx context.Context, bucket, prefix string, fn func(types.MultipartUpload) error) error {
	in := &s3sdk.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if s.PageSize > 0 {
		in.MaxUploads = aws.Int32(s.PageSize)
	}
	pages := s3sdk.NewListMultipartUploadsPaginator(s.Client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return Wrap(err)
		}
		for _, u := range page.Uploads {
			if err := fn(u); err != nil {
				return err
			}
		}
	}
	return nil
}

// InProgress implements blobstore.Prober: an object at ref, or an
// incomplete multipart upload of its key.
func (s Store) InProgress(ctx context.Context, ref blobref.Ref) (bool, error) {
	_, err := s.Properties(ctx, ref)
	if !errors.Is(err, blobstore.ErrNotFound) {
		return err == nil, err
	}
	errFound := errors.New("found")
	err = s.uploads(ctx, ref.Container, string(ref.Name), func(u types.MultipartUpload) error {
		if aws.ToString(u.Key) == string(ref.Name) {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// List implements blobstore.Lister: every object of the bucket
// (ListObjectsV2, PageSize keys at a time), then every incomplete multipart
// upload as an item of size 0, last modified when its newest part was
// written, or else when it was started (a key with both is listed twice).
// That takes a ListParts for each upload, as Delete does before it aborts
// one on a time condition.
func (s Store) List(ctx context.Context, bucket string, fn func(blobstore.Item) error) error {
	in := &s3sdk.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if s.PageSize > 0 {
		in.MaxKeys = aws.Int32(s.PageSize)
	}
	pages := s3sdk.NewListObjectsV2Paginator(s.Client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list bucket %s: %w", bucket, Wrap(err))
		}
		for _, o := range page.Contents {
			if o.Key == nil || o.LastModified == nil {
				continue
			}
			if err := fn(blobstore.Item{Name: blobref.Name(*o.Key), Size: aws.ToInt64(o.Size), LastModified: *o.LastModified}); err != nil {
				return err
			}
		}
	}
	var fnErr error
	err := s.uploads(ctx, bucket, "", func(u types.MultipartUpload) error {
		if u.Key == nil || u.Initiated == nil {
			return nil
		}
		last, err := s.lastWritten(ctx, blobref.Ref{Container: bucket, Name: blobref.Name(*u.Key)}, u)
		if isStatus(err, http.StatusNotFound) {
			return nil // completed or aborted since it was listed
		}
		if err != nil {
			return err
		}
		fnErr = fn(blobstore.Item{Name: blobref.Name(*u.Key), LastModified: last})
		return fnErr
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("list the multipart uploads of bucket %s: %w", bucket, err)
	}
	return nil
}
