package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/eventstest"
	"github.com/blobvalet/blobvalet/sqsemu"
	"github.com/blobvalet/blobvalet/sqsemu/sqsemutest"
)

// hookReceiver is a webhook that refuses its first down posts, then
// records the event ids of the rest.
type hookReceiver struct {
	mu    sync.Mutex
	down  int
	tried int
	ids   []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		ID string `json:"id"`
	}
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tried++
	if h.tried <= h.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := json.Unmarshal(body, &ev); err == nil {
		h.ids = append(h.ids, ev.ID)
	}
}

func (h *hookReceiver) received() (tried int, ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tried, append([]string(nil), h.ids...)
}

// TestS3UppyUploadEventThroughSQS: on S3 storage (versitygw) with events
// in SQS (goaws), an upload as Uppy makes it (/s3/presign, a PUT to the
// presigned URL, then the page's /success with the staging key) is at its
// final name only after /success, and its event reaches the webhook
// through SQS after the webhook's outage.
func TestS3UppyUploadEventThroughSQS(t *testing.T) {
	f := startS3(t)
	q := sqsemutest.Shared(t)
	name := eventstest.QueueName("s3-events")
	for _, n := range []string{name, events.DeadLetterName(name)} {
		if _, err := q.CreateQueue(context.Background(), n, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	hook := &hookReceiver{down: 2}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	y := fmt.Sprintf(s3YAML, f.emu.Endpoint()) + fmt.Sprintf(`
webhook: {url: %q, secret_env: HOOK_SECRET, max_attempts: 10}
events: {kind: sqs, queue_url: %q, region: %s, access_key_id_env: SQS_ID, secret_access_key_env: SQS_SECRET}
`, hs.URL, q.QueueURL(name), sqsemu.Region)
	vars := map[string]string{
		"S3_ID": f.emu.AccessKey(), "S3_SECRET": f.emu.SecretKey(), "S3_SERVICE_SECRET": f.emu.SecretKey(),
		"ALICE": aliceToken, "BOB": bobToken, "HOOK_SECRET": "hook-secret-0123456789",
		"SQS_ID": q.AccessKey(), "SQS_SECRET": q.SecretKey(),
	}
	cfg, err := config.Parse([]byte(y), func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, cfg, Options{
		Log:             zaptest.NewLogger(t),
		DeliveryBackoff: func(int) time.Duration { return time.Second },
		DeliveryPoll:    100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan struct{})
	go func() { a.Deliver(ctx); close(delivered) }()
	defer func() { cancel(); <-delivered; a.Close() }()

	call := func(method, target, body string) (int, []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Type", "application/json")
		a.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	code, body := call(http.MethodPost, "/s3/presign?bucket=uploads", `{"method":"PUT","key":"users/alice/e.txt"}`)
	var signed struct{ URL, Key string }
	if code != http.StatusOK || json.Unmarshal(body, &signed) != nil || signed.URL == "" {
		t.Fatalf("/s3/presign: %d %s", code, body)
	}
	const text = "hello through S3 and SQS\n"
	put, err := http.NewRequest(http.MethodPut, signed.URL, bytes.NewReader([]byte(text)))
	if err != nil {
		t.Fatal(err)
	}
	put.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %d", resp.StatusCode)
	}
	if _, err := f.head("uploads", "users/alice/e.txt"); err == nil {
		t.Fatal("the upload is at its final name before /success")
	}
	code, body = call(http.MethodPost, "/success", fmt.Sprintf(`{"key":%q}`, signed.Key))
	var ans struct {
		Success bool   `json:"success"`
		EventID string `json:"eventId"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &ans) != nil || !ans.Success || ans.EventID == "" {
		t.Fatalf("/success: %d %s", code, body)
	}
	if _, err := f.head("uploads", "users/alice/e.txt"); err != nil {
		t.Fatalf("not at its final name after /success: %v", err)
	}

	deadline := time.Now().Add(time.Minute)
	for {
		tried, ids := hook.received()
		if len(ids) > 0 {
			if tried < 3 || len(ids) != 1 || ids[0] != ans.EventID {
				t.Errorf("webhook: %d posts, received %v; want the event %s once, after two refusals", tried, ids, ans.EventID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s not delivered within a minute (%d posts)", ans.EventID, tried)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
