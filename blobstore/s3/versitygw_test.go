package s3_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
)

// fixture is a versitygw with the buckets "incoming" and "uploads", and a
// Store on it that lists two keys a page.
type fixture struct {
	t   *testing.T
	emu *s3emu.Server
	s   s3.Store
}

func start(t *testing.T) *fixture {
	t.Helper()
	emu := s3emutest.Start(t, "incoming", "uploads")
	c, err := s3.NewClient(s3.Config{
		Endpoint: emu.Endpoint(), Region: s3emu.Region, PathStyle: true,
		AccessKeyID: emu.AccessKey(), SecretAccessKey: emu.SecretKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, emu: emu, s: s3.Store{Client: c, PageSize: 2}}
}

func in(name string) blobref.Ref { return blobref.Ref{Container: "incoming", Name: blobref.Name(name)} }

func (f *fixture) put(ref blobref.Ref, body string, edit ...func(*s3sdk.PutObjectInput)) string {
	f.t.Helper()
	put := &s3sdk.PutObjectInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name)), Body: strings.NewReader(body)}
	for _, e := range edit {
		e(put)
	}
	out, err := f.emu.Client().PutObject(context.Background(), put)
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.ETag)
}

func (f *fixture) get(ref blobref.Ref) string {
	f.t.Helper()
	out, err := f.emu.Client().GetObject(context.Background(), &s3sdk.GetObjectInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name))})
	if err != nil {
		f.t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

// uploads returns the keys of the bucket's incomplete multipart uploads.
func (f *fixture) uploads(bucket string) []string {
	f.t.Helper()
	out, err := f.emu.Client().ListMultipartUploads(context.Background(), &s3sdk.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		f.t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

func (f *fixture) startUpload(ref blobref.Ref) {
	f.t.Helper()
	_, err := f.emu.Client().CreateMultipartUpload(context.Background(), &s3sdk.CreateMultipartUploadInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name))})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestHead(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if _, _, err := f.s.Head(ctx, in("none"), 10); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Head of nothing: %v, want ErrNotFound", err)
	}
	if _, err := f.s.Properties(ctx, blobref.Ref{Container: "nobucket", Name: "x"}); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Properties in no bucket: %v, want ErrNotFound", err)
	}
	etag := f.put(in("a"), "hello world", func(p *s3sdk.PutObjectInput) {
		p.ContentType = aws.String("text/plain")
		p.Metadata = map[string]string{"qqfilename": "a.txt"}
	})
	p, head, err := f.s.Head(ctx, in("a"), 5)
	if err != nil || string(head) != "hello" || p.Size != 11 || p.ETag != etag || p.ContentType != "text/plain" || p.BlobType != "BlockBlob" || p.Metadata["qqfilename"] != "a.txt" {
		t.Fatalf("Head = %+v, %q, %v", p, head, err)
	}
	if p, head, err := f.s.Head(ctx, in("a"), 100); err != nil || string(head) != "hello world" || p.Size != 11 {
		t.Errorf("Head past the end = %+v, %q, %v", p, head, err)
	}
	// A ranged read of an empty object is 416: Head asks HEAD instead.
	f.put(in("empty"), "")
	if p, head, err := f.s.Head(ctx, in("empty"), 5); err != nil || len(head) != 0 || p.Size != 0 || p.ETag == "" {
		t.Errorf("Head of an empty object = %+v, %q, %v", p, head, err)
	}
	// The bytes as stored: a gzip object is not inflated on the way.
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("<html>"))
	w.Close()
	f.put(in("gz"), gz.String(), func(p *s3sdk.PutObjectInput) { p.ContentEncoding = aws.String("gzip") })
	if p, head, err := f.s.Head(ctx, in("gz"), 2); err != nil || p.ContentEncoding != "gzip" || !bytes.Equal(head, gz.Bytes()[:2]) {
		t.Errorf("Head of a gzip object = %+v, %x, %v", p, head, err)
	}
}

