package success

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/errs"
)

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestViolation(t *testing.T) {
	c := authz.Constraints{MaxSize: 10 << 20, ContentTypes: []string{"image/*", "text/plain"}, Extensions: []string{".jpg", ".png", ".txt"}}
	tests := []struct {
		name     string
		blob     string
		p        Props
		head     []byte
		check    string // "" = passes
		contains string
	}{
		{"png", "a.png", Props{Size: 100, ContentType: "image/png"}, png, "", ""},
		{"text", "a.txt", Props{Size: 5, ContentType: "text/plain"}, []byte("hello"), "", ""},
		{"no declared type, sniffed ok", "a.png", Props{Size: 100}, png, "", ""},
		{"too large", "a.png", Props{Size: 12_400_000, ContentType: "image/png"}, png, "max_size", "file is 12.4 MB; the limit is 10 MiB"},
		{"wrong ending", "a.gif", Props{Size: 1, ContentType: "image/gif"}, []byte("GIF89a"), "extensions", "file name must end in .jpg, .png or .txt"},
		{"declared html", "a.jpg", Props{Size: 1, ContentType: "text/html"}, []byte("<html>"), "content_types", "file type text/html is not allowed"},
		{"html named jpg", "a.jpg", Props{Size: 20, ContentType: "image/jpeg"}, []byte("<!DOCTYPE html><script>alert(1)</script>"), "content_types", "file content is text/html, not an allowed type"},
		{"unknown binary, declared ok", "a.png", Props{Size: 3, ContentType: "image/x-new"}, []byte{0, 1, 2}, "", ""},
		{"unknown binary, nothing declared", "a.png", Props{Size: 3}, []byte{0, 1, 2}, "content_types", "file type is unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Violation(c, blobref.Name(tt.blob), tt.p, tt.head)
			switch {
			case tt.check == "" && v != nil:
				t.Fatalf("rejected: %+v", v)
			case tt.check != "" && (v == nil || v.Check != tt.check || !strings.Contains(v.Message, tt.contains)):
				t.Fatalf("got %+v, want %s %q", v, tt.check, tt.contains)
			}
		})
	}
	if v := Violation(authz.Constraints{}, "x", Props{Size: 1 << 40}, []byte("<html>")); v != nil {
		t.Errorf("no constraints but rejected: %+v", v)
	}
}

// fakeStore is a Store of function fields, for the decision logic.
type fakeStore struct {
	props   func() (Props, error)
	deleted int
	delErr  error
	setErr  error
	set     map[string]string
}

var errNotFound = errors.New("not found")
var errChanged = errors.New("changed")

func (f *fakeStore) Properties(context.Context, blobref.Ref) (Props, error) { return f.props() }
func (f *fakeStore) Head(context.Context, blobref.Ref, string, int64) ([]byte, error) {
	return png, nil
}
func (f *fakeStore) Delete(context.Context, blobref.Ref, string) error { f.deleted++; return f.delErr }
func (f *fakeStore) SetMetadata(_ context.Context, _ blobref.Ref, md map[string]string, _ string) (string, error) {
	f.set = md
	return "\"etag2\"", f.setErr
}
func (f *fakeStore) IsNotFound(err error) bool { return errors.Is(err, errNotFound) }
func (f *fakeStore) IsChanged(err error) bool  { return errors.Is(err, errChanged) }

