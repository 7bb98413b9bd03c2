package staging

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
)

// fakeUploads holds the staging blobs of uploads in progress, and counts
// the lookups.
type fakeUploads struct {
	busy    map[blobref.Ref]bool
	err     error
	lookups int
}

func (f *fakeUploads) InProgress(_ context.Context, ref blobref.Ref) (bool, error) {
	f.lookups++
	return f.busy[ref], f.err
}

func TestTarget(t *testing.T) {
	pattern, err := authz.CompilePattern("users/{user}/**")
	if err != nil {
		t.Fatal(err)
	}
	drop, err := authz.CompilePattern("**")
	if err != nil {
		t.Fatal(err)
	}
	policy := authz.NewPolicy([]*authz.Rule{
		{Name: "own", Users: []string{"*"}, Container: "uploads", Blobs: pattern, Methods: []authz.Method{authz.Put, authz.Delete}},
		{Name: "drop", Users: []string{"*"}, Container: "drop", Blobs: drop, Methods: []authz.Method{authz.Put}},
	})
	a := Area{Container: "incoming"}
	alice := authz.User{ID: "alice"}
	stagedRef := func(final blobref.Ref) blobref.Ref {
		r, err := a.Ref("alice", final)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	own := ref("uploads", "users/alice/x.jpg")
	cancelled := ref("drop", "y")
	long := ref("uploads", "users/alice/"+strings.Repeat("x", blobref.MaxNameLength-len("users/alice/")))
	uploads := &fakeUploads{busy: map[blobref.Ref]bool{stagedRef(cancelled): true}}

	tests := []struct {
		name    string
		method  authz.Method
		blob    blobref.Ref
		want    blobref.Ref
		allow   bool
		rule    string
		lookups int
	}{
		{"put goes to staging", authz.Put, own, stagedRef(own), true, "own", 0},
		{"delete of a final name", authz.Delete, own, own, true, "own", 1},
		{"delete of an upload in progress, under the PUT rule", authz.Delete, cancelled, stagedRef(cancelled), true, "drop", 1},
		{"delete of nothing in progress, no DELETE rights", authz.Delete, ref("drop", "z"), ref("drop", "z"), false, "", 1},
		{"delete without PUT rights: no lookup", authz.Delete, ref("uploads", "users/bob/x"), ref("uploads", "users/bob/x"), false, "", 0},
		{"delete of a name too long to stage: the final name, no lookup", authz.Delete, long, long, true, "own", 0},
		{"put denied", authz.Put, ref("uploads", "users/bob/x"), ref("uploads", "users/bob/x"), false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uploads.lookups = 0
			got, d, err := a.Target(context.Background(), policy, uploads, authz.Request{User: alice, Method: tt.method, Blob: tt.blob})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || d.Allow != tt.allow || (d.Allow && d.Rule.Name != tt.rule) || uploads.lookups != tt.lookups {
				t.Errorf("Target = %v, allow %v (%s), %d lookups; want %v, allow %v (%s), %d lookups", got, d.Allow, d.Reason, uploads.lookups, tt.want, tt.allow, tt.rule, tt.lookups)
			}
		})
	}

	var e *errs.Error
	if _, _, err := a.Target(context.Background(), policy, uploads, authz.Request{User: alice, Method: authz.Put, Blob: long}); !errors.As(err, &e) || e.Kind != errs.Invalid {
		t.Errorf("put of a name too long to stage: %v, want Invalid", err)
	}
	down := &fakeUploads{err: blobstore.ErrUnreachable}
	if _, _, err := a.Target(context.Background(), policy, down, authz.Request{User: alice, Method: authz.Delete, Blob: own}); !errors.As(err, &e) || e.Kind != errs.Unavailable || !errors.Is(err, blobstore.ErrUnreachable) {
		t.Errorf("storage down: %v, want Unavailable", err)
	}
}
