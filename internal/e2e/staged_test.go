package e2e

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/blobref"
	azstore "github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/internal/app"
)

// The attacks that the staging design closes, replayed against Azurite as
// an attacker would send them: with a real SAS from /sas and the browser's
// own requests to storage.

func (s *stack) metadata(t *testing.T, container, name string) map[string]string {
	t.Helper()
	_, md := storedBlob(t, s.az.Client(), container, name)
	return md
}

func TestAttackSuccessOnAnotherUsersFile(t *testing.T) {
	s := newStack(t, nil)
	name := "inbox/drop/report.pdf"
	pdf := []byte("%PDF-1.4\n% alice's report\n")
	s.uploadAsBrowser(t, aliceToken, "shared", name, "application/pdf", pdf)
	if code, ans := s.reportSuccess(t, aliceToken, "shared", name); code != 200 {
		t.Fatalf("alice's success: %d %v", code, ans)
	}
	before := s.metadata(t, "shared", name)

	// bob may write to inbox/drop/ too, and asks /success for her file.
	code, ans := s.reportSuccess(t, bobToken, "shared", name)
	if code != 403 || ans["preventRetry"] != true {
		t.Fatalf("bob's success on alice's file: %d %v, want 403", code, ans)
	}
	if got, err := s.download(t, "shared", name); err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("alice's file changed: %q, %v", got, err)
	}
	if after := s.metadata(t, "shared", name); after["blobvalet_owner"] != "alice" || after["blobvalet_event"] != before["blobvalet_event"] {
		t.Fatalf("alice's stamp changed: %v", after)
	}

	// bob uploads his own file under her name: the rule says overwrite: false.
	s.uploadAsBrowser(t, bobToken, "shared", name, "application/pdf", []byte("%PDF-1.4\n% bob's\n"))
	code, ans = s.reportSuccess(t, bobToken, "shared", name)
	if code != 409 || ans["preventRetry"] != true || !strings.Contains(ans["error"].(string), "already exists and may not be replaced") {
		t.Fatalf("bob's upload over alice's file: %d %v, want 409", code, ans)
	}
	if got, _ := s.download(t, "shared", name); !bytes.Equal(got, pdf) {
		t.Fatalf("alice's file replaced: %q", got)
	}
	if s.exists(t, "incoming", staged("bob", "shared", name)) {
		t.Error("bob's refused upload left in staging")
	}
}

func TestAttackNeverCallingSuccess(t *testing.T) {
	s := newStack(t, nil)
	name := "users/bob/page.jpg"
	html := append([]byte("<html><script>alert(document.cookie)</script>"), make([]byte, 12<<20)...)
	uri := s.mustSAS(t, bobToken, "PUT", "uploads", name)
	if code := browser(t, "PUT", uri, putBlobHeaders("text/html", "page.jpg"), html); code != 201 {
		t.Fatalf("Put Blob = %d", code)
	}
	if s.exists(t, "uploads", name) {
		t.Fatal("an upload that was never verified is at its final name")
	}
	keep := "users/alice/kept.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", keep, "image/png", pngBytes)
	if code, ans := s.reportSuccess(t, aliceToken, "uploads", keep); code != 200 {
		t.Fatalf("success: %d %v", code, ans)
	}
	out := s.sweep(t, "--older-than", "0s")
	if !strings.Contains(out, "removed 1 unverified uploads") {
		t.Fatalf("sweep said %q", out)
	}
	if s.exists(t, "incoming", staged("bob", "uploads", name)) || s.exists(t, "uploads", name) {
		t.Fatal("the unverified upload survived the sweep")
	}
	if got, err := s.download(t, "uploads", keep); err != nil || !bytes.Equal(got, pngBytes) {
		t.Fatalf("the sweep touched a verified file: %v", err)
	}
}