func checker(t *testing.T, st Store, n *Notifier) *Checker {
	pat, _ := authz.CompilePattern("users/{user}/**")
	return &Checker{
		Store:    st,
		Policy:   authz.NewPolicy([]*authz.Rule{{Name: "own", Users: []string{"*"}, Container: "uploads", Blobs: pat, Methods: []authz.Method{authz.Put}, Constraints: authz.Constraints{MaxSize: 100}}}),
		Notifier: n,
		Now:      func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
}

func req(user, name string) Request {
	return Request{User: authz.User{ID: user}, Blob: blobref.Ref{Container: "uploads", Name: blobref.Name(name)}, UUID: "u-1", Name: "x.png"}
}

func TestCheckOutcomes(t *testing.T) {
	ok := func() (Props, error) {
		return Props{Size: 10, ContentType: "image/png", ETag: "\"e1\"", Metadata: map[string]string{"Qqfilename": "x.png", "Blobvalet_owner": "mallory"}}, nil
	}
	tests := []struct {
		name    string
		store   *fakeStore
		user    string
		kind    errs.Kind // -1 = success
		prevent bool
		reset   bool
		deletes int
	}{
		{"verified", &fakeStore{props: ok}, "alice", -1, false, false, 0},
		{"other user's folder", &fakeStore{props: ok}, "bob", errs.Forbidden, true, false, 0},
		{"missing", &fakeStore{props: func() (Props, error) { return Props{}, errNotFound }}, "alice", errs.NotFound, false, true, 0},
		{"storage down", &fakeStore{props: func() (Props, error) { return Props{}, errors.New("dial tcp: refused") }}, "alice", errs.Unavailable, false, false, 0},
		{"too large", &fakeStore{props: func() (Props, error) { return Props{Size: 1000, ContentType: "image/png", ETag: "e"}, nil }}, "alice", errs.Rejected, true, false, 1},
		{"replaced before delete", &fakeStore{props: func() (Props, error) { return Props{Size: 1000, ETag: "e"}, nil }, delErr: errChanged}, "alice", errs.Conflict, false, false, 1},
		{"replaced before stamp", &fakeStore{props: ok, setErr: errChanged}, "alice", errs.Conflict, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := checker(t, tt.store, nil).Check(context.Background(), req(tt.user, "users/alice/x.png"))
			if tt.kind == -1 {
				if err != nil {
					t.Fatal(err)
				}
				if res.ETag != "\"etag2\"" || tt.store.set["Qqfilename"] != "x.png" || tt.store.set[MetaOwner] != "alice" || tt.store.set[MetaVerifiedAt] != "2030-01-01T00:00:00Z" {
					t.Errorf("result %+v, metadata %v", res, tt.store.set)
				}
				if _, forged := tt.store.set["Blobvalet_owner"]; forged {
					t.Error("a stamp set by the uploader was kept")
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.PreventRetry != tt.prevent || e.Reset != tt.reset {
				t.Fatalf("error %#v, want kind %v preventRetry %v reset %v", err, tt.kind, tt.prevent, tt.reset)
			}
			if tt.store.deleted != tt.deletes {
				t.Errorf("%d deletes, want %d", tt.store.deleted, tt.deletes)
			}
		})
	}
}

func TestWebhookSignedAndRetryable(t *testing.T) {
	secret := []byte("webhook-secret-0123456789")
	var calls, fail atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if fail.Load() == 1 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	}))
	defer hook.Close()
	n := &Notifier{URL: hook.URL, Secret: secret, Timeout: time.Second, Now: time.Now}
	st := &fakeStore{props: func() (Props, error) { return Props{Size: 10, ContentType: "image/png", ETag: "e"}, nil }}
	fail.Store(1)
	_, err := checker(t, st, n).Check(context.Background(), req("alice", "users/alice/x.png"))
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.BadGateway || e.PreventRetry {
		t.Fatalf("receiver failing: %v, want a retryable 502", err)
	}
	fail.Store(0)
	if _, err := checker(t, st, n).Check(context.Background(), req("alice", "users/alice/x.png")); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d deliveries, want 2", calls.Load())
	}
}

func TestSignVerify(t *testing.T) {
	secret := []byte("s3cret-s3cret-s3cret")
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"blob":"x"}`)
	h := Sign(secret, now, body)
	if !strings.HasPrefix(h, "t=1900000000,v1=") {
		t.Fatalf("header %q", h)
	}
	if err := Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other body":   Verify(secret, h, []byte(`{"blob":"y"}`), now, time.Minute),
		"other secret": Verify([]byte("other"), h, body, now, time.Minute),
		"too old":      Verify(secret, h, body, now.Add(time.Hour), 5*time.Minute),
		"malformed":    Verify(secret, "v1=abc", body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s verified", name)
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	got := ExpandTemplate("https://cdn.example.com/{container}/{blob}", blobref.Ref{Container: "uploads", Name: "users/a/b c#.png"})
	if got != "https://cdn.example.com/uploads/users/a/b%20c%23.png" {
		t.Errorf("got %q", got)
	}
}

// FuzzVerify feeds arbitrary signature headers to the receiver-side check:
// it must never panic, and it accepts only a header that carries the true
// HMAC of the body.
func FuzzVerify(f *testing.F) {
	secret := []byte("s3cret-s3cret-s3cret")
	now := time.Unix(1_900_000_000, 0)
	body := []byte("{}")
	f.Add(Sign(secret, now, body))
	f.Add("t=,v1=")
	f.Add("t=1900000000,v1=zz,v1=00")
	f.Fuzz(func(t *testing.T, header string) {
		if Verify(secret, header, body, now, time.Minute) != nil {
			return
		}
		ok := false
		for _, part := range strings.Split(header, ",") {
			if ts, found := strings.CutPrefix(part, "t="); found {
				ok = strings.Contains(header, "v1="+mac(secret, ts, body))
			}
		}
		if !ok {
			t.Fatalf("accepted %q", header)
		}
	})
}
