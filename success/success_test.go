package success

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/webhook"
)

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestVerify(t *testing.T) {
	c := authz.Constraints{MaxSize: 10 << 20, ContentTypes: []string{"image/*", "text/plain"}, Extensions: []string{".jpg", ".png", ".txt", ".svg"}}
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>`)
	tests := []struct {
		name        string
		blob        string
		p           blobstore.Props
		head        []byte
		check       string // "" = passes
		contains    string
		stored      string
		disposition string
	}{
		{"png", "a.png", blobstore.Props{Size: 100, ContentType: "image/png"}, png, "", "", "image/png", "inline"},
		{"text", "a.txt", blobstore.Props{Size: 5, ContentType: "text/plain"}, []byte("hello"), "", "", "text/plain; charset=utf-8", "inline"},
		{"no declared type, sniffed ok", "a.png", blobstore.Props{Size: 100}, png, "", "", "image/png", "inline"},
		{"declared jpeg, content png: stored as png", "a.jpg", blobstore.Props{Size: 100, ContentType: "image/jpeg"}, png, "", "", "image/png", "inline"},
		{"too large", "a.png", blobstore.Props{Size: 12_400_000, ContentType: "image/png"}, png, "max_size", "file is 12.4 MB; the limit is 10 MiB", "", ""},
		{"wrong ending", "a.gif", blobstore.Props{Size: 1, ContentType: "image/gif"}, []byte("GIF89a"), "extensions", "file name must end in .jpg, .png, .txt or .svg", "", ""},
		{"declared html", "a.jpg", blobstore.Props{Size: 1, ContentType: "text/html"}, []byte("<html>"), "content_types", "file type text/html is not allowed", "", ""},
		{"html named jpg", "a.jpg", blobstore.Props{Size: 20, ContentType: "image/jpeg"}, []byte("<!DOCTYPE html><script>alert(1)</script>"), "content_types", "file content is text/html, not an allowed type", "", ""},
		{"html after a BOM", "a.jpg", blobstore.Props{Size: 20, ContentType: "image/jpeg"}, append([]byte("\xEF\xBB\xBF"), "<html><script>alert(1)</script>"...), "content_types", "file content is text/html", "", ""},
		{"html after a line of text", "a.jpg", blobstore.Props{Size: 20, ContentType: "image/jpeg"}, []byte("hello there\n<script>alert(1)</script>"), "content_types", "file content is text/html", "", ""},
		{"html in UTF-16", "a.txt", blobstore.Props{Size: 20, ContentType: "text/plain"}, utf16("<img src=x onerror=alert(1)>"), "content_types", "file content is text/html", "", ""},
		{"svg under image/*", "a.svg", blobstore.Props{Size: 20, ContentType: "image/svg+xml"}, svg, "content_types", "file type image/svg+xml is not allowed", "", ""},
		{"svg declared png", "a.png", blobstore.Props{Size: 20, ContentType: "image/png"}, svg, "content_types", "file content is image/svg+xml", "", ""},
		{"svg after an xml declaration", "a.txt", blobstore.Props{Size: 20}, append([]byte(`<?xml version="1.0"?>`), svg...), "content_types", "file content is image/svg+xml", "", ""},
		{"deflate encoded", "a.png", blobstore.Props{Size: 20, ContentType: "image/svg+xml", ContentEncoding: "deflate"}, []byte{0x78, 0x9c, 1, 2}, "content_encoding", `has "deflate"`, "", ""},
		{"text with a less-than sign", "a.txt", blobstore.Props{Size: 20, ContentType: "text/plain"}, []byte("if a<b and b>c then"), "", "", "text/plain; charset=utf-8", "inline"},
		{"unknown binary, declared ok", "a.png", blobstore.Props{Size: 3, ContentType: "image/x-new"}, []byte{0, 1, 2}, "", "", "image/x-new", "attachment"},
		{"unknown binary, declared png", "a.png", blobstore.Props{Size: 3, ContentType: "image/png"}, []byte{0, 1, 2}, "content_types", "file type is unknown", "", ""},
		{"unknown binary, nothing declared", "a.png", blobstore.Props{Size: 3}, []byte{0, 1, 2}, "content_types", "file type is unknown", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, v := Verify(c, blobref.Name(tt.blob), tt.p, tt.head)
			switch {
			case tt.check == "" && v != nil:
				t.Fatalf("rejected: %+v", v)
			case tt.check != "" && (v == nil || v.Check != tt.check || !strings.Contains(v.Message, tt.contains)):
				t.Fatalf("got %+v, want %s %q", v, tt.check, tt.contains)
			case tt.check == "" && (got.ContentType != tt.stored || got.Disposition != tt.disposition):
				t.Fatalf("stored as %+v, want %s, %s", got, tt.stored, tt.disposition)
			}
		})
	}
	// No constraints: anything passes, but what a browser would run is
	// never shown inline.
	got, v := Verify(authz.Constraints{}, "x", blobstore.Props{Size: 1 << 40}, svg)
	if v != nil || got.ContentType != "image/svg+xml" || got.Disposition != "attachment" {
		t.Errorf("no constraints: %+v %+v", got, v)
	}
	if _, v := Verify(authz.Constraints{}, "x", blobstore.Props{ContentEncoding: "gzip"}, png); v == nil || v.Check != "content_encoding" {
		t.Errorf("no constraints, gzip: %+v", v)
	}
	if _, v := Verify(authz.Constraints{ContentTypes: []string{"image/svg+xml"}}, "x.svg", blobstore.Props{ContentType: "image/svg+xml"}, svg); v != nil {
		t.Errorf("svg named exactly: %+v", v)
	}
}

func utf16(s string) []byte {
	b := []byte{0xFF, 0xFE}
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

// FuzzSniff: no panic, and markup after any prefix of text is found.
func FuzzSniff(f *testing.F) {
	f.Add([]byte("hello"), []byte("<script>"))
	f.Add([]byte("\xEF\xBB\xBF"), []byte("<svg>"))
	f.Fuzz(func(t *testing.T, prefix, rest []byte) {
		Sniff(append(prefix, rest...))
		text := strings.Map(func(r rune) rune {
			if r < 0x20 || r >= 0x7f || r == '<' {
				return 'x'
			}
			return r
		}, string(prefix))
		if len(text) > 400 {
			text = text[:400]
		}
		if got := Sniff([]byte(text + " <script>")); got != "text/html" {
			t.Fatalf("Sniff(%q) = %s", text+" <script>", got)
		}
	})
}

// fakeStore is a Store of plain fields, for the decision logic.
type fakeStore struct {
	staging  *blobstore.Props // nil: no staging blob
	final    *blobstore.Props // nil: no final blob
	headErr  error
	promErr  error
	delErr   error
	deleted  []string
	promoted *blobstore.Commit
}

func (f *fakeStore) find(ref blobref.Ref) (*blobstore.Props, error) {
	p := f.final
	if ref.Container == "incoming" {
		p = f.staging
	}
	if p == nil {
		return nil, blobstore.ErrNotFound
	}
	return p, nil
}

func (f *fakeStore) Head(_ context.Context, ref blobref.Ref, _ int64) (blobstore.Props, []byte, error) {
	if f.headErr != nil {
		return blobstore.Props{}, nil, f.headErr
	}
	p, err := f.find(ref)
	if err != nil {
		return blobstore.Props{}, nil, err
	}
	return *p, png, nil
}

func (f *fakeStore) Properties(_ context.Context, ref blobref.Ref) (blobstore.Props, error) {
	p, err := f.find(ref)
	if err != nil {
		return blobstore.Props{}, err
	}
	return *p, nil
}

func (f *fakeStore) Promote(_ context.Context, src blobref.Ref, etag string, size int64, dst blobref.Ref, c blobstore.Commit) (string, error) {
	if f.promErr != nil {
		return "", f.promErr
	}
	if c.CreateOnly && f.final != nil {
		return "", blobstore.ErrTaken
	}
	f.promoted = &c
	f.final = &blobstore.Props{Size: size, ContentType: c.ContentType, ETag: "\"final\"", Metadata: c.Metadata}
	return "\"final\"", nil
}

func (f *fakeStore) Delete(_ context.Context, ref blobref.Ref, _ blobstore.Condition) error {
	f.deleted = append(f.deleted, ref.String())
	if f.delErr != nil {
		return f.delErr
	}
	if ref.Container == "incoming" {
		f.staging = nil
	} else {
		f.final = nil
	}
	return nil
}

// fakeOutbox records the events it stores, or fails with err.
type fakeOutbox struct {
	mu     sync.Mutex
	err    error
	stored []events.Event
}

func (o *fakeOutbox) Enqueue(_ context.Context, ev events.Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.stored = append(o.stored, ev)
	return nil
}

func checker(st Store, o Outbox) *Checker {
	pat, _ := authz.CompilePattern("users/{user}/**")
	drop, _ := authz.CompilePattern("drop/**")
	return &Checker{
		Store: st,
		Policy: authz.NewPolicy([]*authz.Rule{
			{Name: "own", Users: []string{"*"}, Container: "uploads", Blobs: pat, Methods: []authz.Method{authz.Put}, Constraints: authz.Constraints{MaxSize: 100}},
			{Name: "drop", Users: []string{"*"}, Container: "uploads", Blobs: drop, Methods: []authz.Method{authz.Put}},
		}),
		Staging:       staging.Area{Container: "incoming"},
		Outbox:        o,
		GlobalWebhook: o != nil,
		Now:           func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
}

func req(user, name string) Request {
	return Request{User: authz.User{ID: user}, Blob: blobref.Ref{Container: "uploads", Name: blobref.Name(name)}, UUID: "u-1", Name: "x.png"}
}

func staged(size int64) *blobstore.Props {
	return &blobstore.Props{Size: size, ContentType: "image/png", ETag: "\"e1\"", BlobType: BlockBlob, Metadata: map[string]string{"Qqfilename": "x.png", "Blobvalet_owner": "mallory", "Album": "summer"}}
}

func stamped(owner string) *blobstore.Props {
	return &blobstore.Props{Size: 10, ContentType: "image/png", ETag: "\"f0\"", Metadata: map[string]string{"Blobvalet_owner": owner, "Blobvalet_event": "evt_1", "Blobvalet_verified_at": "2029-01-01T00:00:00Z"}}
}

func TestCheckOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		store   *fakeStore
		user    string
		blob    string
		kind    errs.Kind // -1 = success
		prevent bool
		reset   bool
		deletes int
	}{
		{"verified", &fakeStore{staging: staged(10)}, "alice", "users/alice/x.png", -1, false, false, 1},
		{"other user's folder", &fakeStore{staging: staged(10)}, "bob", "users/alice/x.png", errs.Forbidden, true, false, 0},
		{"nothing staged, nothing final", &fakeStore{}, "alice", "users/alice/x.png", errs.NotFound, false, true, 0},
		{"repeat", &fakeStore{final: stamped("alice")}, "alice", "users/alice/x.png", -1, false, false, 0},
		{"someone else's final blob", &fakeStore{final: stamped("alice")}, "bob", "drop/report.pdf", errs.Forbidden, true, false, 0},
		{"an unstamped final blob", &fakeStore{final: &blobstore.Props{Size: 1}}, "bob", "drop/report.pdf", errs.Forbidden, true, false, 0},
		{"storage down", &fakeStore{headErr: errors.New("dial tcp: refused")}, "alice", "users/alice/x.png", errs.Unavailable, false, false, 0},
		{"too large", &fakeStore{staging: staged(1000)}, "alice", "users/alice/x.png", errs.Rejected, true, false, 1},
		{"replaced before delete", &fakeStore{staging: staged(1000), delErr: blobstore.ErrChanged}, "alice", "users/alice/x.png", errs.Conflict, false, false, 1},
		{"replaced before promotion", &fakeStore{staging: staged(10), promErr: blobstore.ErrChanged}, "alice", "users/alice/x.png", errs.Conflict, false, false, 0},
		{"name taken", &fakeStore{staging: staged(10), final: stamped("bob")}, "alice", "users/alice/x.png", errs.Exists, true, false, 1},
		{"promotion failed", &fakeStore{staging: staged(10), promErr: errors.New("timeout")}, "alice", "users/alice/x.png", errs.Unavailable, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			finalBefore := tt.store.final
			res, err := checker(tt.store, nil).Check(context.Background(), req(tt.user, tt.blob))
			if len(tt.store.deleted) != tt.deletes {
				t.Errorf("deleted %v, want %d deletes", tt.store.deleted, tt.deletes)
			}
			for _, d := range tt.store.deleted {
				if !strings.HasPrefix(d, "incoming/") {
					t.Errorf("deleted %s, outside staging", d)
				}
			}
			if tt.kind == -1 {
				if err != nil {
					t.Fatal(err)
				}
				if res.EventID == "" || res.ETag == "" {
					t.Errorf("result %+v", res)
				}
				return
			}
			if !errs.Match(&errs.Error{Kind: tt.kind, PreventRetry: tt.prevent, Reset: tt.reset}, err) {
				t.Fatalf("error %#v, want kind %v preventRetry %v reset %v", err, tt.kind, tt.prevent, tt.reset)
			}
			if tt.store.final != finalBefore {
				t.Errorf("final blob changed by a refused request")
			}
		})
	}
}

func TestPromotionStampsAndKeepsMetadata(t *testing.T) {
	st := &fakeStore{staging: staged(10)}
	res, err := checker(st, nil).Check(context.Background(), req("alice", "users/alice/x.png"))
	if err != nil {
		t.Fatal(err)
	}
	c := st.promoted
	if c == nil || !c.CreateOnly || c.ContentType != "image/png" || c.ContentDisposition != "inline" {
		t.Fatalf("commit %+v", c)
	}
	want := map[string]string{"qqfilename": "x.png", "album": "summer", MetaOwner: "alice", MetaVerifiedAt: "2030-01-01T00:00:00Z", MetaEvent: res.EventID}
	if len(c.Metadata) != len(want) {
		t.Errorf("metadata %v, want %v", c.Metadata, want)
	}
	for k, v := range want {
		if c.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, c.Metadata[k], v)
		}
	}
	// The same request again: the same answer and event id.
	again, err := checker(st, nil).Check(context.Background(), req("alice", "users/alice/x.png"))
	if err != nil || !again.Repeat || again.EventID != res.EventID || again.ETag != res.ETag || again.Size != res.Size {
		t.Fatalf("repeat: %+v %v, first %+v", again, err, res)
	}
}

func TestEventID(t *testing.T) {
	a := EventID(blobref.Ref{Container: "uploads", Name: "a/b"}, `"e1"`)
	for _, other := range []string{
		EventID(blobref.Ref{Container: "uploads", Name: "a/b"}, `"e2"`),
		EventID(blobref.Ref{Container: "uploadsa", Name: "/b"}, `"e1"`),
		EventID(blobref.Ref{Container: "uploads", Name: "a/b\x00"}, `"e1"`),
	} {
		if other == a {
			t.Errorf("two uploads share event id %s", a)
		}
	}
	if a != EventID(blobref.Ref{Container: "uploads", Name: "a/b"}, `"e1"`) || !strings.HasPrefix(a, "evt_") {
		t.Errorf("event id %s", a)
	}
}

// TestEventStoredBeforeSuccess: a verified upload is reported only once its
// event is stored; a failure to store it is retryable, and the retry and
// every repeat store the same event id.
func TestEventStoredBeforeSuccess(t *testing.T) {
	o := &fakeOutbox{err: errors.New("queue unreachable")}
	st := &fakeStore{staging: staged(10)}
	_, err := checker(st, o).Check(context.Background(), req("alice", "users/alice/x.png"))
	if !errs.Match(&errs.Error{Kind: errs.Unavailable, Msg: "the application could not be told yet; retrying will tell it"}, err) {
		t.Fatalf("queue failing: %v, want a retryable 503", err)
	}
	o.err = nil
	res, err := checker(st, o).Check(context.Background(), req("alice", "users/alice/x.png"))
	if err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	again, err := checker(st, o).Check(context.Background(), req("alice", "users/alice/x.png"))
	if err != nil || !again.Repeat {
		t.Fatalf("repeat: %+v, %v", again, err)
	}
	if len(o.stored) != 2 || o.stored[0].ID != res.EventID || o.stored[1].ID != res.EventID || o.stored[0].Target != "" {
		t.Fatalf("stored %+v, want the event %s twice for the global webhook", o.stored, res.EventID)
	}
	var ev webhook.Payload
	if err := json.Unmarshal(o.stored[0].Body, &ev); err != nil || ev.ID != res.EventID || ev.User != "alice" || ev.Blob != "users/alice/x.png" || ev.Size != 10 {
		t.Fatalf("event body %s: %v", o.stored[0].Body, err)
	}
	o.err = fmt.Errorf("wrapped: %w", events.ErrTooLarge)
	_, err = checker(st, o).Check(context.Background(), req("alice", "users/alice/x.png"))
	if !errs.Match(&errs.Error{Kind: errs.TooLarge, PreventRetry: true}, err) {
		t.Fatalf("event too large: %v, want 413 with preventRetry", err)
	}
}

func TestExpandTemplate(t *testing.T) {
	got := ExpandTemplate("https://cdn.example.com/{container}/{blob}", blobref.Ref{Container: "uploads", Name: "users/a/b c#.png"})
	if got != "https://cdn.example.com/uploads/users/a/b%20c%23.png" {
		t.Errorf("got %q", got)
	}
}

func TestRuleActions(t *testing.T) {
	tests := []struct {
		name      string
		actions   Actions
		wantThumb string
	}{
		{"sas by default", Actions{}, "read:incoming"},
		{"none", Actions{Thumbnail: Thumbnail{None: true}}, ""},
		{"template", Actions{Thumbnail: Thumbnail{Template: "https://cdn.example/{container}/{blob}"}}, "https://cdn.example/uploads/users/alice/x.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &fakeOutbox{}
			c := checker(&fakeStore{staging: staged(10)}, o)
			c.GlobalWebhook = false
			rule := c.Policy.Rules()[0]
			tt.actions.Webhook = true
			c.Actions = map[string]Actions{rule.Name: tt.actions}
			c.ReadURL = func(ref blobref.Ref, _ time.Time) (string, error) { return "read:" + ref.Container, nil }
			res, err := c.Check(context.Background(), req("alice", "users/alice/x.png"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantThumb == "read:incoming" {
				tt.wantThumb = "read:uploads" // the final blob, never the staging one
			}
			if res.ThumbnailURL != tt.wantThumb {
				t.Errorf("thumbnail %q, want %q", res.ThumbnailURL, tt.wantThumb)
			}
			if len(o.stored) != 1 || o.stored[0].Target != "own" {
				t.Errorf("stored %+v, want one event for the rule's own webhook", o.stored)
			}
		})
	}
	// A rule without a webhook, and no global one: no event.
	o := &fakeOutbox{}
	c := checker(&fakeStore{staging: staged(10)}, o)
	c.GlobalWebhook = false
	if _, err := c.Check(context.Background(), req("alice", "users/alice/x.png")); err != nil || len(o.stored) != 0 {
		t.Fatalf("no webhook: %v, stored %+v", err, o.stored)
	}
}

// gatedStore holds every promotion until its gate opens, as a large file's
// copy or a slow storage does.
type gatedStore struct {
	*fakeStore
	gate     chan struct{}
	promotes atomic.Int32
}

func (g *gatedStore) Promote(ctx context.Context, src blobref.Ref, etag string, size int64, dst blobref.Ref, c blobstore.Commit) (string, error) {
	g.promotes.Add(1)
	<-g.gate
	return g.fakeStore.Promote(ctx, src, etag, size, dst, c)
}

// TestPromotionOutlivesTheRequest: a promotion that takes longer than the
// request answers a retryable timeout, goes on, stores its event, and the
// retry gets the same answer as if it had been quick; a retry while it runs
// waits for it instead of copying again.
func TestPromotionOutlivesTheRequest(t *testing.T) {
	st := &gatedStore{fakeStore: &fakeStore{staging: staged(10)}, gate: make(chan struct{})}
	ob := &fakeOutbox{}
	c := checker(st, ob)
	c.GlobalWebhook = true
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	for i := range 2 {
		_, err := c.Check(short(), req("alice", "users/alice/x.png"))
		if !errs.Match(&errs.Error{Kind: errs.Timeout}, err) {
			t.Fatalf("attempt %d while the copy runs: %v, want a retryable timeout", i, err)
		}
	}
	if n := st.promotes.Load(); n != 1 {
		t.Fatalf("%d promotions for one upload, want 1", n)
	}
	close(st.gate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ob.mu.Lock()
		n := len(ob.stored)
		ob.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event of the promotion that outlived its request was not stored")
		}
		time.Sleep(5 * time.Millisecond)
	}
	res, err := c.Check(context.Background(), req("alice", "users/alice/x.png"))
	if err != nil || !res.Repeat || res.EventID != ob.stored[0].ID {
		t.Fatalf("retry after the copy: %+v %v, want the promoted upload with event %s", res, err, ob.stored[0].ID)
	}
	if st.staging != nil {
		t.Error("staging blob left after the promotion")
	}
}
