package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/success"
)

const webhookSecret = "webhook-secret-0123456789"

// A 1x1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// uploadAsBrowser gets a SAS from /sas and sends Put Blob with Fine
// Uploader's headers.
func (s *stack) uploadAsBrowser(t *testing.T, token, container, name, contentType string, body []byte) {
	t.Helper()
	uri := s.mustSAS(t, token, "PUT", container, name)
	hdr := putBlobHeaders(contentType, name[strings.LastIndex(name, "/")+1:])
	if code := browser(t, "PUT", uri, hdr, body); code != 201 {
		t.Fatalf("Put Blob %s = %d", name, code)
	}
}

// reportSuccess sends Fine Uploader's upload-success request.
func (s *stack) reportSuccess(t *testing.T, token, container, name string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"blob": {name}, "uuid": {"6f1b-uuid"}, "name": {"orig.png"}, "container": {s.az.Endpoint() + "/" + container}, "album": {"summer"}}
	r := httptest.NewRequest("POST", "/success", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	s.srv.ServeHTTP(w, r)
	var ans map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
		t.Fatalf("answer %q is not JSON", w.Body)
	}
	return w.Code, ans
}

func (s *stack) exists(t *testing.T, container, name string) bool {
	t.Helper()
	_, err := s.az.Client().NewContainerClient(container).NewBlobClient(name).GetProperties(context.Background(), nil)
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestSuccessAgainstAzurite(t *testing.T) {
	s := newStack(t, "")

	t.Run("accepted PNG", func(t *testing.T) {
		name := "users/alice/pic.png"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 200 || ans["success"] != true || ans["blob"] != name || ans["size"] != float64(len(pngBytes)) || ans["contentType"] != "image/png" {
			t.Fatalf("answer %d %v", code, ans)
		}
		props, err := s.az.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		md := map[string]string{}
		for k, v := range props.Metadata {
			md[strings.ToLower(k)] = *v
		}
		if md["blobvalet_owner"] != "alice" || md["blobvalet_verified_at"] == "" || md["qqfilename"] != "pic.png" {
			t.Errorf("metadata %v", md)
		}
		thumb, _ := ans["thumbnailUrl"].(string)
		if !strings.Contains(thumb, "sp=r") {
			t.Fatalf("thumbnailUrl %q is not a read SAS", thumb)
		}
		resp, err := http.Get(thumb)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, pngBytes) {
			t.Fatalf("thumbnail fetch = %d, %d bytes", resp.StatusCode, len(got))
		}
		// The same request again: the same answer, no harm.
		code2, ans2 := s.reportSuccess(t, aliceToken, "uploads", name)
		if code2 != 200 || ans2["blob"] != name || ans2["size"] != ans["size"] || !s.exists(t, "uploads", name) {
			t.Fatalf("second answer %d %v", code2, ans2)
		}
	})

	t.Run("too large", func(t *testing.T) {
		name := "users/alice/big.png"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", append(pngBytes, make([]byte, 1_200_000)...))
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 422 || ans["preventRetry"] != true || ans["error"] != "file is 1.2 MB; the limit is 1 MiB" {
			t.Fatalf("answer %d %v", code, ans)
		}
		if s.exists(t, "uploads", name) {
			t.Error("rejected blob is still there")
		}
	})

	t.Run("HTML named .jpg", func(t *testing.T) {
		name := "users/alice/evil.jpg"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/jpeg", []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"))
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 422 || ans["preventRetry"] != true || !strings.Contains(ans["error"].(string), "file content is text/html, not an allowed type") {
			t.Fatalf("answer %d %v", code, ans)
		}
		if s.exists(t, "uploads", name) {
			t.Error("rejected blob is still there")
		}
	})

	t.Run("bob reports alice's blob", func(t *testing.T) {
		name := "users/alice/mine.png"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
		code, ans := s.reportSuccess(t, bobToken, "uploads", name)
		if code != 403 || ans["preventRetry"] != true {
			t.Fatalf("answer %d %v", code, ans)
		}
		props, err := s.az.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
		if err != nil {
			t.Fatalf("blob touched: %v", err)
		}
		for k := range props.Metadata {
			if strings.HasPrefix(strings.ToLower(k), "blobvalet") {
				t.Errorf("blob stamped by bob's request: %s", k)
			}
		}
	})

	t.Run("missing blob", func(t *testing.T) {
		code, ans := s.reportSuccess(t, aliceToken, "uploads", "users/alice/never.png")
		if code != 404 || ans["reset"] != true || ans["preventRetry"] != nil {
			t.Fatalf("answer %d %v", code, ans)
		}
	})
}

