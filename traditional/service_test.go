package traditional

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/success"
)

// fakeStore keeps blobs in memory, as far as the endpoint sees them.
type fakeStore struct {
	staged    map[blobref.Ref]*blobstore.BlockList
	commits   []blobstore.Commit
	finals    []blobstore.Found
	deleted   []string
	stageErr  error
	stageRead []int64 // bytes read of each StageBlock's body
}

func newFakeStore() *fakeStore { return &fakeStore{staged: map[blobref.Ref]*blobstore.BlockList{}} }

func (f *fakeStore) StageBlock(_ context.Context, ref blobref.Ref, id string, body io.ReadSeekCloser) error {
	n, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	body.Seek(0, io.SeekStart)
	data, err := io.ReadAll(body)
	f.stageRead = append(f.stageRead, int64(len(data)))
	if err != nil {
		return err
	}
	if f.stageErr != nil {
		return f.stageErr
	}
	if int64(len(data)) != n {
		return errors.New("length differs")
	}
	bl := f.staged[ref]
	if bl == nil {
		bl = &blobstore.BlockList{}
		f.staged[ref] = bl
	}
	bl.Uncommitted = slices.DeleteFunc(bl.Uncommitted, func(b blobstore.Block) bool { return b.ID == id })
	bl.Uncommitted = append(bl.Uncommitted, blobstore.Block{ID: id, Size: n})
	return nil
}

func (f *fakeStore) Blocks(_ context.Context, ref blobref.Ref) (blobstore.BlockList, error) {
	bl := f.staged[ref]
	if bl == nil {
		return blobstore.BlockList{}, blobstore.ErrNotFound
	}
	return *bl, nil
}

func (f *fakeStore) CommitBlocks(_ context.Context, ref blobref.Ref, ids []string, c blobstore.Commit) error {
	bl := f.staged[ref]
	if bl == nil && len(ids) > 0 {
		return blobstore.ErrNotFound
	}
	if bl == nil {
		bl = &blobstore.BlockList{}
		f.staged[ref] = bl
	}
	var committed []blobstore.Block
	for _, id := range ids {
		i := slices.IndexFunc(bl.Uncommitted, func(b blobstore.Block) bool { return b.ID == id })
		if i < 0 {
			return errors.New("no such block")
		}
		committed = append(committed, bl.Uncommitted[i])
	}
	*bl = blobstore.BlockList{Committed: committed}
	f.commits = append(f.commits, c)
	return nil
}

