package staging

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// fakeSweepStore is a staging container of plain fields.
type fakeSweepStore struct {
	items   []blobstore.Item
	delErr  map[blobref.Name]error // what Delete answers for a name
	deleted []blobref.Name
	conds   []blobstore.Condition
	locked  bool // another instance holds the lock
	lockRef blobref.Ref
}

func (f *fakeSweepStore) List(_ context.Context, container string, fn func(blobstore.Item) error) error {
	if container != "incoming" {
		return blobstore.ErrNotFound
	}
	for _, it := range f.items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeSweepStore) Delete(_ context.Context, ref blobref.Ref, cond blobstore.Condition) error {
	if err := f.delErr[ref.Name]; err != nil {
		return err
	}
	f.deleted = append(f.deleted, ref.Name)
	f.conds = append(f.conds, cond)
	return nil
}

func (f *fakeSweepStore) Lock(ctx context.Context, ref blobref.Ref) (func(), context.Context, error) {
	f.lockRef = ref
	if f.locked {
		return nil, nil, blobstore.ErrTaken
	}
	return func() {}, ctx, nil
}

func TestSweepDecisions(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	old, young := now.Add(-2*time.Hour), now.Add(-time.Minute)
	st := &fakeSweepStore{
		items: []blobstore.Item{
			{Name: LockBlob, LastModified: old},
			{Name: "YWxpY2U/uploads/a.txt", Size: 5, LastModified: old},
			{Name: "Ym9i/uploads/b.bin", LastModified: old}, // only uncommitted blocks
			{Name: "Ym9i/uploads/young", Size: 7, LastModified: young},
			{Name: "Ym9i/uploads/written-again", LastModified: old},
			{Name: "Ym9i/uploads/stuck", LastModified: old},
		},
		delErr: map[blobref.Name]error{
			"Ym9i/uploads/written-again": blobstore.ErrChanged,
			"Ym9i/uploads/stuck":         blobstore.ErrRefused,
		},
	}
	s := &Sweeper{Container: "incoming", Store: st, Log: zap.NewNop(), Now: func() time.Time { return now }}
	rep, err := s.Sweep(context.Background(), time.Hour)
	if !errors.Is(err, ErrIncomplete) || rep != (Report{Examined: 5, Removed: 2, Bytes: 5, Failed: 1}) {
		t.Fatalf("sweep: %+v, %v", rep, err)
	}
	if len(st.deleted) != 2 || st.deleted[0] != "YWxpY2U/uploads/a.txt" || st.deleted[1] != "Ym9i/uploads/b.bin" {
		t.Errorf("deleted %q", st.deleted)
	}
	for _, c := range st.conds {
		if c != (blobstore.Condition{UnmodifiedSince: old}) {
			t.Errorf("deleted on %+v, want unmodified since it was listed", c)
		}
	}
	if st.lockRef != (blobref.Ref{Container: "incoming", Name: LockBlob}) {
		t.Errorf("locked %v", st.lockRef)
	}

	dry := &fakeSweepStore{items: st.items[:2]}
	s = &Sweeper{Container: "incoming", Store: dry, Log: zap.NewNop(), Now: func() time.Time { return now }, DryRun: true}
	if rep, err := s.Sweep(context.Background(), time.Hour); err != nil || rep.Removed != 1 || len(dry.deleted) != 0 {
		t.Errorf("dry run: %+v, %v, deleted %q", rep, err, dry.deleted)
	}

	s = &Sweeper{Container: "incoming", Store: &fakeSweepStore{locked: true}, Log: zap.NewNop()}
	if _, err := s.Sweep(context.Background(), 0); !errors.Is(err, ErrLocked) {
		t.Errorf("locked: %v, want ErrLocked", err)
	}
}
