package staging

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore/azblob"
)

type body struct{ *strings.Reader }

func (body) Close() error { return nil }

func TestSweeperAgainstAzurite(t *testing.T) {
	az := azuritetest.Start(t, "incoming")
	ctx := context.Background()
	c := az.Client().NewContainerClient("incoming")
	area := Area{Container: "incoming"}
	store := azblob.Store{Client: az.Client()}
	committed, _ := area.Ref("alice", blobref.Ref{Container: "uploads", Name: "a.txt"})
	uncommitted, _ := area.Ref("bob", blobref.Ref{Container: "uploads", Name: "b.bin"})
	if _, err := c.NewBlockBlobClient(string(committed.Name)).UploadBuffer(ctx, []byte("a"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewBlockBlobClient(string(uncommitted.Name)).StageBlock(ctx, "MDAwMDA=", body{strings.NewReader("b")}, nil); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []blobref.Ref{committed, uncommitted} {
		if busy, err := store.InProgress(ctx, ref); !busy || err != nil {
			t.Fatalf("InProgress(%s) = %v, %v", ref, busy, err)
		}
	}
	if busy, err := store.InProgress(ctx, blobref.Ref{Container: "incoming", Name: "x/y/z"}); busy || err != nil {
		t.Fatalf("InProgress(nothing) = %v, %v", busy, err)
	}

	reg := prometheus.NewRegistry()
	s := &Sweeper{Container: "incoming", Store: store, Log: zap.NewNop(), Metrics: NewMetrics(reg)}
	rep, err := s.Sweep(ctx, time.Hour)
	if err != nil || rep.Removed != 0 || rep.Examined != 2 {
		t.Fatalf("young uploads: %+v, %v", rep, err)
	}

	// Another instance holds the lock: nothing is done.
	lc, err := lease.NewBlobClient(c.NewBlockBlobClient(LockBlob), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.AcquireLease(ctx, 15, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("sweep while locked: %v, want ErrLocked", err)
	}
	if _, err := lc.ReleaseLease(ctx, nil); err != nil {
		t.Fatal(err)
	}

	rep, err = s.Sweep(ctx, 0)
	if err != nil || rep.Removed != 2 {
		t.Fatalf("sweep: %+v, %v", rep, err)
	}
	for _, ref := range []blobref.Ref{committed, uncommitted} {
		if busy, _ := store.InProgress(ctx, ref); busy {
			t.Errorf("%s survived", ref)
		}
	}
	if _, err := c.NewBlobClient(LockBlob).GetProperties(ctx, nil); bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Error("the sweeper removed its own lock")
	}
	if got := testutil.ToFloat64(s.Metrics.removed); got != 2 {
		t.Errorf("removed metric = %v", got)
	}
	if got := testutil.ToFloat64(s.Metrics.runs.WithLabelValues("locked")); got != 1 {
		t.Errorf("locked runs = %v", got)
	}
}