func (f *fakeStore) Find(_ context.Context, _, prefix string) ([]blobstore.Found, error) {
	var out []blobstore.Found
	for _, b := range f.finals {
		if strings.HasPrefix(string(b.Name), prefix) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakeStore) Delete(_ context.Context, ref blobref.Ref, etag string) error {
	f.deleted = append(f.deleted, string(ref.Name)+"@"+etag)
	delete(f.staged, ref)
	return nil
}

// fakeStager is staging.Area's naming.
type fakeStager struct{}

func (fakeStager) Ref(user string, final blobref.Ref) (blobref.Ref, error) {
	return blobref.Ref{Container: "incoming", Name: blobref.Name(user + "/" + final.Container + "/" + string(final.Name))}, nil
}

// fakeChecker records the checks.
type fakeChecker struct {
	reqs []success.Request
	err  error
}

func (c *fakeChecker) Check(_ context.Context, req success.Request) (success.Result, error) {
	c.reqs = append(c.reqs, req)
	return success.Result{Blob: string(req.Blob.Name)}, c.err
}

func testService(t *testing.T) (*Service, *fakeStore, *fakeChecker) {
	t.Helper()
	own, err := authz.CompilePattern("users/{user}/**")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParseTemplate(DefaultNameTemplate)
	if err != nil {
		t.Fatal(err)
	}
	store, checker := newFakeStore(), &fakeChecker{}
	return &Service{
		Store: store, Staging: fakeStager{}, Checker: checker, Container: "uploads", Name: tmpl, MaxChunk: 1 << 20,
		Policy: authz.NewPolicy([]*authz.Rule{{Name: "own", Users: []string{"*"}, Container: "uploads", Blobs: own,
			Methods:     []authz.Method{authz.Put, authz.Delete},
			Constraints: authz.Constraints{MaxSize: 1000, Extensions: []string{".txt", ".png"}}}}),
		Slots: NewSlots(2, 1),
	}, store, checker
}

var alice, bob = authz.User{ID: "alice"}, authz.User{ID: "bob"}

func mustUUID(t *testing.T, s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func chunk(u UUID, i, total int, size, fileSize int64) Part {
	return Part{UUID: u, FileName: "a.txt", Chunked: true, Index: i, Total: total, Size: size, FileSize: fileSize}
}

func TestCompleteChecksEveryPart(t *testing.T) {
	s, store, checker := testService(t)
	u := mustUUID(t, testUUID)
	ctx := context.Background()
	for _, i := range []int{2, 0} {
		size := int64(4)
		if i == 2 {
			size = 2
		}
		if _, err := s.Upload(ctx, alice, chunk(u, i, 3, size, 10), strings.NewReader("abcd"[:size])); err != nil {
			t.Fatal(err)
		}
	}
	d := Done{UUID: u, FileName: "a.txt", Total: 3, FileSize: 10}
	_, err := s.Complete(ctx, alice, d)
	var e *errs.Error
	if !errors.As(err, &e) || !e.Reset || !strings.Contains(e.Msg, "part 1 is missing") {
		t.Fatalf("done with part 1 missing: %v", err)
	}
	if len(store.commits) != 0 || len(checker.reqs) != 0 {
		t.Fatal("committed or checked an incomplete upload")
	}
	if _, err := s.Upload(ctx, alice, chunk(u, 1, 3, 4, 10), strings.NewReader("efgh")); err != nil {
		t.Fatal(err)
	}
	// A size that does not add up: reset.
	if _, err := s.Complete(ctx, alice, Done{UUID: u, FileName: "a.txt", Total: 3, FileSize: 11}); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("wrong total size: %v", err)
	}
	if _, err := s.Complete(ctx, alice, d); err != nil {
		t.Fatal(err)
	}
	stg, _ := fakeStager{}.Ref("alice", blobref.Ref{Container: "uploads", Name: blobref.Name("users/alice/" + testUUID + ".txt")})
	bl := store.staged[stg]
	if len(bl.Committed) != 3 || bl.Committed[0].ID != BlockID(u, 0) || bl.Committed[2].ID != BlockID(u, 2) {
		t.Fatalf("committed %+v", bl.Committed)
	}
	c := store.commits[0]
	if !strings.HasPrefix(c.ContentType, "text/plain") || c.Metadata["qquuid"] != testUUID || c.Metadata["qqfilename"] != "a.txt" {
		t.Fatalf("commit %+v", c)
	}
	if len(checker.reqs) != 1 || string(checker.reqs[0].Blob.Name) != "users/alice/"+testUUID+".txt" || checker.reqs[0].UUID != testUUID {
		t.Fatalf("checks %+v", checker.reqs)
	}
	// A repeat of done before the check removed staging: no second commit.
	if _, err := s.Complete(ctx, alice, d); err != nil || len(store.commits) != 1 || len(checker.reqs) != 2 {
		t.Fatalf("repeat: %v, %d commits, %d checks", err, len(store.commits), len(checker.reqs))
	}
	// Staging gone (promoted): straight to the check, which answers from the stamp.
	delete(store.staged, stg)
	if _, err := s.Complete(ctx, alice, d); err != nil || len(checker.reqs) != 3 {
		t.Fatalf("after promotion: %v", err)
	}
}

func TestUploadRefusesBeforeStoring(t *testing.T) {
	u := mustUUID(t, testUUID)
	hookErr := errs.E("test", errs.Unavailable, "failed once")
	for _, tc := range []struct {
		name string
		user authz.User
		p    Part
		hook error
		kind errs.Kind
	}{
		{"over max_size", alice, chunk(u, 0, 2, 600, 1200), nil, errs.TooLarge},
		{"extension not allowed", alice, Part{UUID: u, FileName: "a.exe", Index: 0, Total: 1, Size: 4, FileSize: 4}, nil, errs.Rejected},
		{"hook fails", alice, chunk(u, 0, 2, 4, 8), hookErr, errs.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, _ := testService(t)
			if tc.hook != nil {
				s.Hook = func(context.Context, Part) error { return tc.hook }
			}
			_, err := s.Upload(context.Background(), tc.user, tc.p, strings.NewReader("abcd"))
			if errs.KindOf(err) != tc.kind {
				t.Fatalf("err %v (%v), want %v", err, errs.KindOf(err), tc.kind)
			}
			if len(store.stageRead) != 0 {
				t.Fatal("a block was stored")
			}
		})
	}
	// A rule that denies the name.
	s, store, _ := testService(t)
	s.Name, _ = ParseTemplate("shared/{uuid}{ext}")
	if _, err := s.Upload(context.Background(), alice, chunk(u, 0, 2, 4, 8), strings.NewReader("abcd")); errs.KindOf(err) != errs.Forbidden {
		t.Fatalf("denied name: %v", err)
	}
	if len(store.stageRead) != 0 {
		t.Fatal("a block was stored")
	}
}

