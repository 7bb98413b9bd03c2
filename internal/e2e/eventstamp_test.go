package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/success"
	"github.com/blobvalet/blobvalet/webhook"
)

// reportSuccessWith sends an upload-success request with the given name,
// uuid and params.
func (s *stack) reportSuccessWith(t *testing.T, token, container, blob, name, uuid string, params map[string]string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"blob": {blob}, "uuid": {uuid}, "name": {name}, "container": {s.az.Endpoint() + "/" + container}}
	for k, v := range params {
		form.Set(k, v)
	}
	code, body := s.send(t, "POST", "/success", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "Authorization": "Bearer " + token,
	})
	var ans map[string]any
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatalf("answer %q is not JSON", body)
	}
	return code, ans
}

// queued returns the events waiting in the events queue (at most 32),
// leaving them there.
func (s *queueStack) queued(t *testing.T) []webhook.Payload {
	t.Helper()
	cred, _ := azqueue.NewSharedKeyCredential(s.az.Account(), s.az.Key())
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential(s.az.QueueEndpoint()+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := svc.NewQueueClient(s.queues.Name).PeekMessages(context.Background(), &azqueue.PeekMessagesOptions{NumberOfMessages: to.Ptr(int32(32))})
	if err != nil {
		t.Fatal(err)
	}
	var out []webhook.Payload
	for _, m := range resp.Messages {
		raw, err := base64.StdEncoding.DecodeString(*m.MessageText)
		var env struct{ Body webhook.Payload }
		if err != nil || json.Unmarshal(raw, &env) != nil {
			t.Fatalf("queued message %q", *m.MessageText)
		}
		out = append(out, env.Body)
	}
	return out
}

// TestEventTooLargeRefusedBeforePromotion: params that make the event too
// large for the queue are refused before anything is promoted: 413 with
// preventRetry, nothing at the final name, the staging blob removed as for
// any refused upload, and no event.
func TestEventTooLargeRefusedBeforePromotion(t *testing.T) {
	rc := &receiver{down: true}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newQueueStack(t, func(c *Config) {
		c.Webhook = &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second)}
	})
	name := "users/alice/padded.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	code, ans := s.reportSuccessWith(t, aliceToken, "uploads", name, "padded.png", "u-1", map[string]string{"note": strings.Repeat("a", 46<<10)})
	if code != 413 || ans["preventRetry"] != true || !strings.Contains(ans["error"].(string), "too large for its event") {
		t.Fatalf("answer %d %v, want 413 preventRetry", code, ans)
	}
	if s.exists(t, "uploads", name) {
		t.Fatal("promoted though its event could not be stored")
	}
	if s.exists(t, "incoming", staged("alice", "uploads", name)) {
		t.Error("refused upload left in staging")
	}
	if q := s.queued(t); len(q) != 0 {
		t.Fatalf("events stored: %+v", q)
	}
	if n := s.counter(t, "blobvalet_events_queued_total"); n != 0 {
		t.Fatalf("%v events stored, want none", n)
	}
}

// TestRepeatCarriesTheFirstEvent: a repeated /success for one upload
// stores its event again only as first reported: a repeat with the same
// name, uuid and params (a browser's retry) is answered and stores the
// event again; one with other words is refused with 409 and stores
// nothing. The fields are kept on the stamp as a checksum only, never
// whole: the page's params never reach storage.
func TestRepeatCarriesTheFirstEvent(t *testing.T) {
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newQueueStack(t, func(c *Config) {
		c.Webhook = &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second)}
	})

	name := "users/alice/invoice.pdf.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	first := map[string]string{"album": "summer"}
	code, ans := s.reportSuccessWith(t, aliceToken, "uploads", name, "invoice.png", "uuid-1", first)
	if code != 200 {
		t.Fatalf("first: %d %v", code, ans)
	}
	if md := s.metadata(t, "uploads", name); md["blobvalet_event_sum"] == "" || strings.Contains(fmt.Sprint(md), "summer") {
		t.Fatalf("stamp %v: want the fields' checksum and not the fields", md)
	}
	for i, words := range []map[string]string{{"amount": "1000000"}, {"album": "winter", "approved": "yes"}} {
		code, again := s.reportSuccessWith(t, aliceToken, "uploads", name, "invoice-approved.pdf", "uuid-2", words)
		if code != 409 || again["preventRetry"] != true {
			t.Fatalf("repeat %d with other words: %d %v, want 409 preventRetry", i+1, code, again)
		}
	}
	if code, again := s.reportSuccessWith(t, aliceToken, "uploads", name, "invoice.png", "uuid-1", first); code != 200 || again["eventId"] != ans["eventId"] {
		t.Fatalf("repeat with the same words: %d %v", code, again)
	}
	eventually(t, time.Minute, "two events delivered", func() bool { return len(rc.received()) >= 2 })
	if n := s.counter(t, "blobvalet_events_queued_total"); n != 2 {
		t.Errorf("%v events stored, want 2 (the first and the same repeat)", n)
	}
	for _, ev := range rc.received() {
		if ev.ID != ans["eventId"] || ev.Name != "invoice.png" || ev.UUID != "uuid-1" || len(ev.Params) != 1 || ev.Params["album"] != "summer" || ev.User != "alice" {
			t.Errorf("delivered event %+v, want the first report's", ev)
		}
	}
}

