package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/eventstest"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/sqsemu"
	"github.com/blobvalet/blobvalet/sqsemu/sqsemutest"
)

// sqsStack is a stack on Azurite whose events wait in SQS (goaws), in a
// queue pair of its own.
type sqsStack struct {
	*stack
	sqs      *sqsemu.Server
	queueURL string
}

// newSQSStack starts a stack whose webhook events go to SQS, with the
// configuration edited by edit; the queues hide a received message for
// visibility (goaws ignores a receive's own).
func newSQSStack(t *testing.T, visibility time.Duration, edit func(*Config)) *sqsStack {
	t.Helper()
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	q := sqsemutest.Shared(t)
	name := eventstest.QueueName("e2e-events")
	for _, n := range []string{name, events.DeadLetterName(name)} {
		if _, err := q.CreateQueue(context.Background(), n, visibility); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TEST_AWS_KEY", q.AccessKey())
	t.Setenv("TEST_AWS_SECRET", q.SecretKey())
	c := testConfig(az)
	c.Events = &Events{Kind: "sqs", QueueURL: q.QueueURL(name), Region: sqsemu.Region, AccessKeyIDEnv: "TEST_AWS_KEY", SecretAccessKeyEnv: "TEST_AWS_SECRET"}
	if edit != nil {
		edit(&c)
	}
	return &sqsStack{stack: startStack(t, az, c, app.Options{}), sqs: q, queueURL: c.Events.QueueURL}
}

// uploadAll uploads n files as alice and reports each, returning the
// event ids /success answered with.
func (s *sqsStack) uploadAll(t *testing.T, prefix string, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("users/alice/%s-%02d.png", prefix, i)
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 200 {
			t.Fatalf("%s: %d %v", name, code, ans)
		}
		ids[ans["eventId"].(string)] = true
	}
	return ids
}

// TestSQSWebhookDownThenBack: uploads verified on Azure storage, their
// events stored in SQS while the webhook is down, are retried (each
// failed attempt hides the event for the backoff) and all delivered once
// the webhook is back, signed, none lost or dead-lettered.
func TestSQSWebhookDownThenBack(t *testing.T) {
	rc := &receiver{down: true}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newSQSStack(t, 30*time.Second, func(c *Config) {
		c.Webhook = &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second), MaxAttempts: 100}
	})
	const n = 8
	want := s.uploadAll(t, "sqs-down", n)
	eventually(t, time.Minute, "every event to fail twice", func() bool { return s.counter(t, "blobvalet_events_retried_total") >= 2*n })
	if len(rc.received()) != 0 {
		t.Fatal("delivered while down")
	}
	rc.setDown(false)
	eventually(t, time.Minute, "every event delivered", func() bool {
		got := map[string]bool{}
		for _, ev := range rc.received() {
			got[ev.ID] = true
		}
		return len(got) == n
	})
	for _, ev := range rc.received() {
		if !want[ev.ID] {
			t.Fatalf("delivered an event nobody was told of: %+v", ev)
		}
	}
	if rc.badSignatures() != 0 || s.counter(t, "blobvalet_events_dead_lettered_total") != 0 {
		t.Fatalf("%d bad signatures, %v dead letters", rc.badSignatures(), s.counter(t, "blobvalet_events_dead_lettered_total"))
	}
	t.Logf("%d events on SQS: %v failed attempts while the webhook was down, all delivered after", n, s.counter(t, "blobvalet_events_retried_total"))
}

// TestSQSDeadLetterAndEventsCommand: an event the webhook refuses on its
// last attempt moves to the SQS dead-letter queue; "blobvalet events list"
// shows it, without the AWS secret, and "replay" sends it back, to be
// delivered now the webhook takes it. goaws counts no receives, so the
// last attempt is the first (max_attempts 1).
func TestSQSDeadLetterAndEventsCommand(t *testing.T) {
	rc := &receiver{down: true}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := newSQSStack(t, 30*time.Second, func(c *Config) {
		c.Webhook = &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second), MaxAttempts: 1}
	})
	ids := s.uploadAll(t, "sqs-dead", 2)
	eventually(t, time.Minute, "both events dead-lettered", func() bool { return s.counter(t, "blobvalet_events_dead_lettered_total") == 2 })

	ctx := context.Background()
	cmd := func(want int, args ...string) string {
		t.Helper()
		var out, errOut syncBuffer
		args = append([]string{"events", "--config", s.path}, args...)
		if code := run(ctx, args, &out, &errOut); code != want {
			t.Fatalf("%v exited %d, want %d: %s%s", args, code, want, out.String(), errOut.String())
		}
		all := out.String() + errOut.String()
		if strings.Contains(all, s.sqs.SecretKey()) {
			t.Fatal("the AWS secret in the output")
		}
		return all
	}
	out := cmd(0, "list")
	for id := range ids {
		if !strings.Contains(out, id) {
			t.Fatalf("list printed %q, without %s", out, id)
		}
	}
	if !strings.Contains(out, "webhook answered 503") {
		t.Fatalf("list printed %q, without the last error", out)
	}
	if out := cmd(2, "--queue", "other", "list"); !strings.Contains(out, "events.queue_url") {
		t.Fatalf("--queue with SQS events: %q", out)
	}
	rc.setDown(false)
	out = cmd(0, "replay", "--all")
	for id := range ids {
		if !strings.Contains(out, "replayed "+id) {
			t.Fatalf("replay printed %q, without %s", out, id)
		}
	}
	eventually(t, time.Minute, "the replayed events delivered", func() bool { return len(rc.received()) == 2 })
	if out := cmd(0, "list"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("list after replay printed %q", out)
	}

	// A configuration naming a queue that does not exist is refused at
	// start, saying how to create it.
	var out2, errOut syncBuffer
	missing := writeConfig(t, Config{
		Storage: Storage{Account: s.az.Account(), Endpoint: s.az.Endpoint(), KeyEnv: "TEST_STORAGE_KEY"}, Auth: Auth{Tokens: []Token{{User: "alice", TokenEnv: "TEST_ALICE_TOKEN"}}},
		Rules:   []Rule{{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT"}}},
		Staging: Staging{Container: "incoming"},
		Webhook: &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET"},
		Events:  &Events{Kind: "sqs", QueueURL: s.sqs.QueueURL("no-such-queue"), Region: sqsemu.Region, AccessKeyIDEnv: "TEST_AWS_KEY", SecretAccessKeyEnv: "TEST_AWS_SECRET"},
	})
	if code := run(ctx, []string{"check", "--config", missing, "--storage"}, &out2, &errOut); code != 1 || !strings.Contains(errOut.String(), "aws sqs create-queue --queue-name no-such-queue") {
		t.Fatalf("check of a missing queue exited %d: %s%s", code, out2.String(), errOut.String())
	}
}
