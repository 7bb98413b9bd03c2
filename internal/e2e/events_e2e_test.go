package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	dto "github.com/prometheus/client_model/go"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/azurequeue"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/internal/faultproxy"
	"github.com/blobvalet/blobvalet/server"
)

// queueStack is a stack with Azurite's queue service: the events queues
// exist and blobvalet delivers the events stored in them.
type queueStack struct {
	*stack
	queues *events.Queues
}

// newQueueStack starts Azurite with the queue service and a stack on it
// with the test configuration edited by edit.
func newQueueStack(t *testing.T, edit func(*Config)) *queueStack {
	t.Helper()
	az := azuritetest.StartWithQueue(t, "uploads", "shared", "incoming")
	return newQueueStackOn(t, az, az.QueueEndpoint(), edit)
}

// newQueueStackOn is newQueueStack on a running Azurite, with blobvalet
// reaching its queue service at queueEndpoint (a fault proxy, say).
func newQueueStackOn(t *testing.T, az *azurite.Server, queueEndpoint string, edit func(*Config)) *queueStack {
	t.Helper()
	cred, _ := azqueue.NewSharedKeyCredential(az.Account(), az.Key())
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential(az.QueueEndpoint()+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	queues, err := azurequeue.NewQueues(svc, config.DefaultEventsQueue)
	if err != nil {
		t.Fatal(err)
	}
	if err := queues.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := testConfig(az)
	c.Storage.QueueEndpoint = queueEndpoint
	if edit != nil {
		edit(&c)
	}
	return &queueStack{stack: startStack(t, az, c, app.Options{}), queues: queues.Queues}
}

// counter returns the value of a counter in the process's registry.
func (s *stack) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := s.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += counterValue(m)
			}
			return sum
		}
	}
	return 0
}

func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// TestWebhookDownThenBack: uploads verified while the webhook is down are
// all announced once it is back, each event id at least once, none lost;
// an event whose webhook stays down past webhook.max_attempts is
// dead-lettered, and "blobvalet events replay" delivers it.
func TestWebhookDownThenBack(t *testing.T) {
	main, drop := &receiver{down: true}, &receiver{down: true}
	mainHook, dropHook := httptest.NewServer(main), httptest.NewServer(drop)
	defer mainHook.Close()
	defer dropHook.Close()
	// The staff-drop rule has a webhook of its own.
	s := newQueueStack(t, func(c *Config) {
		c.Webhook = &Webhook{URL: mainHook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second), MaxAttempts: 4}
		c.rule(t, "staff-drop").Webhook = &Webhook{URL: dropHook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second)}
	})

	const n = 12
	want := map[string]bool{}
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("users/alice/down-%02d.png", i)
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		if code != 200 {
			t.Fatalf("%s: %d %v", name, code, ans)
		}
		want[ans["eventId"].(string)] = true
	}
	s.uploadAsBrowser(t, aliceToken, "shared", "report.png", "image/png", pngBytes)
	code, ans := s.reportSuccess(t, aliceToken, "shared", "report.png")
	if code != 200 {
		t.Fatalf("shared/report.png: %d %v", code, ans)
	}
	dropID := ans["eventId"].(string)
	t.Logf("%d uploads answered success in %v with both webhooks down", n+1, time.Since(start))

	eventually(t, time.Minute, "every event to fail once", func() bool { return s.counter(t, "blobvalet_events_retried_total") >= n })
	main.setDown(false)
	eventually(t, time.Minute, "every event delivered", func() bool {
		got := map[string]bool{}
		for _, ev := range main.received() {
			got[ev.ID] = true
		}
		return len(got) == n
	})
	for _, ev := range main.received() {
		if !want[ev.ID] {
			t.Fatalf("delivered an event nobody was told of: %+v", ev)
		}
	}
	eventually(t, time.Minute, "the rule's event dead-lettered", func() bool { return s.counter(t, "blobvalet_events_dead_lettered_total") == 1 })
	dead, err := s.queues.List(context.Background())
	if err != nil || len(dead) != 1 || dead[0].ID != dropID || dead[0].Target != "staff-drop" || dead[0].Attempts != 4 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	main.mu.Lock()
	failed := main.failed
	main.mu.Unlock()
	t.Logf("global webhook: %d events, %d deliveries answered 503 while down, %d received; retried %v, delivered %v, dead-lettered %v",
		n, failed, len(main.received()), s.counter(t, "blobvalet_events_retried_total"), s.counter(t, "blobvalet_events_delivered_total"), s.counter(t, "blobvalet_events_dead_lettered_total"))

	drop.setDown(false)
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"events", "--config", s.path, "replay", "--all"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "replayed "+dropID) {
		t.Fatalf("replay exited %d: %s%s", code, out.String(), errOut.String())
	}
	eventually(t, time.Minute, "the replayed event delivered", func() bool { return len(drop.received()) == 1 })
	if ev := drop.received()[0]; ev.ID != dropID || ev.Blob != "report.png" {
		t.Fatalf("replayed event %+v", ev)
	}
	if main.badSignatures()+drop.badSignatures() != 0 {
		t.Fatal("badly signed deliveries")
	}
}

