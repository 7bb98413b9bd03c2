// Package s3 implements blobstore on S3-compatible storage with
// aws-sdk-go-v2. A container is a bucket, a blob name is an object key.
// Every method answers S3's errors as blobstore's sentinels (Wrap), matched
// by error code and HTTP status, never by text.
//
// Where S3 differs from Azure, the port is kept as follows:
//   - An incomplete multipart upload is S3's blob "holding only uncommitted
//     blocks": InProgress and List see it, and Delete aborts it.
//   - S3 has no If-Unmodified-Since on DELETE: a Condition with a time is
//     checked against HEAD's Last-Modified, and the delete is pinned to the ETag
//     that HEAD saw (see Delete for what that leaves open).
//   - S3 has no leases: Lock is an object created with If-None-Match: *,
//     renewed with If-Match, taken over when its expiry has passed.
//   - Every object is what Azure calls a block blob, written whole or
//     committed from parts: Props.BlobType is "BlockBlob".
//   - blobvalet's own metadata names (blobvalet_owner, …) are written with
//     hyphens, x-amz-meta-blobvalet-owner, and read back with underscores
//     (meta.go), so that no proxy drops them.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// S3's limits on copies: one CopyObject or UploadPartCopy copies at most
// MaxCopySize; a multipart copy of a larger object goes in parts of
// PromotePartSize, PromoteParallel at a time (at most 10,000 parts, so up
// to 10 TiB, above S3's largest object).
const (
	MaxCopySize     = 5 << 30
	PromotePartSize = 1 << 30
	PromoteParallel = 4
)

// blockBlob is Props.BlobType of every S3 object.
const blockBlob = "BlockBlob"

// DefaultMaxAttempts bounds the tries of one call (the first and its
// retries) when Config.MaxAttempts is not set.
const DefaultMaxAttempts = 3

// Config says how to reach an S3-compatible service.
type Config struct {
	// Endpoint is the service URL, such as https://s3.example.com; "" means
	// AWS's endpoint for Region.
	Endpoint string
	// Region is the region requests are signed for; required, even where
	// the service has only one.
	Region string
	// PathStyle addresses buckets as https://endpoint/bucket/key rather
	// than https://bucket.endpoint/key.
	PathStyle bool
	// AccessKeyID and SecretAccessKey sign requests; SessionToken, if set,
	// goes with temporary credentials.
	AccessKeyID, SecretAccessKey, SessionToken string
	// HTTPClient, if set, sends the requests.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one call; 0 means DefaultMaxAttempts.
	MaxAttempts int
}

// NewClient returns an S3 client for c. It computes and checks checksums
// only where an operation requires them: the SDK's default (CRC32 on every
// upload, checked on every download) is refused by several S3-compatible
// services.
func NewClient(c Config) (*s3sdk.Client, error) {
	if c.Region == "" {
		return nil, errors.New("s3: a region is required")
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return nil, errors.New("s3: an access key id and a secret access key are required")
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	o := s3sdk.Options{
		Region:                     c.Region,
		UsePathStyle:               c.PathStyle,
		Credentials:                credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer:                    retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts }),
	}
	if c.Endpoint != "" {
		o.BaseEndpoint = aws.String(c.Endpoint)
	}
	if c.HTTPClient != nil {
		o.HTTPClient = c.HTTPClient
	}
	if !c.PathStyle && isLocalhost(c.Endpoint) {
		o.HTTPClient = withLocalhost(c.HTTPClient)
	}
	return s3sdk.New(o), nil
}

// Store is the blob storage of one S3-compatible service.
type Store struct {
	Client *s3sdk.Client
	// CopyIfNoneMatch says the service honours If-None-Match: * on
	// CopyObject (AWS S3 does; versitygw ignores it and overwrites): a
	// create-only Promote of at most MaxCopySize is then one CopyObject.
	// Otherwise it is a multipart copy completed with If-None-Match: *,
	// which every tested service honours. Set it only where a probe proved
	// it.
	CopyIfNoneMatch bool
	// PageSize is how many keys List asks for at a time; 0 means the
	// service's default (1,000).
	PageSize int32
	// Now is the clock of lock expiries; nil means time.Now.
	Now func() time.Time
}