func TestPromote(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	final := blobref.Ref{Container: "uploads", Name: "users/alice/x (1).txt"}
	etag := f.put(in("staging/a b.txt"), "hello world", func(p *s3sdk.PutObjectInput) {
		p.ContentType = aws.String("application/octet-stream")
		p.Metadata = map[string]string{"qqfilename": "evil.html"}
	})
	commit := blobstore.Commit{
		ContentType: "text/plain", ContentDisposition: `attachment; filename="x.txt"`,
		Metadata: map[string]string{"blobvalet_owner": "alice"}, CreateOnly: true,
	}

	// Changed: pinned to the checked ETag, nothing reaches the final name.
	if _, err := f.s.Promote(ctx, in("staging/a b.txt"), `"0123456789abcdef0123456789abcdef"`, 11, final, commit); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Promote of a changed source: %v, want ErrChanged", err)
	}
	if _, err := f.s.Properties(ctx, final); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("after a changed source the final name holds something: %v", err)
	}
	if _, err := f.s.Promote(ctx, in("gone"), etag, 11, final, commit); !errors.Is(err, blobstore.ErrNotFound) && !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Promote of no source: %v, want ErrNotFound or ErrChanged", err)
	}
	if up := f.uploads("uploads"); len(up) != 0 {
		t.Errorf("failed promotions left multipart uploads: %q", up)
	}

	// Promoted create-only, with the verified headers and metadata in
	// place of the source's.
	got, err := f.s.Promote(ctx, in("staging/a b.txt"), etag, 11, final, commit)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := f.s.Properties(ctx, final)
	if err != nil || fp.ETag != got || fp.Size != 11 || fp.ContentType != "text/plain" || fp.Metadata["blobvalet_owner"] != "alice" || fp.Metadata["qqfilename"] != "" {
		t.Errorf("promoted object: %+v, %v (Promote said ETag %s)", fp, err, got)
	}
	out, err := f.emu.Client().HeadObject(ctx, &s3sdk.HeadObjectInput{Bucket: aws.String("uploads"), Key: aws.String(string(final.Name))})
	if err != nil || aws.ToString(out.ContentDisposition) != commit.ContentDisposition {
		t.Errorf("disposition %q, %v", aws.ToString(out.ContentDisposition), err)
	}
	// The stamp travels as x-amz-meta-blobvalet-owner: no underscore for
	// a proxy to drop.
	if err == nil && (out.Metadata["blobvalet-owner"] != "alice" || len(out.Metadata) != 1) {
		t.Errorf("stored metadata %v, want only blobvalet-owner", out.Metadata)
	}
	if b := f.get(final); b != "hello world" {
		t.Errorf("promoted bytes %q", b)
	}

	// Taken: create-only onto an object leaves it as it was, and no upload
	// behind.
	other := f.put(in("other"), "other bytes")
	if _, err := f.s.Promote(ctx, in("other"), other, 11, final, commit); !errors.Is(err, blobstore.ErrTaken) {
		t.Errorf("create-only Promote onto an object: %v, want ErrTaken", err)
	}
	if b := f.get(final); b != "hello world" {
		t.Errorf("a refused promotion changed the final object to %q", b)
	}
	if up := f.uploads("uploads"); len(up) != 0 {
		t.Errorf("a refused promotion left multipart uploads: %q", up)
	}

	// Overwriting where the rule allows it: one CopyObject.
	commit.CreateOnly = false
	commit.Metadata = map[string]string{"blobvalet_owner": "bob"}
	if _, err := f.s.Promote(ctx, in("other"), other, 11, final, commit); err != nil {
		t.Fatalf("Promote that may overwrite: %v", err)
	}
	if fp, err := f.s.Properties(ctx, final); err != nil || fp.Metadata["blobvalet_owner"] != "bob" || f.get(final) != "other bytes" {
		t.Errorf("overwritten object: %+v, %v", fp, err)
	}
	if _, err := f.s.Promote(ctx, in("other"), etag, 11, final, commit); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("overwriting Promote of a changed source: %v, want ErrChanged", err)
	}

	// An empty upload is promoted too.
	empty := f.put(in("empty"), "")
	dst := blobref.Ref{Container: "uploads", Name: "empty"}
	if _, err := f.s.Promote(ctx, in("empty"), empty, 0, dst, blobstore.Commit{ContentType: "text/plain", CreateOnly: true}); err != nil {
		t.Errorf("Promote of an empty object: %v", err)
	} else if p, err := f.s.Properties(ctx, dst); err != nil || p.Size != 0 {
		t.Errorf("promoted empty object: %+v, %v", p, err)
	}
}