func TestAttackContentCheckWalkArounds(t *testing.T) {
	s := newStack(t, nil)
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"><script>alert(1)</script></svg>`)
	tests := []struct {
		name, contentType string
		headers           map[string]string
		body              []byte
		want              string
	}{
		{"users/alice/icon.svg", "image/svg+xml", nil, svg, "file type image/svg+xml is not allowed"},
		{"users/alice/icon.png", "image/png", nil, svg, "file content is image/svg+xml, not an allowed type"},
		{"users/alice/packed.svg", "image/svg+xml", map[string]string{"x-ms-blob-content-encoding": "deflate"}, deflate(t, svg), "Content-Encoding"},
		{"users/alice/bom.jpg", "image/jpeg", nil, append([]byte("\xEF\xBB\xBF"), "<!doctype html><script>alert(1)</script>"...), "file content is text/html"},
		{"users/alice/text.jpg", "image/jpeg", nil, []byte("just a line of text\n<script>alert(1)</script>"), "file content is text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := putBlobHeaders(tt.contentType, tt.name[strings.LastIndex(tt.name, "/")+1:])
			for k, v := range tt.headers {
				hdr[k] = v
			}
			if code := browser(t, "PUT", s.mustSAS(t, aliceToken, "PUT", "uploads", tt.name), hdr, tt.body); code != 201 {
				t.Fatalf("Put Blob = %d", code)
			}
			code, ans := s.reportSuccess(t, aliceToken, "uploads", tt.name)
			if code != 422 || ans["preventRetry"] != true || !strings.Contains(ans["error"].(string), tt.want) {
				t.Fatalf("answer %d %v, want 422 %q", code, ans, tt.want)
			}
			if s.exists(t, "uploads", tt.name) || s.exists(t, "incoming", staged("alice", "uploads", tt.name)) {
				t.Fatal("refused upload not removed")
			}
		})
	}
}

func TestChunkedTwiceUnderOverwriteFalse(t *testing.T) {
	s := newStack(t, nil)
	name := "users/alice/twice.txt"
	first := s.chunked(t, aliceToken, "uploads", name, 2, "text/plain")
	if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
		t.Fatalf("first: %d %v", code, ans)
	}
	if md := s.metadata(t, "uploads", name); md["qqfilename"] != "twice.txt" || md["blobvalet_owner"] != "alice" {
		t.Errorf("metadata after promotion: %v", md)
	}
	s.chunked(t, aliceToken, "uploads", name, 3, "text/plain")
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 409 || ans["preventRetry"] != true {
		t.Fatalf("second: %d %v, want 409 preventRetry", code, ans)
	}
	if got, err := s.download(t, "uploads", name); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the first file changed: %d bytes, %v", len(got), err)
	}
}

// TestSuccessRoundTrips counts the requests a passing small upload's
// success check makes to storage: a ranged read, the final name's
// properties (the rule may not overwrite), Put Block From URL, Put Block
// List and the staging blob's delete.
func TestSuccessRoundTrips(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	var calls atomic.Int32
	var mu sync.Mutex
	var methods []string
	s := startStack(t, az, testConfig(az), app.Options{Client: &service.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: countingTransport(func(r *http.Request) {
			calls.Add(1)
			mu.Lock()
			methods = append(methods, r.Method+" "+r.URL.Query().Get("comp"))
			mu.Unlock()
		}),
		Retry: policy.RetryOptions{MaxRetries: -1},
	}}})
	name := "users/alice/small.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	calls.Store(0)
	mu.Lock()
	methods = nil
	mu.Unlock()
	if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
		t.Fatalf("success: %d %v", code, ans)
	}
	t.Logf("storage round trips of a passing small upload: %d %v", calls.Load(), methods)
	if calls.Load() != 5 {
		t.Errorf("%d storage round trips %v, want 5", calls.Load(), methods)
	}
}

type countingTransport func(*http.Request)