var _ interface {
	blobstore.Reader
	blobstore.Promoter
	blobstore.Deleter
	blobstore.Prober
	blobstore.Lister
	blobstore.Locker
} = Store{}

func (s Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Head implements blobstore.Reader with one ranged GET, which returns the
// object's headers and metadata, its total size in Content-Range, and its
// first bytes as stored (the SDK asks for Accept-Encoding: identity). An
// empty object has no first byte (416): it is read with HEAD.
func (s Store) Head(ctx context.Context, ref blobref.Ref, n int64) (blobstore.Props, []byte, error) {
	if n <= 0 {
		p, err := s.Properties(ctx, ref)
		return p, nil, err
	}
	out, err := s.Client.GetObject(ctx, &s3sdk.GetObjectInput{
		Bucket: aws.String(ref.Container),
		Key:    aws.String(string(ref.Name)),
		Range:  aws.String("bytes=0-" + strconv.FormatInt(n-1, 10)),
	})
	if isStatus(err, http.StatusRequestedRangeNotSatisfiable) {
		p, err := s.Properties(ctx, ref)
		return p, nil, err
	}
	if err != nil {
		return blobstore.Props{}, nil, Wrap(err)
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, n))
	if err != nil {
		return blobstore.Props{}, nil, Wrap(err)
	}
	p := props(out.ContentType, out.ContentEncoding, out.ETag, out.Metadata)
	if out.ContentRange == nil {
		// A service that ignores Range sends the whole object.
		p.Size = aws.ToInt64(out.ContentLength)
		return p, head, nil
	}
	p.Size, err = totalSize(*out.ContentRange)
	return p, head, err
}

// totalSize reads the object's size from "bytes 0-511/12345".
func totalSize(contentRange string) (int64, error) {
	_, total, ok := strings.Cut(contentRange, "/")
	n, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("storage answered Content-Range %q", contentRange)
	}
	return n, nil
}

// Properties implements blobstore.Reader with HEAD.
func (s Store) Properties(ctx context.Context, ref blobref.Ref) (blobstore.Props, error) {
	out, err := s.Client.HeadObject(ctx, &s3sdk.HeadObjectInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name))})
	if err != nil {
		return blobstore.Props{}, Wrap(err)
	}
	p := props(out.ContentType, out.ContentEncoding, out.ETag, out.Metadata)
	p.Size = aws.ToInt64(out.ContentLength)
	return p, nil
}

func props(contentType, contentEncoding, etag *string, md map[string]string) blobstore.Props {
	p := blobstore.Props{
		ContentType:     aws.ToString(contentType),
		ContentEncoding: aws.ToString(contentEncoding),
		ETag:            aws.ToString(etag),
		BlobType:        blockBlob,
		Metadata:        fromS3Metadata(md),
	}
	return p
}

// copySource is the x-amz-copy-source of ref: bucket and key, the key
// escaped as a URL path.
func copySource(ref blobref.Ref) string {
	return ref.Container + "/" + (&url.URL{Path: string(ref.Name)}).EscapedPath()
}

// Promote implements blobstore.Promoter. Every copy is pinned to srcETag
// with x-amz-copy-source-if-match and writes c's content type, disposition
// and metadata in place of the source's (REPLACE); the bytes never leave
// storage.
//
// A promotion that may overwrite, or a create-only one where the service
// honours If-None-Match on CopyObject (CopyIfNoneMatch), is one CopyObject
// up to MaxCopySize. Otherwise it is a multipart copy: CreateMultipartUpload
// with the headers and metadata, UploadPartCopy of the whole source as one
// part (in PromotePartSize ranges above MaxCopySize), then
// CompleteMultipartUpload with If-None-Match: *, which checks the
// create-only condition at the moment the object appears. A failed
// multipart copy is aborted, so that no upload is left behind.
func (s Store) Promote(ctx context.Context, src blobref.Ref, srcETag string, size int64, dst blobref.Ref, c blobstore.Commit) (string, error) {
	if size <= MaxCopySize && (!c.CreateOnly || s.CopyIfNoneMatch) {
		return s.copyObject(ctx, src, srcETag, dst, c)
	}
	create, err := s.Client.CreateMultipartUpload(ctx, &s3sdk.CreateMultipartUploadInput{
		Bucket:             aws.String(dst.Container),
		Key:                aws.String(string(dst.Name)),
		ContentType:        aws.String(c.ContentType),
		ContentDisposition: nonEmpty(c.ContentDisposition),
		Metadata:           toS3Metadata(c.Metadata),
	})
	if err != nil {
		return "", Wrap(err)
	}
	etag, err := s.copyParts(ctx, src, srcETag, size, dst, c, create.UploadId)
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, aerr := s.Client.AbortMultipartUpload(actx, &s3sdk.AbortMultipartUploadInput{
			Bucket: aws.String(dst.Container), Key: aws.String(string(dst.Name)), UploadId: create.UploadId,
		}); aerr != nil && !isStatus(aerr, http.StatusNotFound) {
			return "", errors.Join(err, fmt.Errorf("abort the multipart copy: %w", Wrap(aerr)))
		}
		return "", err
	}
	return etag, nil
}

