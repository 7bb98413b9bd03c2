package events_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/azurequeue"
	"github.com/blobvalet/blobvalet/webhook"
)

const secret = "webhook-secret-0123456789"

// env is Azurite's queue service with a fresh pair of events queues.
type env struct {
	svc     *azqueue.ServiceClient
	queues  *events.Queues
	reg     *prometheus.Registry
	metrics *events.Metrics
	outbox  *events.Outbox
}

var queueSeq atomic.Int64

func newEnv(t *testing.T, az interface {
	QueueEndpoint() string
	Account() string
	Key() string
}) *env {
	t.Helper()
	cred, err := azqueue.NewSharedKeyCredential(az.Account(), az.Key())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential(az.QueueEndpoint()+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := azurequeue.NewQueues(svc, fmt.Sprintf("events-%d", queueSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Check(context.Background(), az.Account()); err == nil || !strings.Contains(err.Error(), "az storage queue create --account-name devstoreaccount1 --name "+q.Name) {
		t.Fatalf("Check before Ensure: %v, want how to create the queue", err)
	}
	if err := q.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := q.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	if err := q.Check(context.Background(), az.Account()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := events.NewMetrics(reg)
	return &env{svc: svc, queues: q.Queues, reg: reg, metrics: m, outbox: &events.Outbox{Queue: q.Main, Metrics: m}}
}

func (e *env) enqueue(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		body, _ := json.Marshal(webhook.Payload{ID: id, Blob: "users/alice/" + id + ".jpg", Size: 3})
		if err := e.outbox.Enqueue(context.Background(), events.Event{ID: id, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// deliverer returns a Deliverer on e's queues that posts to url, with
// retries fast enough for a test, running until the test ends.
func (e *env) deliverer(t *testing.T, url string, log *zap.Logger, tweak func(*events.Deliverer)) *events.Deliverer {
	d := &events.Deliverer{
		Queues: e.queues,
		Targets: func(target string) (events.Target, bool) {
			return events.Target{URL: url, Secret: []byte(secret), Timeout: 5 * time.Second}, target == ""
		},
		MaxAttempts:       20,
		Backoff:           func(int) time.Duration { return 0 },
		VisibilityTimeout: 30 * time.Second,
		Batch:             8,
		Poll:              20 * time.Millisecond,
		Log:               log,
		Metrics:           e.metrics,
	}
	if tweak != nil {
		tweak(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return d
}

// receiver is a webhook that checks signatures and counts deliveries per
// event id. fail decides, per delivery, whether to answer 503.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	got      map[string]int
	refused  map[string]int
	bad      int
	fail     func(id string, refusedSoFar int) bool
	received chan string
}

func newReceiver(t *testing.T, fail func(string, int) bool) (*receiver, *httptest.Server) {
	r := &receiver{t: t, got: map[string]int{}, refused: map[string]int{}, fail: fail, received: make(chan string, 1000)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(webhook.EventIDHeader)
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev webhook.Payload
	if err := webhook.Verify([]byte(secret), req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil || json.Unmarshal(body, &ev) != nil || ev.ID != id {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.fail != nil && r.fail(id, r.refused[id]) {
		r.refused[id]++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	r.got[id]++
	r.received <- id
}

func (r *receiver) counts() (got map[string]int, refused map[string]int, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got, refused = map[string]int{}, map[string]int{}
	for k, v := range r.got {
		got[k] = v
	}
	for k, v := range r.refused {
		refused[k] = v
	}
	return got, refused, r.bad
}

// waitFor polls cond until it holds; the test's own timeout bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// queueEmpty tells whether the queue holds no message, visible or not.
func queueEmpty(t *testing.T, svc *azqueue.ServiceClient, name string) bool {
	p, err := svc.NewQueueClient(name).GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.ApproximateMessagesCount != nil && *p.ApproximateMessagesCount == 0
}

// TestReceiverDownThenBack: the webhook refuses every event three times
// (down), then takes them (back): every event arrives, none is lost or
// dead-lettered, and the queue ends empty.
func TestReceiverDownThenBack(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	all := ids("down", 30)
	e.enqueue(t, all...)
	r, srv := newReceiver(t, func(_ string, refused int) bool { return refused < 3 })
	start := time.Now()
	e.deliverer(t, srv.URL, nil, nil)
	waitFor(t, "every event delivered", func() bool {
		got, _, _ := r.counts()
		return len(got) == len(all)
	})
	got, refused, bad := r.counts()
	for _, id := range all {
		if got[id] < 1 || refused[id] != 3 {
			t.Errorf("%s delivered %d times after %d refusals", id, got[id], refused[id])
		}
	}
	if bad != 0 {
		t.Errorf("%d deliveries with a bad signature", bad)
	}
	waitFor(t, "the queue to empty", func() bool { return queueEmpty(t, e.svc, e.queues.Name) })
	if n := e.metric(t, "blobvalet_events_dead_lettered_total"); n != 0 {
		t.Errorf("%v dead letters", n)
	}
	if q, d, r := e.metric(t, "blobvalet_events_queued_total"), e.metric(t, "blobvalet_events_delivered_total"), e.metric(t, "blobvalet_events_retried_total"); q != 30 || d < 30 || r != 90 {
		t.Errorf("queued %v, delivered %v, retried %v; want 30, at least 30, 90", q, d, r)
	}
	t.Logf("30 events, 90 refused attempts, delivered in %v", time.Since(start).Round(time.Millisecond))
}

// TestBackoffSpacesRetries: a failed attempt hides the event for the
// backoff (whole seconds in the queue), so the next attempt comes after it.
func TestBackoffSpacesRetries(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	e.enqueue(t, "slow-1")
	var mu sync.Mutex
	var at []time.Time
	r, srv := newReceiver(t, func(_ string, refused int) bool {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return refused < 2
	})
	var asked []int
	e.deliverer(t, srv.URL, nil, func(d *events.Deliverer) {
		d.Backoff = func(n int) time.Duration {
			mu.Lock()
			asked = append(asked, n)
			mu.Unlock()
			return time.Second
		}
	})
	start := time.Now()
	waitFor(t, "the event", func() bool { got, _, _ := r.counts(); return got["slow-1"] == 1 })
	t.Logf("3 attempts, 1 s backoff each: delivered after %v", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(asked) != "[1 2]" {
		t.Errorf("backoff asked for attempts %v, want [1 2]", asked)
	}
	// Azure counts visibility in seconds, from its own clock: an attempt
	// hidden for 1 s never comes back within half of it.
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 500*time.Millisecond {
			t.Errorf("attempt %d came %v after the one before", i+1, gap)
		}
	}
}

// TestDeadLetterThenReplay: an event the webhook keeps refusing moves to
// the dead-letter queue after MaxAttempts, with its last error and no
// secret; List shows it, Replay sends it back and the webhook, now taking
// it, receives it.
func TestDeadLetterThenReplay(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	var refuseBad atomic.Bool
	refuseBad.Store(true)
	r, srv := newReceiver(t, func(id string, _ int) bool { return id == "bad" && refuseBad.Load() })
	core, logs := observer.New(zapcore.DebugLevel)
	e.enqueue(t, "good-1", "bad", "good-2")
	e.deliverer(t, srv.URL, zap.New(core), func(d *events.Deliverer) { d.MaxAttempts = 3 })
	waitFor(t, "a dead letter", func() bool { return e.metric(t, "blobvalet_events_dead_lettered_total") == 1 })
	got, refused, _ := r.counts()
	if got["good-1"] != 1 || got["good-2"] != 1 || got["bad"] != 0 || refused["bad"] != 3 {
		t.Fatalf("delivered %v, refused %v", got, refused)
	}
	dead, err := e.queues.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "bad" || dead[0].Attempts != 3 || dead[0].Error != "webhook answered 503" || dead[0].DeadAt.IsZero() || !bytes.Contains(dead[0].Body, []byte(`"users/alice/bad.jpg"`)) {
		t.Fatalf("dead letters %+v", dead)
	}
	// List leaves the queue as it was: a second List sees the same.
	if again, err := e.queues.List(context.Background()); err != nil || len(again) != 1 {
		t.Fatalf("second List: %v, %v", again, err)
	}
	peek, err := e.svc.NewQueueClient(events.DeadLetterName(e.queues.Name)).PeekMessage(context.Background(), nil)
	if err != nil || len(peek.Messages) != 1 {
		t.Fatalf("peek dead letters: %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(*peek.Messages[0].MessageText)
	for _, entry := range logs.All() {
		raw = append(raw, fmt.Sprint(entry.Message, entry.ContextMap())...)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(az.Key())) {
		t.Fatal("a secret in the dead letter or the log")
	}

	if _, err := e.queues.Replay(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Replay of an unknown id: %v", err)
	}
	refuseBad.Store(false)
	moved, err := e.queues.Replay(context.Background(), "bad")
	if err != nil || fmt.Sprint(moved) != "[bad]" {
		t.Fatalf("Replay = %v, %v", moved, err)
	}
	waitFor(t, "the replayed event", func() bool { got, _, _ := r.counts(); return got["bad"] == 1 })
	if dead, err := e.queues.List(context.Background()); err != nil || len(dead) != 0 {
		t.Fatalf("after replay, dead letters %v, %v", dead, err)
	}
}

// TestTwoDeliverersShareQueue: two Deliverers on one queue deliver every
// event; duplicates are allowed and counted.
func TestTwoDeliverersShareQueue(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	all := ids("shared", 100)
	e.enqueue(t, all...)
	r, srv := newReceiver(t, func(_ string, refused int) bool { return refused < 1 })
	var replicas [2]*observer.ObservedLogs
	for i := range replicas {
		core, logs := observer.New(zapcore.InfoLevel)
		replicas[i] = logs
		e.deliverer(t, srv.URL, zap.New(core), nil)
	}
	waitFor(t, "every event delivered", func() bool { got, _, _ := r.counts(); return len(got) == len(all) })
	waitFor(t, "the queue to empty", func() bool { return queueEmpty(t, e.svc, e.queues.Name) })
	got, _, _ := r.counts()
	dups := 0
	for _, id := range all {
		if got[id] < 1 {
			t.Errorf("%s lost", id)
		}
		dups += got[id] - 1
	}
	// A replica logs a delivery after the receiver has it and the message
	// is deleted: the last line may come a moment after the queue empties.
	logged := func() (int, int) {
		return replicas[0].FilterMessage("event delivered").Len(), replicas[1].FilterMessage("event delivered").Len()
	}
	waitFor(t, "every delivery logged", func() bool { a, b := logged(); return a+b >= len(all) })
	a, b := logged()
	t.Logf("100 events, each refused once: replica A delivered %d, replica B %d, duplicates %d", a, b, dups)
}

// TestRedirectIsAFailure: a webhook answering 302 has not taken the event,
// and the redirect is not followed.
func TestRedirectIsAFailure(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	var followed atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(elsewhere.Close)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	e.enqueue(t, "moved")
	e.deliverer(t, redirect.URL, nil, func(d *events.Deliverer) {
		d.MaxAttempts = 2
		// A client that would follow redirects: the Deliverer overrides it.
		d.Client = &http.Client{}
	})
	waitFor(t, "a dead letter", func() bool { return e.metric(t, "blobvalet_events_dead_lettered_total") == 1 })
	dead, err := e.queues.List(context.Background())
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Error, "302") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
	if d := e.metric(t, "blobvalet_events_delivered_total"); d != 0 {
		t.Fatalf("%v delivered", d)
	}
}

// nearLimit returns a queue message, as an earlier version stored it, whose
// event fills the queue's 64 KiB to within about 100 bytes, and its body.
func nearLimit(t *testing.T, id string) (text string, body []byte) {
	t.Helper()
	prefix := `{"v":1,"id":"` + id + `","body":`
	n := 49149 - len(prefix) - len(`{"x":""}}`) // 49,149 bytes are 65,532 in base64
	body = []byte(`{"x":"` + strings.Repeat("a", n) + `"}`)
	text = base64.StdEncoding.EncodeToString(append([]byte(prefix), append(body, '}')...))
	if len(text) > events.MaxMessageSize || len(text) < events.MaxMessageSize-100 {
		t.Fatalf("message of %d bytes, want just under %d", len(text), events.MaxMessageSize)
	}
	return text, body
}

// TestEventNearTheLimit: an event that fits a queue message but would not
// fit once its dead letter adds attempts, time and error is refused at
// Enqueue, with the reason, and nothing is stored. One stored so by an
// earlier version, which the webhook keeps refusing, is dead-lettered
// without its body, saying so, instead of being read again every
// visibility timeout forever; replay refuses it.
func TestEventNearTheLimit(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	text, body := nearLimit(t, "near")
	err := e.outbox.Enqueue(context.Background(), events.Event{ID: "near", Body: body})
	if !errors.Is(err, events.ErrTooLarge) || !strings.Contains(err.Error(), "dead letter") {
		t.Fatalf("Enqueue of an event near the limit: %v, want ErrTooLarge with room for its dead letter", err)
	}
	if !queueEmpty(t, e.svc, e.queues.Name) {
		t.Fatal("a refused event was stored")
	}

	if err := e.queues.Main.Send(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, "small")
	_, srv := newReceiver(t, func(string, int) bool { return true })
	core, logs := observer.New(zapcore.DebugLevel)
	e.deliverer(t, srv.URL, zap.New(core), func(d *events.Deliverer) {
		d.MaxAttempts = 2
		d.VisibilityTimeout = time.Second
	})
	deadline := time.Now().Add(20 * time.Second)
	for e.metric(t, "blobvalet_events_dead_lettered_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not dead-lettered after 20 s; log: %v", logs.FilterMessageSnippet("dead-letter").AllUntimed())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, "the events queue to empty", func() bool { return queueEmpty(t, e.svc, e.queues.Name) })
	if n := e.metric(t, "blobvalet_events_dead_letter_failures_total"); n != 0 {
		t.Errorf("%v failures to dead-letter", n)
	}
	dead, err := e.queues.List(context.Background())
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	for _, dl := range dead {
		switch dl.ID {
		case "near":
			if dl.Truncated != len(body) || string(dl.Body) != "null" || !strings.Contains(dl.Error, "not kept: too large for a dead letter; last error: webhook answered") {
				t.Errorf("near-limit dead letter %+v", dl)
			}
		case "small":
			if dl.Truncated != 0 || !bytes.Contains(dl.Body, []byte(`"users/alice/small.jpg"`)) {
				t.Errorf("small dead letter %+v", dl)
			}
		}
	}
	if moved, err := e.queues.Replay(context.Background()); err == nil || !strings.Contains(err.Error(), "[near]") || fmt.Sprint(moved) != "[small]" {
		t.Fatalf("Replay: %v, %v; want small moved and near refused", moved, err)
	}
}

// failingQueue refuses every message while fail is set.
type failingQueue struct {
	events.Queue
	fail *atomic.Bool
}

func (q failingQueue) Send(ctx context.Context, text string) error {
	if q.fail.Load() {
		return errors.New("dead-letter queue refused")
	}
	return q.Queue.Send(ctx, text)
}

// TestDeadLetterQueueDown: while the dead-letter queue refuses, an event
// past its last attempt stays in the events queue; every try to move it is
// logged and counted once, and once the dead-letter queue is back it moves.
func TestDeadLetterQueueDown(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	e.enqueue(t, "stuck")
	_, srv := newReceiver(t, func(string, int) bool { return true })
	core, logs := observer.New(zapcore.DebugLevel)
	var fail atomic.Bool
	fail.Store(true)
	e.deliverer(t, srv.URL, zap.New(core), func(d *events.Deliverer) {
		d.MaxAttempts = 1
		d.VisibilityTimeout = time.Second
		d.Queues = &events.Queues{Name: e.queues.Name, Main: e.queues.Main, Dead: failingQueue{Queue: e.queues.Dead, fail: &fail}}
	})
	waitFor(t, "two failures to dead-letter", func() bool { return e.metric(t, "blobvalet_events_dead_letter_failures_total") >= 2 })
	fail.Store(false)
	waitFor(t, "the event dead-lettered", func() bool { return e.metric(t, "blobvalet_events_dead_lettered_total") == 1 })
	failures := e.metric(t, "blobvalet_events_dead_letter_failures_total")
	if n := logs.FilterMessage("event could not be dead-lettered; it stays in the events queue").Len(); float64(n) != failures {
		t.Errorf("%d log lines for %v failures", n, failures)
	}
	waitFor(t, "the events queue to empty", func() bool { return queueEmpty(t, e.svc, e.queues.Name) })
}