// TestCopyIfNoneMatchOnVersitygw: versitygw ignores If-None-Match on
// CopyObject, which is why the default promotion is a multipart copy. If
// this starts to pass with ErrTaken, versitygw has learnt it.
func TestCopyIfNoneMatchOnVersitygw(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	final := blobref.Ref{Container: "uploads", Name: "x"}
	f.put(final, "first")
	etag := f.put(in("a"), "second")
	f.s.CopyIfNoneMatch = true
	_, err := f.s.Promote(ctx, in("a"), etag, 6, final, blobstore.Commit{ContentType: "text/plain", CreateOnly: true})
	if err != nil || f.get(final) != "second" {
		t.Errorf("CopyObject with If-None-Match: %v, final holds %q; versitygw %s used to overwrite", err, f.get(final), s3emu.Version)
	}
}

func TestDelete(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	etag := f.put(in("a"), "hello")
	if err := f.s.Delete(ctx, in("a"), blobstore.Condition{ETag: `"0123456789abcdef0123456789abcdef"`}); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Delete on another ETag: %v, want ErrChanged", err)
	}
	if err := f.s.Delete(ctx, in("a"), blobstore.Condition{UnmodifiedSince: time.Now().Add(-time.Hour)}); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Delete of an object written since: %v, want ErrChanged", err)
	}
	if f.get(in("a")) != "hello" {
		t.Fatal("a refused Delete removed the object")
	}
	if err := f.s.Delete(ctx, in("a"), blobstore.Condition{ETag: etag, UnmodifiedSince: time.Now().Add(time.Minute)}); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if err := f.s.Delete(ctx, in("a"), blobstore.Condition{}); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Delete of nothing: %v, want ErrNotFound", err)
	}
	if err := f.s.Delete(ctx, in("a"), blobstore.Condition{ETag: etag}); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Delete of nothing on an ETag: %v, want ErrNotFound", err)
	}

	// An incomplete multipart upload is aborted when older than the
	// condition's time, kept when newer.
	f.startUpload(in("parts"))
	if err := f.s.Delete(ctx, in("parts"), blobstore.Condition{UnmodifiedSince: time.Now().Add(-time.Hour)}); !errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("Delete of a newer upload: %v, want ErrChanged", err)
	}
	if up := f.uploads("incoming"); !slices.Equal(up, []string{"parts"}) {
		t.Fatalf("uploads %q", up)
	}
	if err := f.s.Delete(ctx, in("parts"), blobstore.Condition{UnmodifiedSince: time.Now().Add(time.Minute)}); err != nil {
		t.Errorf("Delete of an upload: %v", err)
	}
	if up := f.uploads("incoming"); len(up) != 0 {
		t.Errorf("uploads left %q", up)
	}
}

func TestInProgressAndList(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		f.put(in(name), name)
	}
	f.startUpload(in("parts"))
	f.startUpload(in("parts/longer")) // a prefix match is not the key
	for name, want := range map[string]bool{"a": true, "parts": true, "part": false, "none": false} {
		if busy, err := f.s.InProgress(ctx, in(name)); busy != want || err != nil {
			t.Errorf("InProgress(%s) = %v, %v; want %v", name, busy, err, want)
		}
	}
	var listed []string
	if err := f.s.List(ctx, "incoming", func(it blobstore.Item) error {
		if it.LastModified.IsZero() {
			t.Errorf("%s without a time", it.Name)
		}
		listed = append(listed, string(it.Name))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Five objects two a page, then the uploads (two a page too).
	if strings.Join(listed, ",") != "a,b,c,d,e,parts,parts/longer" {
		t.Errorf("listed %q", listed)
	}
	stop := errors.New("stop")
	n := 0
	if err := f.s.List(ctx, "incoming", func(blobstore.Item) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("List whose fn fails: %v after %d", err, n)
	}
	if err := f.s.List(ctx, "nobucket", func(blobstore.Item) error { return nil }); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("List of no bucket: %v, want ErrNotFound", err)
	}
}

