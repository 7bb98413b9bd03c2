package e2e

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

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/webhook"
)

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
	code, body := s.send(t, "POST", "/success", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "Authorization": "Bearer " + token,
	})
	var ans map[string]any
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatalf("answer %q is not JSON", body)
	}
	return code, ans
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
	s := newStack(t, nil)

	t.Run("accepted PNG", func(t *testing.T) {
		name := "users/alice/pic.png"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 200 || ans["success"] != true || ans["blob"] != name || ans["size"] != float64(len(pngBytes)) || ans["contentType"] != "image/png" {
			t.Fatalf("answer %d %v", code, ans)
		}
		md := s.metadata(t, "uploads", name)
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
		// The same request again: the same answer and event id, no harm.
		code2, ans2 := s.reportSuccess(t, aliceToken, "uploads", name)
		if code2 != 200 || ans2["blob"] != name || ans2["size"] != ans["size"] || ans2["contentType"] != ans["contentType"] ||
			ans2["eventId"] != ans["eventId"] || ans["eventId"] == nil || !s.exists(t, "uploads", name) {
			t.Fatalf("second answer %d %v, first %v", code2, ans2, ans)
		}
	})

	t.Run("too large", func(t *testing.T) {
		name := "users/alice/big.png"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", append(pngBytes, make([]byte, 1_200_000)...))
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 422 || ans["preventRetry"] != true || ans["error"] != "file is 1.2 MB; the limit is 1 MiB" {
			t.Fatalf("answer %d %v", code, ans)
		}
		if s.exists(t, "uploads", name) || s.exists(t, "incoming", staged("alice", "uploads", name)) {
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
		if s.exists(t, "uploads", name) || s.exists(t, "incoming", staged("alice", "uploads", name)) {
			t.Error("rejected blob is still there")
		}
	})

	t.Run("bob reports alice's upload", func(t *testing.T) {
		name := "users/alice/mine.png"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
		code, ans := s.reportSuccess(t, bobToken, "uploads", name)
		if code != 403 || ans["preventRetry"] != true {
			t.Fatalf("answer %d %v", code, ans)
		}
		if s.exists(t, "uploads", name) || !s.exists(t, "incoming", staged("alice", "uploads", name)) {
			t.Fatal("bob's request moved alice's upload")
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
	events []webhook.Payload
	bad    int
	failed int // deliveries answered 503 while down
}

func (rc *receiver) setDown(down bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.down = down
}

func (rc *receiver) received() []webhook.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhook.Payload(nil), rc.events...)
}

func (rc *receiver) badSignatures() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bad
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.down {
		rc.failed++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify([]byte(webhookSecret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		rc.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev webhook.Payload
	json.Unmarshal(body, &ev)
	rc.events = append(rc.events, ev)
	w.WriteHeader(http.StatusNoContent)
}

// TestSuccessWebhook: through serve's wiring, a verified upload's event is
// stored in the events queue before /success answers, and the deliverer
// posts it, signed. With the receiver down, /success still answers success
// (the event waits in the queue) and the event arrives once the receiver is
// back; a repeat stores the same event id again.
func TestSuccessWebhook(t *testing.T) {
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newQueueStack(t, func(c *Config) {
		c.Webhook = &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second)}
	})

	name := "users/alice/hooked.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 200 {
		t.Fatalf("answer %d %v", code, ans)
	}
	eventually(t, time.Minute, "the event delivered", func() bool { return len(rc.received()) == 1 })
	ev := rc.received()[0]
	props, _ := s.az.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
	if ev.ID != ans["eventId"] || ev.User != "alice" || ev.Container != "uploads" || ev.Blob != name || ev.UUID != "6f1b-uuid" || ev.Name != "orig.png" || !strings.HasPrefix(ev.ID, "evt_") ||
		ev.Size != int64(len(pngBytes)) || ev.ContentType != "image/png" || ev.Params["album"] != "summer" || ev.VerifiedAt == "" || ev.ETag != string(*props.ETag) {
		t.Errorf("event %+v (blob etag %s)", ev, *props.ETag)
	}

	name = "users/alice/later.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	rc.setDown(true)
	code, ans = s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 200 {
		t.Fatalf("with the receiver down: %d %v, want 200: the event waits in the queue", code, ans)
	}
	eventually(t, time.Minute, "a failed delivery", func() bool { return s.counter(t, "blobvalet_events_retried_total") >= 1 })
	rc.setDown(false)
	eventually(t, time.Minute, "the event delivered after the receiver came back", func() bool { return len(rc.received()) == 2 })
	if got := rc.received()[1]; got.Blob != name || got.ID != ans["eventId"] || got.ID == ev.ID {
		t.Fatalf("second event %+v, answer %v", got, ans)
	}
	// And once more: the upload is promoted; the event is stored again with
	// the same id, for the receiver to drop.
	if code, again := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 || again["eventId"] != ans["eventId"] {
		t.Fatalf("repeat: %d %v", code, again)
	}
	eventually(t, time.Minute, "the repeat's event delivered", func() bool { return len(rc.received()) == 3 })
	if got := rc.received(); got[2].ID != got[1].ID {
		t.Fatalf("events after a repeat: %+v", got)
	}
	if rc.badSignatures() != 0 {
		t.Fatalf("%d badly signed deliveries", rc.badSignatures())
	}
}

func TestSuccessPromotesOnlyWhatWasChecked(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	var s *stack
	name := "users/alice/race.png"
	// The uploader, who still holds a write SAS, re-uploads the staging
	// blob between the check and the copy.
	var replace sync.Once
	s = startStack(t, az, testConfig(az), app.Options{Client: beforePromotion(func() {
		replace.Do(func() {
			s.uploadAsBrowser(t, aliceToken, "uploads", name, "text/html", []byte("<html><script>alert(1)</script></html>"))
		})
	})})
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 409 || ans["preventRetry"] != nil {
		t.Fatalf("answer %d %v, want a retryable 409", code, ans)
	}
	if s.exists(t, "uploads", name) {
		t.Fatal("content that was not checked reached the final name")
	}
}