func (s Store) copyObject(ctx context.Context, src blobref.Ref, srcETag string, dst blobref.Ref, c blobstore.Commit) (string, error) {
	in := &s3sdk.CopyObjectInput{
		Bucket:             aws.String(dst.Container),
		Key:                aws.String(string(dst.Name)),
		CopySource:         aws.String(copySource(src)),
		CopySourceIfMatch:  aws.String(srcETag),
		MetadataDirective:  types.MetadataDirectiveReplace,
		ContentType:        aws.String(c.ContentType),
		ContentDisposition: nonEmpty(c.ContentDisposition),
		Metadata:           toS3Metadata(c.Metadata),
	}
	if c.CreateOnly {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.Client.CopyObject(ctx, in)
	if err != nil {
		if c.CreateOnly && isStatus(err, http.StatusPreconditionFailed) {
			// One 412 for either condition: the destination tells which.
			if _, perr := s.Properties(ctx, dst); perr == nil {
				return "", wrapAs(blobstore.Taken, err)
			}
		}
		return "", Wrap(err)
	}
	if out.CopyObjectResult == nil {
		return "", errors.New("storage answered CopyObject without a result")
	}
	return aws.ToString(out.CopyObjectResult.ETag), nil
}

// copyParts copies src into the multipart upload id and completes it.
func (s Store) copyParts(ctx context.Context, src blobref.Ref, srcETag string, size int64, dst blobref.Ref, c blobstore.Commit, id *string) (string, error) {
	n := int64(1)
	if size > MaxCopySize {
		n = (size + PromotePartSize - 1) / PromotePartSize
	}
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(PromoteParallel)
	for i := range parts {
		num := int32(i + 1)
		in := &s3sdk.UploadPartCopyInput{
			Bucket:            aws.String(dst.Container),
			Key:               aws.String(string(dst.Name)),
			UploadId:          id,
			PartNumber:        aws.Int32(num),
			CopySource:        aws.String(copySource(src)),
			CopySourceIfMatch: aws.String(srcETag),
		}
		if n > 1 {
			// A range only above MaxCopySize: AWS allows one only on
			// sources over 5 MB.
			off := int64(i) * PromotePartSize
			in.CopySourceRange = aws.String(fmt.Sprintf("bytes=%d-%d", off, min(off+PromotePartSize, size)-1))
		}
		g.Go(func() error {
			out, err := s.Client.UploadPartCopy(gctx, in)
			if err != nil {
				return Wrap(err)
			}
			if out.CopyPartResult == nil {
				return errors.New("storage answered UploadPartCopy without a result")
			}
			parts[i] = types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(num)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	in := &s3sdk.CompleteMultipartUploadInput{
		Bucket:          aws.String(dst.Container),
		Key:             aws.String(string(dst.Name)),
		UploadId:        id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if c.CreateOnly {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.Client.CompleteMultipartUpload(ctx, in)
	switch {
	case c.CreateOnly && isStatus(err, http.StatusPreconditionFailed):
		return "", wrapAs(blobstore.Taken, err)
	case err != nil:
		return "", Wrap(err)
	}
	return aws.ToString(out.ETag), nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