// receiver is a webhook endpoint that checks signatures and can be down.
type receiver struct {
	mu     sync.Mutex
	down   bool
	events []success.Event
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := success.Verify([]byte(webhookSecret), r.Header.Get(success.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		rc.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev success.Event
	json.Unmarshal(body, &ev)
	rc.events = append(rc.events, ev)
	w.WriteHeader(http.StatusNoContent)
}

func TestSuccessWebhook(t *testing.T) {
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newStackWith(t, "", "webhook: {url: "+hook.URL+", secret_env: TEST_WEBHOOK_SECRET, timeout: 2s}\n")

	name := "users/alice/hooked.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
		t.Fatalf("answer %d %v", code, ans)
	}
	rc.mu.Lock()
	if len(rc.events) != 1 || rc.bad != 0 {
		t.Fatalf("%d events, %d badly signed", len(rc.events), rc.bad)
	}
	ev := rc.events[0]
	rc.mu.Unlock()
	props, _ := s.az.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
	if ev.User != "alice" || ev.Container != "uploads" || ev.Blob != name || ev.UUID != "6f1b-uuid" || ev.Name != "orig.png" ||
		ev.Size != int64(len(pngBytes)) || ev.ContentType != "image/png" || ev.Params["album"] != "summer" || ev.VerifiedAt == "" || ev.ETag != string(*props.ETag) {
		t.Errorf("event %+v (blob etag %s)", ev, *props.ETag)
	}

	name = "users/alice/later.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	rc.mu.Lock()
	rc.down = true
	rc.mu.Unlock()
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 502 || ans["preventRetry"] != nil || ans["success"] != false {
		t.Fatalf("with the receiver down: %d %v, want a retryable 502", code, ans)
	}
	rc.mu.Lock()
	rc.down = false
	rc.mu.Unlock()
	if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
		t.Fatalf("retry after recovery: %d %v", code, ans)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.events) != 2 || rc.events[1].Blob != name {
		t.Fatalf("events after the retry: %+v", rc.events)
	}
}

// replacingStore re-uploads the blob just before the delete, as a newer
// upload landing between the check and the delete would.
type replacingStore struct {
	success.AzureStore
	t       *testing.T
	replace func()
}

func (r replacingStore) Delete(ctx context.Context, ref blobref.Ref, etag string) error {
	r.replace()
	return r.AzureStore.Delete(ctx, ref, etag)
}

func TestSuccessDoesNotDeleteANewerBlob(t *testing.T) {
	s := newStack(t, "")
	name := "users/alice/race.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", append(pngBytes, make([]byte, 1_200_000)...))
	blobClient := s.az.Client().NewContainerClient("uploads").NewBlockBlobClient(name)
	checker := newChecker(s.cfg, s.az.Client(), nil)
	checker.Store = replacingStore{AzureStore: success.AzureStore{Client: s.az.Client()}, t: t, replace: func() {
		if _, err := blobClient.UploadBuffer(context.Background(), pngBytes, nil); err != nil {
			t.Fatal(err)
		}
	}}
	srv := server.New(server.Options{
		Logger: zap.NewNop(), Auth: s.srv.Auth, Policy: s.cfg.Policy(), Resolver: s.cfg.Resolver(),
		Signer: s.srv.Signer, Lifetime: time.Minute, Success: checker,
	})
	s.srv = srv
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 409 || ans["preventRetry"] != nil {
		t.Fatalf("answer %d %v, want a retryable 409", code, ans)
	}
	got, err := s.download(t, "uploads", name)
	if err != nil || !bytes.Equal(got, pngBytes) {
		t.Fatalf("the newer blob was deleted or changed: %d bytes, %v", len(got), err)
	}
}