func TestUploadBadBodies(t *testing.T) {
	u := mustUUID(t, testUUID)
	s, store, _ := testService(t)
	if _, err := s.Upload(context.Background(), alice, chunk(u, 0, 2, 4, 8), strings.NewReader("abcde")); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("long body: %v", err)
	}
	if _, err := s.Upload(context.Background(), alice, chunk(u, 0, 2, 4, 8), strings.NewReader("abc")); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("short body: %v", err)
	}
	if len(store.staged) != 0 {
		t.Fatal("a bad body became a block")
	}
	// Foreign blocks in the way: staging removed, the client starts over.
	store.stageErr = blobstore.ErrBlockIDLength
	_, err := s.Upload(context.Background(), alice, chunk(u, 0, 2, 4, 8), strings.NewReader("abcd"))
	var e *errs.Error
	if !errors.As(err, &e) || !e.Reset || len(store.deleted) != 1 {
		t.Fatalf("foreign blocks: %v, deleted %v", err, store.deleted)
	}
}

func TestWholeFile(t *testing.T) {
	u := mustUUID(t, testUUID)
	s, store, checker := testService(t)
	res, err := s.Upload(context.Background(), alice, Part{UUID: u, FileName: "A.PNG", Total: 1, Size: 4, FileSize: 4, ContentType: "image/png"}, strings.NewReader("\x89PNG"))
	if err != nil || res == nil || res.Blob != "users/alice/"+testUUID+".png" {
		t.Fatalf("%+v %v", res, err)
	}
	if store.commits[0].ContentType != "image/png" || len(checker.reqs) != 1 {
		t.Fatalf("commits %+v", store.commits)
	}
	// An empty file: no block, an empty commit.
	v := mustUUID(t, "5b3f0976-b4fe-4101-9386-8b3d46352a48")
	if _, err := s.Upload(context.Background(), alice, Part{UUID: v, FileName: "e.txt", Total: 1}, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if len(store.stageRead) != 1 || len(store.commits) != 2 {
		t.Fatalf("empty file: %d blocks, %d commits", len(store.stageRead), len(store.commits))
	}
}

func TestDelete(t *testing.T) {
	u := mustUUID(t, testUUID)
	s, store, _ := testService(t)
	name := blobref.Name("users/alice/" + testUUID + ".txt")
	store.finals = []blobstore.Found{
		{Name: "users/alice/" + testUUID + "-other.txt", ETag: "e0", Metadata: map[string]string{"Qquuid": "5b3f0976-b4fe-4101-9386-8b3d46352a48", "Blobvalet_owner": "alice"}},
		{Name: name, ETag: "e1", Metadata: map[string]string{"Qquuid": testUUID, "Blobvalet_owner": "alice"}},
	}
	if err := s.Delete(context.Background(), bob, u, nil); errs.KindOf(err) != errs.NotFound || len(store.deleted) != 0 {
		t.Fatalf("bob: %v, deleted %v", err, store.deleted)
	}
	if err := s.Delete(context.Background(), alice, u, nil); err != nil || !slices.Equal(store.deleted, []string{string(name) + "@e1"}) {
		t.Fatalf("alice: %v, deleted %v", err, store.deleted)
	}
	// Someone else's file at alice's name (a stamp that is not hers).
	store.deleted = nil
	store.finals[1].Metadata["Blobvalet_owner"] = "mallory"
	if err := s.Delete(context.Background(), alice, u, nil); errs.KindOf(err) != errs.NotFound || len(store.deleted) != 0 {
		t.Fatalf("not hers: %v", err)
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(2, 1)
	r1, err := s.Take("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take("alice"); errs.KindOf(err) != errs.TooManyRequests {
		t.Fatalf("alice's second: %v", err)
	}
	r2, _ := s.Take("bob")
	if _, err := s.Take("carol"); errs.KindOf(err) != errs.Busy {
		t.Fatalf("full: %v", err)
	}
	r1()
	r1() // releasing twice frees one slot
	r2()
	if _, err := s.Take("alice"); err != nil {
		t.Fatal(err)
	}
}

func TestTemplate(t *testing.T) {
	for _, bad := range []string{"users/{user}/x", "{uuid}/{user}", "a/{uuid}{uuid}", "a/{name}{uuid}", "a/{uuid", "/{uuid}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) passed", bad)
		}
	}
	tm, _ := ParseTemplate("in/{user}/{uuid}{ext}")
	u := mustUUID(t, testUUID)
	for file, want := range map[string]string{"A.JPG": ".jpg", "noext": "", "x.tar.gz": ".gz", "bad.ex t": "", "x.verylongextension1": ""} {
		n, err := tm.Name("al", u, file)
		if err != nil || string(n) != "in/al/"+testUUID+want {
			t.Errorf("%s: %q %v", file, n, err)
		}
	}
	if p := tm.Prefix("al", u); p != "in/al/"+testUUID {
		t.Errorf("prefix %q", p)
	}
}