// TestNonASCIIOwners: users whose ids are not ASCII finish their uploads,
// in either Unicode normal form; the stamp holds the id encoded, and reads
// back to it. The two forms are different byte strings from the identity
// provider, so they are two owners: neither can act on the other's file.
func TestNonASCIIOwners(t *testing.T) {
	const nfc, nfd = "jos\u00e9", "jose\u0301"
	const nfcToken, nfdToken = "nfc-token-0123456789ab", "nfd-token-0123456789ab"
	t.Setenv("TEST_NFC_TOKEN", nfcToken)
	t.Setenv("TEST_NFD_TOKEN", nfdToken)
	s := newQueueStack(t, func(c *Config) {
		c.Auth.Tokens = append(c.Auth.Tokens, Token{User: nfc, TokenEnv: "TEST_NFC_TOKEN"}, Token{User: nfd, TokenEnv: "TEST_NFD_TOKEN"})
	})
	for _, u := range []struct{ id, token string }{{nfc, nfcToken}, {nfd, nfdToken}} {
		name := "users/" + u.id + "/pic.png"
		s.uploadAsBrowser(t, u.token, "uploads", name, "image/png", pngBytes)
		if code, ans := s.reportSuccess(t, u.token, "uploads", name); code != 200 {
			t.Fatalf("%q: %d %v", u.id, code, ans)
		}
		stamp := s.metadata(t, "uploads", name)["blobvalet_owner"]
		if owner, err := success.DecodeOwner(stamp); err != nil || owner != u.id || !strings.HasPrefix(stamp, "base64url:") {
			t.Fatalf("%q: owner stamp %q reads %q, %v", u.id, stamp, owner, err)
		}
		if code, ans := s.reportSuccess(t, u.token, "uploads", name); code != 200 {
			t.Fatalf("%q repeat: %d %v", u.id, code, ans)
		}
	}
	if code, _ := s.signature(t, nfdToken, "PUT", s.blobURI("uploads", "users/"+nfc+"/pic.png")); code != 403 {
		t.Fatalf("the NFD user signed for the NFC user's folder: %d", code)
	}
	name := "inbox/drop/cv.pdf"
	pdf := []byte("%PDF-1.4\n% nfc\n")
	s.uploadAsBrowser(t, nfcToken, "shared", name, "application/pdf", pdf)
	if code, ans := s.reportSuccess(t, nfcToken, "shared", name); code != 200 {
		t.Fatalf("NFC drop: %d %v", code, ans)
	}
	if code, ans := s.reportSuccess(t, nfdToken, "shared", name); code != 403 {
		t.Fatalf("the NFD user's success on the NFC user's file: %d %v, want 403", code, ans)
	}
	s.uploadAsBrowser(t, nfdToken, "shared", name, "application/pdf", []byte("%PDF-1.4\n% nfd\n"))
	if code, ans := s.reportSuccess(t, nfdToken, "shared", name); code != 409 {
		t.Fatalf("the NFD user's upload over the NFC user's file: %d %v, want 409", code, ans)
	}
	if got, err := s.download(t, "shared", name); err != nil || string(got) != string(pdf) {
		t.Fatalf("the NFC user's file changed: %q, %v", got, err)
	}
}
