// Package azblob implements blobstore on Azure Blob Storage, with the
// service's own credential. Every method answers Azure's errors as
// blobstore's sentinels (Wrap), matched by error code, never by text.
package azblob

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"golang.org/x/sync/errgroup"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// Promotion copies in blocks of at most PromoteBlockSize, PromoteParallel at
// a time. Azure takes up to 4000 MiB in one Put Block From URL; smaller
// blocks keep each request short.
const (
	PromoteBlockSize = 64 << 20
	PromoteParallel  = 8
)

// Store is the blob storage of one Azure Storage account.
type Store struct {
	Client *service.Client
	// SourceURL returns a short-lived read-only URL of a staging blob, which
	// storage reads from when it copies the blob to its final name; only
	// Promote needs it.
	SourceURL func(ref blobref.Ref) (string, error)
}

var _ interface {
	blobstore.Reader
	blobstore.Promoter
	blobstore.Deleter
	blobstore.Prober
	blobstore.Lister
	blobstore.Locker
} = Store{}

func (s Store) blob(ref blobref.Ref) *blockblob.Client {
	return s.Client.NewContainerClient(ref.Container).NewBlockBlobClient(string(ref.Name))
}

// Head implements blobstore.Reader with one ranged read, which returns the
// blob's properties and metadata along with its first bytes. It asks for
// the bytes as stored (Accept-Encoding: identity), whatever the client's
// transport: Go's transport would otherwise inflate a blob stored with
// Content-Encoding: gzip and drop the header, so that the check never saw
// the encoding.
func (s Store) Head(ctx context.Context, ref blobref.Ref, n int64) (blobstore.Props, []byte, error) {
	ctx = policy.WithHTTPHeader(ctx, http.Header{"Accept-Encoding": {"identity"}})
	resp, err := s.blob(ref).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: n}})
	if bloberror.HasCode(err, bloberror.InvalidRange) {
		// An empty blob has no first byte to read.
		p, err := s.Properties(ctx, ref)
		return p, nil, err
	}
	if err != nil {
		return blobstore.Props{}, nil, Wrap(err)
	}
	defer resp.Body.Close()
	head, err := io.ReadAll(io.LimitReader(resp.Body, n))
	if err != nil {
		return blobstore.Props{}, nil, Wrap(err)
	}
	p := props(resp.ContentType, resp.ContentEncoding, resp.ETag, resp.BlobType, resp.Metadata)
	p.Size, err = totalSize(resp.ContentRange)
	return p, head, err
}

// totalSize reads the blob's size from "bytes 0-511/12345".
func totalSize(contentRange *string) (int64, error) {
	if contentRange == nil {
		return 0, errors.New("storage answered a ranged read without Content-Range")
	}
	_, total, ok := strings.Cut(*contentRange, "/")
	n, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("storage answered Content-Range %q", *contentRange)
	}
	return n, nil
}

// Properties implements blobstore.Reader.
func (s Store) Properties(ctx context.Context, ref blobref.Ref) (blobstore.Props, error) {
	resp, err := s.blob(ref).GetProperties(ctx, nil)
	if err != nil {
		return blobstore.Props{}, Wrap(err)
	}
	p := props(resp.ContentType, resp.ContentEncoding, resp.ETag, resp.BlobType, resp.Metadata)
	if resp.ContentLength != nil {
		p.Size = *resp.ContentLength
	}
	return p, nil
}

func props(contentType, contentEncoding *string, etag *azcore.ETag, blobType *blob.BlobType, md map[string]*string) blobstore.Props {
	p := blobstore.Props{Metadata: make(map[string]string, len(md))}
	if contentType != nil {
		p.ContentType = *contentType
	}
	if contentEncoding != nil {
		p.ContentEncoding = *contentEncoding
	}
	if etag != nil {
		p.ETag = string(*etag)
	}
	if blobType != nil {
		p.BlobType = string(*blobType)
	}
	for k, v := range md {
		if v != nil {
			p.Metadata[k] = *v
		}
	}
	return p
}

