package success

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
)

// TestStagedBlobLimits: only a block blob is promoted, and a rule without
// max_size gets the default limit, never none. What fails is deleted from
// staging and never copied.
func TestStagedBlobLimits(t *testing.T) {
	blobType := func(bt string, size int64) *blobstore.Props { p := staged(size); p.BlobType = bt; return p }
	tests := []struct {
		name       string
		blob       string
		staged     *blobstore.Props
		defaultMax int64
		check      string // "" = promoted
	}{
		{"page blob", "drop/a.png", blobType("PageBlob", 256<<20), 0, "blob_type"},
		{"append blob", "drop/a.png", blobType("AppendBlob", 10), 0, "blob_type"},
		{"no type", "drop/a.png", blobType("", 10), 0, "blob_type"},
		{"block blob", "drop/a.png", staged(10), 0, ""},
		{"no max_size, over the configured default", "drop/a.png", staged(51), 50, "max_size"},
		{"no max_size, within the configured default", "drop/a.png", staged(50), 50, ""},
		{"no max_size, over the built-in default", "drop/a.png", staged(DefaultMaxSize + 1), 0, "max_size"},
		{"the rule's own max_size wins", "users/alice/a.png", staged(101), 1 << 30, "max_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &gatedStore{fakeStore: &fakeStore{staging: tt.staged}, gate: make(chan struct{})}
			close(st.gate)
			c := checker(st, nil)
			c.DefaultMaxSize = tt.defaultMax
			_, err := c.Check(context.Background(), req("alice", tt.blob))
			if tt.check == "" {
				if err != nil || st.promotes.Load() != 1 {
					t.Fatalf("%v, %d promotions; want promoted", err, st.promotes.Load())
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Rejected || !e.PreventRetry || e.Err == nil || !strings.HasSuffix(e.Err.Error(), "check "+tt.check+" failed") {
				t.Fatalf("error %v, want a %s rejection", err, tt.check)
			}
			if st.promotes.Load() != 0 || st.final != nil || st.staging != nil {
				t.Errorf("promotions %d, final %+v, staging %+v: want nothing copied and the staging blob deleted", st.promotes.Load(), st.final, st.staging)
			}
		})
	}
}

// TestTakenBeforeCopy: under a rule that may not overwrite, an existing
// final name is found before anything is copied to it.
func TestTakenBeforeCopy(t *testing.T) {
	st := &gatedStore{fakeStore: &fakeStore{staging: staged(10), final: stamped("bob")}, gate: make(chan struct{})}
	close(st.gate)
	_, err := checker(st, nil).Check(context.Background(), req("alice", "users/alice/x.png"))
	if !errs.Match(&errs.Error{Kind: errs.Exists, PreventRetry: true}, err) {
		t.Fatalf("error %v, want the name taken", err)
	}
	if n := st.promotes.Load(); n != 0 {
		t.Errorf("%d copies to a taken name, want none", n)
	}
	if st.staging != nil {
		t.Error("the refused upload is left in staging")
	}
}

// TestPromotionsCapped: promotions that outlast their request keep their
// place under MaxCompleting; one more is answered busy, retryable, and
// starts nothing, until a place is free.
func TestPromotionsCapped(t *testing.T) {
	st := &gatedStore{fakeStore: &fakeStore{staging: staged(10)}, gate: make(chan struct{})}
	c := checker(st, nil)
	c.MaxCompleting = 1
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Check(short, req("alice", "users/alice/x.png"))
	if !errs.Match(&errs.Error{Kind: errs.Timeout}, err) {
		t.Fatalf("first, outlasting its request: %v, want a timeout", err)
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = c.Check(ctx, req("alice", "users/alice/y.png"))
		cancel()
		if !errs.Match(&errs.Error{Kind: errs.Busy}, err) {
			t.Fatalf("another while the first copies: %v, want busy, retryable", err)
		}
	}
	if n := st.promotes.Load(); n != 1 {
		t.Fatalf("%d promotions started, want 1", n)
	}
	close(st.gate)
	deadline := time.Now().Add(10 * time.Second)
	for c.running.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the detached promotion did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.staging, st.final = staged(10), nil
	if _, err := c.Check(context.Background(), req("alice", "users/alice/y.png")); err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
}