func (f countingTransport) Do(r *http.Request) (*http.Response, error) {
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

// sweep runs "blobvalet sweep" against the stack's storage and returns
// what it printed.
func (s *stack) sweep(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut syncBuffer
	if code := run(context.Background(), append([]string{"sweep", "--config", s.path}, args...), &out, &errOut); code != 0 {
		t.Fatalf("sweep exited %d: %s%s", code, out.String(), errOut.String())
	}
	if strings.Contains(errOut.String(), s.az.Key()) {
		t.Fatal("sweep's log leaks the key")
	}
	return out.String()
}

func TestSweepCommand(t *testing.T) {
	s := newStack(t, nil)
	s.uploadAsBrowser(t, aliceToken, "uploads", "users/alice/a.txt", "text/plain", []byte("a"))
	uri := s.mustSAS(t, bobToken, "PUT", "uploads", "users/bob/b.bin")
	if code := browser(t, "PUT", uri+"&comp=block&blockid=MDAwMDA%3D", nil, []byte("uncommitted")); code != 201 {
		t.Fatalf("Put Block = %d", code)
	}
	if out := s.sweep(t); !strings.Contains(out, "removed 0 unverified uploads") || !strings.Contains(out, "; 2 in staging container incoming") {
		t.Fatalf("sweep with the default max_age: %q", out)
	}
	if out := s.sweep(t, "--older-than", "0s", "--dry-run"); !strings.Contains(out, "would remove 2 unverified uploads") {
		t.Fatalf("dry run: %q", out)
	}
	if !s.exists(t, "incoming", staged("alice", "uploads", "users/alice/a.txt")) {
		t.Fatal("the dry run removed something")
	}
	if out := s.sweep(t, "--older-than", "0s"); !strings.Contains(out, "removed 2 unverified uploads") {
		t.Fatalf("sweep: %q", out)
	}
	if busy, err := (azstore.Store{Client: s.az.Client()}).InProgress(context.Background(), s.stagedRef("bob", "uploads", "users/bob/b.bin")); busy || err != nil {
		t.Fatalf("uncommitted upload survived: %v %v", busy, err)
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"sweep", "--config", "x.yaml", "--older-than", "-1s"}, &errOut, &errOut); code != 2 {
		t.Errorf("negative --older-than = %d, want 2", code)
	}
}

func (s *stack) stagedRef(user, container, name string) blobref.Ref {
	return blobref.Ref{Container: "incoming", Name: blobref.Name(staged(user, container, name))}
}

func deflate(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// beforePromotion returns storage client options that run before() ahead
// of each request of a promotion (a copy inside storage), and send every
// request once, without retries.
func beforePromotion(before func()) *service.ClientOptions {
	return &service.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: countingTransport(func(r *http.Request) {
			for k := range r.Header { // the SDK sets it uncanonicalised
				if strings.EqualFold(k, "x-ms-copy-source") {
					before()
					return
				}
			}
		}),
		Retry: policy.RetryOptions{MaxRetries: -1},
	}}
}

// TestPromotionOutlivesItsRequest: a copy that takes longer than the
// request's budget gets a retryable answer, goes on after the request has
// ended, and the retry finds the upload at its final name with the event id
// it was stamped with.
func TestPromotionOutlivesItsRequest(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	c := testConfig(az)
	c.Success = &Success{Timeout: Duration(time.Second)}
	// The copy holds until the gate opens, as a large file's takes its time.
	gate := make(chan struct{})
	s := startStack(t, az, c, app.Options{Client: beforePromotion(func() { <-gate })})
	name := "users/alice/large.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 504 || ans["preventRetry"] != nil || !strings.Contains(fmt.Sprint(ans["error"]), "still being moved into place") {
		t.Fatalf("copy outlasting the request: %d %v, want a retryable 504", code, ans)
	}
	if s.exists(t, "uploads", name) {
		t.Fatal("at the final name before the copy")
	}
	close(gate)
	eventually(t, 20*time.Second, "the copy to go on after its request ended", func() bool { return s.exists(t, "uploads", name) })
	code, ans = s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 200 || ans["eventId"] != s.metadata(t, "uploads", name)["blobvalet_event"] {
		t.Fatalf("retry: %d %v", code, ans)
	}
	if s.exists(t, "incoming", staged("alice", "uploads", name)) {
		t.Error("staging blob left")
	}
}
