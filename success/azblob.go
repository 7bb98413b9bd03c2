package success

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
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
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"golang.org/x/sync/errgroup"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/staging"
)

// Promotion copies in blocks of at most PromoteBlockSize, PromoteParallel at
// a time. Azure takes up to 4000 MiB in one Put Block From URL; smaller
// blocks keep each request short.
const (
	PromoteBlockSize = 64 << 20
	PromoteParallel  = 8
)

// AzureStore is the Store of an Azure Blob service, used with the service's
// own credential.
type AzureStore struct {
	Client *service.Client
	// SourceURL returns a short-lived read-only URL of a staging blob, which
	// storage reads from when it copies the blob to its final name.
	SourceURL func(ref blobref.Ref) (string, error)
}

var _ Store = AzureStore{}

func (s AzureStore) blob(ref blobref.Ref) *blockblob.Client {
	return s.Client.NewContainerClient(ref.Container).NewBlockBlobClient(string(ref.Name))
}

func ifMatch(etag string) *blob.AccessConditions {
	e := azcore.ETag(etag)
	return &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &e}}
}

// Head implements Store with one ranged read, which returns the blob's
// properties and metadata along with its first bytes. It asks for the
// bytes as stored (Accept-Encoding: identity), whatever the client's
// transport: Go's transport would otherwise inflate a blob stored with
// Content-Encoding: gzip and drop the header, so that the check never saw
// the encoding.
func (s AzureStore) Head(ctx context.Context, ref blobref.Ref, n int64) (Props, []byte, error) {
	ctx = policy.WithHTTPHeader(ctx, http.Header{"Accept-Encoding": {"identity"}})
	resp, err := s.blob(ref).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: n}})
	if bloberror.HasCode(err, bloberror.InvalidRange) {
		// An empty blob has no first byte to read.
		p, err := s.Properties(ctx, ref)
		return p, nil, err
	}
	if err != nil {
		return Props{}, nil, err
	}
	defer resp.Body.Close()
	head, err := io.ReadAll(io.LimitReader(resp.Body, n))
	if err != nil {
		return Props{}, nil, err
	}
	p := props(resp.ContentType, resp.ContentEncoding, resp.ETag, resp.BlobType, resp.Metadata)
	p.Size, err = totalSize(resp.ContentRange)
	return p, head, err
}

// totalSize reads the blob's size from "bytes 0-511/12345".
func totalSize(contentRange *string) (int64, error) {
	if contentRange == nil {
		return 0, fmt.Errorf("storage answered a ranged read without Content-Range")
	}
	_, total, ok := strings.Cut(*contentRange, "/")
	n, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("storage answered Content-Range %q", *contentRange)
	}
	return n, nil
}

// Properties implements Store.
func (s AzureStore) Properties(ctx context.Context, ref blobref.Ref) (Props, error) {
	resp, err := s.blob(ref).GetProperties(ctx, nil)
	if err != nil {
		return Props{}, err
	}
	p := props(resp.ContentType, resp.ContentEncoding, resp.ETag, resp.BlobType, resp.Metadata)
	if resp.ContentLength != nil {
		p.Size = *resp.ContentLength
	}
	return p, nil
}

func props(contentType, contentEncoding *string, etag *azcore.ETag, blobType *blob.BlobType, md map[string]*string) Props {
	p := Props{Metadata: make(map[string]string, len(md))}
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

// Promote implements Store with Put Block From URL, which storage reads
// from src only while src still has srcETag, then Put Block List, which sets
// the content headers and metadata and checks the create-only condition
// at the same moment the blob appears. The bytes never leave storage.
//
// Block ids carry random bytes of this promotion, so two promotions to one
// name at once never commit each other's blocks.
func (s AzureStore) Promote(ctx context.Context, src blobref.Ref, srcETag string, size int64, dst blobref.Ref, c Commit) (string, error) {
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
		return "", err
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
		return "", err
	}
	return string(*resp.ETag), nil
}

// Delete implements Store. It is only ever given a staging blob, which it
// deletes with its snapshots, breaking a lease on it (staging.Delete): the
// uploader's SAS lets them snapshot and lease it.
func (s AzureStore) Delete(ctx context.Context, ref blobref.Ref, etag string) error {
	return staging.Delete(ctx, s.Client.NewContainerClient(ref.Container).NewBlobClient(string(ref.Name)), ifMatch(etag).ModifiedAccessConditions)
}

// IsNotFound implements Store.
func (AzureStore) IsNotFound(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound)
}

// IsChanged implements Store: the blob, or the source of a copy, no longer
// has the ETag that was checked.
func (AzureStore) IsChanged(err error) bool {
	return bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.SourceConditionNotMet, bloberror.CannotVerifyCopySource)
}

// IsTaken implements Store.
func (AzureStore) IsTaken(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobAlreadyExists)
}
