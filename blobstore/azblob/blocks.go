package azblob

import (
	"context"
	"errors"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// Blocks is the store of the traditional upload endpoint
// (traditional.Store). Its client must not retry (MaxRetries -1) and must
// not cut a try short: a chunk's body is the browser's request, streamed
// once, for as long as the browser takes to send it.
type Blocks struct {
	Client *service.Client
}

func (s Blocks) blob(ref blobref.Ref) *blockblob.Client {
	return s.Client.NewContainerClient(ref.Container).NewBlockBlobClient(string(ref.Name))
}

// blocksErr maps Azure's answers to the store's errors: the port's
// sentinels (Wrap), and blobstore.ErrBlockIDLength.
func blocksErr(err error) error {
	if bloberror.HasCode(err, bloberror.InvalidBlobOrBlock) {
		return errors.Join(blobstore.ErrBlockIDLength, Wrap(err))
	}
	return Wrap(err)
}

// StageBlock implements traditional.Store.
func (s Blocks) StageBlock(ctx context.Context, ref blobref.Ref, id string, body io.ReadSeekCloser) error {
	_, err := s.blob(ref).StageBlock(ctx, id, body, nil)
	return blocksErr(err)
}

// Blocks implements traditional.Store.
func (s Blocks) Blocks(ctx context.Context, ref blobref.Ref) (blobstore.BlockList, error) {
	resp, err := s.blob(ref).GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if err != nil {
		return blobstore.BlockList{}, blocksErr(err)
	}
	conv := func(in []*blockblob.Block) []blobstore.Block {
		out := make([]blobstore.Block, 0, len(in))
		for _, b := range in {
			if b != nil && b.Name != nil && b.Size != nil {
				out = append(out, blobstore.Block{ID: *b.Name, Size: *b.Size})
			}
		}
		return out
	}
	return blobstore.BlockList{Committed: conv(resp.CommittedBlocks), Uncommitted: conv(resp.UncommittedBlocks)}, nil
}

// CommitBlocks implements traditional.Store.
func (s Blocks) CommitBlocks(ctx context.Context, ref blobref.Ref, ids []string, c blobstore.Commit) error {
	md := make(map[string]*string, len(c.Metadata))
	for k, v := range c.Metadata {
		md[k] = to.Ptr(v)
	}
	_, err := s.blob(ref).CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr(c.ContentType)},
		Metadata:    md,
	})
	return blocksErr(err)
}

// Find implements traditional.Store.
func (s Blocks) Find(ctx context.Context, containerName, prefix string) ([]blobstore.Found, error) {
	pager := s.Client.NewContainerClient(containerName).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  to.Ptr(prefix),
		Include: container.ListBlobsInclude{Metadata: true},
	})
	var out []blobstore.Found
	for pager.More() && len(out) < maxFound {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, blocksErr(err)
		}
		for _, it := range page.Segment.BlobItems {
			if it == nil || it.Name == nil || it.Properties == nil || it.Properties.ETag == nil {
				continue
			}
			md := make(map[string]string, len(it.Metadata))
			for k, v := range it.Metadata {
				if v != nil {
					md[k] = *v
				}
			}
			out = append(out, blobstore.Found{Name: blobref.Name(*it.Name), ETag: string(*it.Properties.ETag), Metadata: md})
		}
	}
	return out, nil
}

// maxFound caps what Find returns: a uuid's prefix names one upload.
const maxFound = 100

// Delete implements traditional.Store.
func (s Blocks) Delete(ctx context.Context, ref blobref.Ref, etag string) error {
	opts := &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)}
	if etag != "" {
		e := azcore.ETag(etag)
		opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &e}}
	}
	_, err := s.blob(ref).Delete(ctx, opts)
	return blocksErr(err)
}
