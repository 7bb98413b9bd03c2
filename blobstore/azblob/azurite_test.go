package azblob_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/sas"
)

type body struct{ *strings.Reader }

func (body) Close() error { return nil }

// TestStoreAgainstAzurite checks each method of the adapter, and that it
// answers Azure's refusals as blobstore's sentinels.
func TestStoreAgainstAzurite(t *testing.T) {
	az := azuritetest.Start(t, "incoming", "uploads")
	ctx := context.Background()
	r, err := blobref.NewResolver(az.Endpoint(), []string{"incoming", "uploads"})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sas.NewSharedKeySigner(r, az.Account(), az.Key(), true)
	if err != nil {
		t.Fatal(err)
	}
	s := azblob.Store{Client: az.Client(), SourceURL: func(ref blobref.Ref) (string, error) {
		return signer.Sign(ref, blobstore.Read, time.Now().Add(time.Minute))
	}}
	c := az.Client().NewContainerClient("incoming")
	put := func(name, text string) {
		t.Helper()
		if _, err := c.NewBlockBlobClient(name).UploadBuffer(ctx, []byte(text), nil); err != nil {
			t.Fatal(err)
		}
	}
	in := func(name string) blobref.Ref { return blobref.Ref{Container: "incoming", Name: blobref.Name(name)} }
	final := blobref.Ref{Container: "uploads", Name: "users/alice/x.txt"}

	// Reading.
	if _, _, err := s.Head(ctx, in("none"), 10); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Head of nothing: %v, want ErrNotFound", err)
	}
	if _, err := s.Properties(ctx, blobref.Ref{Container: "nocontainer", Name: "x"}); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Properties in no container: %v, want ErrNotFound", err)
	}
	put("a", "hello world")
	p, head, err := s.Head(ctx, in("a"), 5)
	if err != nil || string(head) != "hello" || p.Size != 11 || p.BlobType != "BlockBlob" || p.ETag == "" {
		t.Fatalf("Head = %+v, %q, %v", p, head, err)
	}
	put("empty", "")
	if p, head, err := s.Head(ctx, in("empty"), 5); err != nil || len(head) != 0 || p.Size != 0 {
		t.Errorf("Head of an empty blob = %+v, %q, %v", p, head, err)
	}

	// Promoting: pinned to the checked ETag, create-only or not.
	if _, err := s.Promote(ctx, in("a"), `"0x0"`, p.Size, final, blobstore.Commit{ContentType: "text/plain"}); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Promote of a changed source: %v, want ErrChanged", err)
	}
	etag, err := s.Promote(ctx, in("a"), p.ETag, p.Size, final, blobstore.Commit{
		ContentType: "text/plain", ContentDisposition: "inline", Metadata: map[string]string{"blobvalet_owner": "alice"}, CreateOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := s.Properties(ctx, final)
	if err != nil || fp.ETag != etag || fp.Size != 11 || fp.ContentType != "text/plain" || fp.Metadata["Blobvalet_owner"]+fp.Metadata["blobvalet_owner"] != "alice" {
		t.Errorf("promoted blob: %+v, %v", fp, err)
	}
	if _, err := s.Promote(ctx, in("a"), p.ETag, p.Size, final, blobstore.Commit{CreateOnly: true}); !errors.Is(err, blobstore.ErrTaken) {
		t.Errorf("create-only Promote onto a blob: %v, want ErrTaken", err)
	}
	if _, err := s.Promote(ctx, in("a"), p.ETag, p.Size, final, blobstore.Commit{ContentType: "text/plain"}); err != nil {
		t.Errorf("Promote that may overwrite: %v", err)
	}

	// Deleting on a condition.
	if err := s.Delete(ctx, in("a"), blobstore.Condition{ETag: `"0x0"`}); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Delete on another ETag: %v, want ErrChanged", err)
	}
	if err := s.Delete(ctx, in("a"), blobstore.Condition{UnmodifiedSince: time.Now().Add(-time.Hour)}); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Delete of a blob written since: %v, want ErrChanged", err)
	}
	if err := s.Delete(ctx, in("a"), blobstore.Condition{ETag: p.ETag}); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if err := s.Delete(ctx, in("a"), blobstore.Condition{}); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Delete of nothing: %v, want ErrNotFound", err)
	}
	// An uploader's snapshot and lease do not keep the blob.
	put("held", "x")
	b := c.NewBlobClient("held")
	if _, err := b.CreateSnapshot(ctx, nil); err != nil {
		t.Fatal(err)
	}
	lc, err := lease.NewBlobClient(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.AcquireLease(ctx, -1, nil); err != nil {
		t.Fatal(err)
	}
	hp, err := s.Properties(ctx, in("held"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, in("held"), blobstore.Condition{ETag: hp.ETag}); err != nil {
		t.Fatalf("Delete of a leased blob with a snapshot: %v", err)
	}
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Snapshots: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			if *it.Name == "held" {
				t.Error("the leased blob or its snapshot was left behind")
			}
		}
	}

	// The in-progress probe and the listing see uncommitted blocks.
	if _, err := c.NewBlockBlobClient("blocks").StageBlock(ctx, "MDAwMDA=", body{strings.NewReader("b")}, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"blocks": true, "empty": true, "none": false} {
		if busy, err := s.InProgress(ctx, in(name)); busy != want || err != nil {
			t.Errorf("InProgress(%s) = %v, %v; want %v", name, busy, err, want)
		}
	}
	var listed []string
	if err := s.List(ctx, "incoming", func(it blobstore.Item) error { listed = append(listed, string(it.Name)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, ",") != "blocks,empty" {
		t.Errorf("listed %q", listed)
	}
	if err := s.List(ctx, "nocontainer", func(blobstore.Item) error { return nil }); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("List of no container: %v, want ErrNotFound", err)
	}

	// The lock: one holder at a time.
	lock := in("lock")
	release, lost, err := s.Lock(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lock(ctx, lock); !errors.Is(err, blobstore.ErrTaken) {
		t.Errorf("second Lock: %v, want ErrTaken", err)
	}
	release()
	if lost.Err() == nil {
		t.Error("lost does not end at release")
	}
	release, _, err = s.Lock(ctx, lock)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	release()
	if _, err := c.NewBlobClient("lock").GetProperties(ctx, nil); bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Error("the lock blob is gone")
	}
}