// TestSuccessEnqueueFails: with the queue service refusing connections,
// /success promotes the upload but cannot store its event, so it answers a
// retryable failure, never success; once the queue is back, the retry
// answers success with the event id stamped on the blob, and the event is
// delivered.
func TestSuccessEnqueueFails(t *testing.T) {
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	az := azuritetest.StartWithQueue(t, "uploads", "shared", "incoming")
	p := startProxy(t, az.QueueEndpoint())
	s := newQueueStackOn(t, az, "http://"+p.Addr()+"/"+az.Account(), func(c *Config) {
		c.Webhook = &Webhook{URL: hook.URL, SecretEnv: "TEST_WEBHOOK_SECRET", Timeout: Duration(2 * time.Second)}
	})

	name := "users/alice/unannounced.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes)
	if err := p.Set(faultproxy.Refuse, 0); err != nil {
		t.Fatal(err)
	}
	// Readiness says that events are degraded, and why.
	s.app.Refresh(context.Background())
	if p := readinessPart(s.app, "events"); p == nil || !strings.Contains(p.Problem, "events queue") {
		t.Fatalf("readiness with the queue refusing: %+v", s.app.Readiness())
	}
	start := time.Now()
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	t.Logf("queue refusing: %d %v in %v", code, ans, time.Since(start))
	if code != 503 || ans["success"] != false || ans["preventRetry"] != nil || ans["error"] != "the application could not be told yet; retrying will tell it" {
		t.Fatalf("queue refusing: %d %v, want a retryable 503", code, ans)
	}
	props, err := s.az.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stamped := *props.Metadata["Blobvalet_event"]
	if err := p.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	s.app.Refresh(context.Background())
	if p := readinessPart(s.app, "events"); p == nil || p.Problem != "" {
		t.Fatalf("readiness with the queue back: %+v", s.app.Readiness())
	}
	code, ans = s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 200 || ans["eventId"] != stamped {
		t.Fatalf("retry after recovery: %d %v, want 200 with event id %s", code, ans, stamped)
	}
	eventually(t, time.Minute, "the event delivered", func() bool { return len(rc.received()) == 1 })
	if got := rc.received()[0].ID; got != stamped {
		t.Fatalf("delivered event %s, want %s", got, stamped)
	}
}

// startProxy starts a fault proxy in front of the host of endpoint
// (http://HOST:PORT/ACCOUNT) and closes it when the test ends.
func startProxy(t *testing.T, endpoint string) *faultproxy.Proxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readinessPart returns the named part of a's readiness, or nil.
func readinessPart(a *app.App, name string) *server.Part {
	for _, p := range a.Readiness().Parts {
		if p.Name == name {
			return &p
		}
	}
	return nil
}
