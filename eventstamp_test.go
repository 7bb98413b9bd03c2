package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/success"
)

// reportSuccessWith sends an upload-success request with the given name,
// uuid and params.
func (s *stack) reportSuccessWith(t *testing.T, token, container, blob, name, uuid string, params map[string]string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"blob": {blob}, "uuid": {uuid}, "name": {name}, "container": {s.az.Endpoint() + "/" + container}}
	for k, v := range params {
		form.Set(k, v)
	}
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

// queued returns the events waiting in the events queue (at most 32),
// leaving them there.
func (s *queueStack) queued(t *testing.T) []success.Event {
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
	var out []success.Event
	for _, m := range resp.Messages {
		raw, err := base64.StdEncoding.DecodeString(*m.MessageText)
		var env struct{ Body success.Event }
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
	s := newQueueStack(t, "", "webhook: {url: "+hook.URL+", secret_env: TEST_WEBHOOK_SECRET, timeout: 2s}\n")
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
}

// TestRepeatCarriesTheFirstEvent: repeated /success calls for one upload,
// each with another name, uuid and params, store the event as first
// reported, every time. Where the first fields are too large to keep on
// the stamp, a repeat with other fields is refused and stores nothing, and
// one with the same fields (a browser's retry) stores the event again.
func TestRepeatCarriesTheFirstEvent(t *testing.T) {
	rc := &receiver{down: true}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newQueueStack(t, "", "webhook: {url: "+hook.URL+", secret_env: TEST_WEBHOOK_SECRET, timeout: 2s}\n")

	name := "users/alice/invoice.pdf.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	first := map[string]string{"album": "summer"}
	code, ans := s.reportSuccessWith(t, aliceToken, "uploads", name, "invoice.png", "uuid-1", first)
	if code != 200 {
		t.Fatalf("first: %d %v", code, ans)
	}
	for i, words := range []map[string]string{{"amount": "1000000"}, {"album": "winter", "approved": "yes"}} {
		code, again := s.reportSuccessWith(t, aliceToken, "uploads", name, "invoice-approved.pdf", "uuid-2", words)
		if code != 200 || again["eventId"] != ans["eventId"] {
			t.Fatalf("repeat %d: %d %v", i+1, code, again)
		}
	}
	q := s.queued(t)
	if len(q) != 3 {
		t.Fatalf("%d events queued, want 3", len(q))
	}
	for _, ev := range q {
		if ev.ID != ans["eventId"] || ev.Name != "invoice.png" || ev.UUID != "uuid-1" || len(ev.Params) != 1 || ev.Params["album"] != "summer" || ev.User != "alice" {
			t.Errorf("queued event %+v, want the first report's", ev)
		}
	}

	name = "users/alice/long-notes.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	long := map[string]string{"notes": strings.Repeat("n", 7<<10)}
	if code, ans = s.reportSuccessWith(t, aliceToken, "uploads", name, "notes.png", "uuid-3", long); code != 200 {
		t.Fatalf("first with long params: %d %v", code, ans)
	}
	if md := s.metadata(t, "uploads", name); md["blobvalet_event_sum"] == "" || md["blobvalet_event_fields"] != "" {
		t.Fatalf("stamp of fields too long to keep: %v", md)
	}
	code, again := s.reportSuccessWith(t, aliceToken, "uploads", name, "notes.png", "uuid-3", map[string]string{"notes": "short"})
	if code != 409 || again["preventRetry"] != true {
		t.Fatalf("repeat with other fields: %d %v, want 409 preventRetry", code, again)
	}
	if code, again = s.reportSuccessWith(t, aliceToken, "uploads", name, "notes.png", "uuid-3", long); code != 200 || again["eventId"] != ans["eventId"] {
		t.Fatalf("repeat with the same fields: %d %v", code, again)
	}
	n := 0
	for _, ev := range s.queued(t) {
		if ev.ID == ans["eventId"] {
			n++
			if ev.Params["notes"] != long["notes"] {
				t.Errorf("queued event with params %.40v", ev.Params)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d events queued for the long upload, want 2", n)
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
	s := newQueueStack(t, "", "",
		"    - {user: bob, token_env: TEST_BOB_TOKEN}",
		"    - {user: bob, token_env: TEST_BOB_TOKEN}\n    - {user: \""+nfc+"\", token_env: TEST_NFC_TOKEN}\n    - {user: \""+nfd+"\", token_env: TEST_NFD_TOKEN}")
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