// Promote implements blobstore.Promoter with Put Block From URL, which
// storage reads from src only while src still has srcETag, then Put Block
// List, which sets the content headers and metadata and checks the
// create-only condition at the same moment the blob appears. The bytes
// never leave storage.
//
// Block ids carry random bytes of this promotion, so two promotions to one
// name at once never commit each other's blocks.
func (s Store) Promote(ctx context.Context, src blobref.Ref, srcETag string, size int64, dst blobref.Ref, c blobstore.Commit) (string, error) {
	source, err := s.SourceURL(src)
	if err != nil {
		return "", fmt.Errorf("promote: source URL: %w", err)
	}
	var prefix [16]byte
	rand.Read(prefix[:])
	dstBlob := s.blob(dst)
	n := (size + PromoteBlockSize - 1) / PromoteBlockSize
	ids := make([]string, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(PromoteParallel)
	etag := azcore.ETag(srcETag)
	for i := range ids {
		var id [20]byte
		copy(id[:], prefix[:])
		binary.BigEndian.PutUint32(id[16:], uint32(i))
		ids[i] = base64.StdEncoding.EncodeToString(id[:])
		off := int64(i) * PromoteBlockSize
		g.Go(func() error {
			_, err := dstBlob.StageBlockFromURL(gctx, ids[i], source, &blockblob.StageBlockFromURLOptions{
				Range:                          blob.HTTPRange{Offset: off, Count: min(PromoteBlockSize, size-off)},
				SourceModifiedAccessConditions: &blob.SourceModifiedAccessConditions{SourceIfMatch: &etag},
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", Wrap(err)
	}
	md := make(map[string]*string, len(c.Metadata))
	for k, v := range c.Metadata {
		md[k] = to.Ptr(v)
	}
	opts := &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr(c.ContentType), BlobContentDisposition: to.Ptr(c.ContentDisposition)},
		Metadata:    md,
	}
	if c.CreateOnly {
		opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}
	}
	resp, err := dstBlob.CommitBlockList(ctx, ids, opts)
	if err != nil {
		return "", Wrap(err)
	}
	return string(*resp.ETag), nil
}

// Delete implements blobstore.Deleter. It is only ever given a staging
// blob, which the uploader's write SAS lets them snapshot and lease: it
// deletes the snapshots too, and breaks a lease (at once, on the same
// condition) when Azure refuses the delete for want of the lease id.
func (s Store) Delete(ctx context.Context, ref blobref.Ref, cond blobstore.Condition) error {
	b := s.Client.NewContainerClient(ref.Container).NewBlobClient(string(ref.Name))
	mac := modified(cond)
	opts := &blob.DeleteOptions{
		DeleteSnapshots:  to.Ptr(blob.DeleteSnapshotsOptionTypeInclude),
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: mac},
	}
	_, err := b.Delete(ctx, opts)
	if !bloberror.HasCode(err, bloberror.LeaseIDMissing) {
		return Wrap(err)
	}
	lc, err := lease.NewBlobClient(b, nil)
	if err != nil {
		return err
	}
	if _, err := lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: to.Ptr(int32(0)), ModifiedAccessConditions: mac}); err != nil {
		return fmt.Errorf("break the lease: %w", Wrap(err))
	}
	_, err = b.Delete(ctx, opts)
	return Wrap(err)
}

// modified returns cond as Azure's conditions; nil for none.
func modified(cond blobstore.Condition) *blob.ModifiedAccessConditions {
	if cond == (blobstore.Condition{}) {
		return nil
	}
	mac := &blob.ModifiedAccessConditions{}
	if cond.ETag != "" {
		mac.IfMatch = to.Ptr(azcore.ETag(cond.ETag))
	}
	if !cond.UnmodifiedSince.IsZero() {
		mac.IfUnmodifiedSince = to.Ptr(cond.UnmodifiedSince)
	}
	return mac
}

// InProgress implements blobstore.Prober with Get Block List, which
// answers for a blob that holds only uncommitted blocks where Get
// Properties answers BlobNotFound.
func (s Store) InProgress(ctx context.Context, ref blobref.Ref) (bool, error) {
	_, err := s.blob(ref).GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return false, nil
	}
	return err == nil, Wrap(err)
}

// List implements blobstore.Lister, uncommitted blobs included. An item
// without a name or a time, which Azure does not send, is passed over.
func (s Store) List(ctx context.Context, containerName string, fn func(blobstore.Item) error) error {
	pager := s.Client.NewContainerClient(containerName).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Include: container.ListBlobsInclude{UncommittedBlobs: true},
	})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list container %s: %w", containerName, Wrap(err))
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil || item.Properties.LastModified == nil {
				continue
			}
			it := blobstore.Item{Name: blobref.Name(*item.Name), LastModified: *item.Properties.LastModified}
			if item.Properties.ContentLength != nil {
				it.Size = *item.Properties.ContentLength
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}
