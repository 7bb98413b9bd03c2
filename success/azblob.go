package success

import (
	"context"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/blobref"
)

// AzureStore is the Store of an Azure Blob service, used with the service's
// own credential.
type AzureStore struct {
	Client *service.Client
}

func (s AzureStore) blob(ref blobref.Ref) *blob.Client {
	return s.Client.NewContainerClient(ref.Container).NewBlobClient(string(ref.Name))
}

func ifMatch(etag string) *blob.AccessConditions {
	e := azcore.ETag(etag)
	return &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &e}}
}

// Properties implements Store.
func (s AzureStore) Properties(ctx context.Context, ref blobref.Ref) (Props, error) {
	p, err := s.blob(ref).GetProperties(ctx, nil)
	if err != nil {
		return Props{}, err
	}
	out := Props{Metadata: map[string]string{}}
	if p.ContentLength != nil {
		out.Size = *p.ContentLength
	}
	if p.ContentType != nil {
		out.ContentType = *p.ContentType
	}
	if p.ETag != nil {
		out.ETag = string(*p.ETag)
	}
	for k, v := range p.Metadata {
		if v != nil {
			out.Metadata[k] = *v
		}
	}
	return out, nil
}

// Head implements Store with a ranged read.
func (s AzureStore) Head(ctx context.Context, ref blobref.Ref, etag string, n int64) ([]byte, error) {
	resp, err := s.blob(ref).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range:            blob.HTTPRange{Offset: 0, Count: n},
		AccessConditions: ifMatch(etag),
	})
	if bloberror.HasCode(err, bloberror.InvalidRange) {
		return nil, nil // an empty blob
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, n))
}

// Delete implements Store.
func (s AzureStore) Delete(ctx context.Context, ref blobref.Ref, etag string) error {
	_, err := s.blob(ref).Delete(ctx, &blob.DeleteOptions{AccessConditions: ifMatch(etag)})
	return err
}

// SetMetadata implements Store.
func (s AzureStore) SetMetadata(ctx context.Context, ref blobref.Ref, md map[string]string, etag string) (string, error) {
	m := make(map[string]*string, len(md))
	for k, v := range md {
		m[k] = to.Ptr(v)
	}
	resp, err := s.blob(ref).SetMetadata(ctx, m, &blob.SetMetadataOptions{AccessConditions: ifMatch(etag)})
	if err != nil {
		return "", err
	}
	return string(*resp.ETag), nil
}

// IsNotFound implements Store.
func (AzureStore) IsNotFound(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound)
}

// IsChanged implements Store.
func (AzureStore) IsChanged(err error) bool {
	return bloberror.HasCode(err, bloberror.ConditionNotMet)
}