func TestLock(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	lock := in("sweeper.lock")
	release, lost, err := f.s.Lock(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.Lock(ctx, lock); !errors.Is(err, blobstore.ErrTaken) {
		t.Errorf("second Lock: %v, want ErrTaken", err)
	}
	// A holder that stopped renewing loses it once it has expired.
	later := f.s
	later.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	release2, lost2, err := later.Lock(ctx, lock)
	if err != nil {
		t.Fatalf("Lock over an expired one: %v", err)
	}
	if _, _, err := f.s.Lock(ctx, lock); !errors.Is(err, blobstore.ErrTaken) {
		t.Errorf("Lock while taken over: %v, want ErrTaken", err)
	}
	// The first holder's release does not remove the new holder's lock.
	release()
	if lost.Err() == nil {
		t.Error("lost does not end at release")
	}
	if _, _, err := f.s.Lock(ctx, lock); !errors.Is(err, blobstore.ErrTaken) {
		t.Errorf("Lock after the old holder's release: %v, want ErrTaken", err)
	}
	release2()
	if lost2.Err() == nil {
		t.Error("lost does not end at release")
	}
	release, _, err = f.s.Lock(ctx, lock)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	release()
}

// TestRefused: a wrong secret is ErrRefused, on every kind of call.
func TestRefused(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.put(in("a"), "hello")
	c, err := s3.NewClient(s3.Config{
		Endpoint: f.emu.Endpoint(), Region: s3emu.Region, PathStyle: true,
		AccessKeyID: f.emu.AccessKey(), SecretAccessKey: strings.Repeat("x", 40),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := s3.Store{Client: c}
	if _, _, err := s.Head(ctx, in("a"), 5); !errors.Is(err, blobstore.ErrRefused) {
		t.Errorf("Head: %v, want ErrRefused", err)
	}
	if _, err := s.Properties(ctx, in("a")); !errors.Is(err, blobstore.ErrRefused) {
		t.Errorf("Properties: %v, want ErrRefused", err)
	}
	if err := s.List(ctx, "incoming", func(blobstore.Item) error { return nil }); !errors.Is(err, blobstore.ErrRefused) {
		t.Errorf("List: %v, want ErrRefused", err)
	}
	if err := s.Delete(ctx, in("a"), blobstore.Condition{}); !errors.Is(err, blobstore.ErrRefused) {
		t.Errorf("Delete: %v, want ErrRefused", err)
	}
	if f.get(in("a")) != "hello" {
		t.Error("a refused Delete removed the object")
	}
}

// TestUnreachable: nothing listening is ErrUnreachable.
func TestUnreachable(t *testing.T) {
	f := start(t)
	addr := f.emu.Endpoint()
	f.emu.Stop()
	c, err := s3.NewClient(s3.Config{Endpoint: addr, Region: s3emu.Region, PathStyle: true, AccessKeyID: "a", SecretAccessKey: "b", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (s3.Store{Client: c}).Properties(context.Background(), in("a")); !errors.Is(err, blobstore.ErrUnreachable) {
		t.Errorf("Properties: %v, want ErrUnreachable", err)
	}
}

// TestDeleteAtListedTime: the sweeper deletes on the time List gave,
// which versitygw gives finer than HTTP dates' seconds; the object must
// not seem written since.
func TestDeleteAtListedTime(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.put(in("a"), "hello")
	var listed time.Time
	f.s.List(ctx, "incoming", func(it blobstore.Item) error { listed = it.LastModified; return nil })
	if listed.IsZero() {
		t.Fatal("nothing listed")
	}
	t.Logf("listed LastModified %s", listed.Format(time.RFC3339Nano))
	if err := f.s.Delete(ctx, in("a"), blobstore.Condition{UnmodifiedSince: listed}); err != nil {
		t.Errorf("Delete at the listed time: %v", err)
	}
	if _, err := f.s.Properties(ctx, in("a")); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("after Delete: %v, want ErrNotFound", err)
	}
}
