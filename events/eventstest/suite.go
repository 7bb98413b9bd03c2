package eventstest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/internal/faultproxy"
)

// Run runs the whole contract on b, each test as a subtest.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Backend)
	}{
		{"QueueContract", testQueueContract},
		{"ReceiverDownThenBack", testReceiverDownThenBack},
		{"ReceiverUnreachableThenBack", testReceiverUnreachableThenBack},
		{"BackoffSpacesRetries", testBackoffSpacesRetries},
		{"DeadLetterThenReplay", testDeadLetterThenReplay},
		{"TwoDeliverersShareQueue", testTwoDeliverersShareQueue},
		{"RedirectIsAFailure", testRedirectIsAFailure},
		{"EventNearTheLimit", testEventNearTheLimit},
		{"DeadLetterQueueDown", testDeadLetterQueueDown},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, b) })
	}
}

// testQueueContract: the queue itself as events.Queue says. A message's
// text comes back whole with its first attempt's number and the time it
// was stored; a received message stays hidden until hidden for 0; a
// receipt that another receive has replaced no longer holds the message
// (Hide says ErrMessageLost; Delete says so or, as SQS does, succeeds);
// a delete is idempotent.
func testQueueContract(t *testing.T, b Backend) {
	e := NewEnv(t, b, 2*time.Second)
	ctx := context.Background()
	q := e.Queues.Main
	text := base64.StdEncoding.EncodeToString([]byte(`{"v":1,"id":"x","body":{}}`))
	before := time.Now()
	if err := q.Send(ctx, text); err != nil {
		t.Fatal(err)
	}
	receive := func(hide time.Duration) []events.Message {
		t.Helper()
		msgs, err := q.Receive(ctx, 32, hide)
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	first := receive(2 * time.Second)
	if len(first) != 1 || first[0].Text != text || first[0].DequeueCount != 1 || first[0].ID == "" || first[0].PopReceipt == "" {
		t.Fatalf("received %+v", first)
	}
	if at := first[0].Inserted; at.Before(before.Add(-time.Minute)) || at.After(time.Now().Add(time.Minute)) {
		t.Errorf("inserted at %v, sent at %v", at, before)
	}
	if again := receive(2 * time.Second); len(again) != 0 {
		t.Fatalf("a hidden message was received: %+v", again)
	}
	if err := q.Hide(ctx, first[0], 0); err != nil {
		t.Fatal(err)
	}
	second := receive(2 * time.Second)
	if len(second) != 1 || second[0].ID != first[0].ID {
		t.Fatalf("after Hide 0, received %+v", second)
	}
	if b.CountsReceives && second[0].DequeueCount != 2 {
		t.Errorf("second receive's attempt %d, want 2", second[0].DequeueCount)
	}
	if err := q.Hide(ctx, first[0], time.Second); !errors.Is(err, events.ErrMessageLost) {
		t.Errorf("Hide with a replaced receipt: %v, want ErrMessageLost", err)
	}
	if err := q.Delete(ctx, first[0]); err != nil && !errors.Is(err, events.ErrMessageLost) {
		t.Errorf("Delete with a replaced receipt: %v, want nil or ErrMessageLost", err)
	}
	if err := q.Delete(ctx, second[0]); err != nil && !errors.Is(err, events.ErrMessageLost) {
		t.Fatalf("Delete: %v", err)
	}
	if err := q.Delete(ctx, second[0]); err != nil && !errors.Is(err, events.ErrMessageLost) {
		t.Errorf("Delete again: %v, want nil or ErrMessageLost", err)
	}
	WaitFor(t, "the queue to empty", func() bool { return e.Empty(t) })
}

// testReceiverDownThenBack: the webhook refuses every event three times
// (down), then takes them (back): every event arrives, none is lost or
// dead-lettered, and the queue ends empty.
func testReceiverDownThenBack(t *testing.T, b Backend) {
	e := NewEnv(t, b, 30*time.Second)
	all := IDs("down", 30)
	e.Enqueue(t, all...)
	r, srv := NewReceiver(t, func(_ string, refused int) bool { return refused < 3 })
	start := time.Now()
	e.Deliverer(t, srv.URL, nil, nil)
	WaitFor(t, "every event delivered", func() bool {
		got, _, _ := r.Counts()
		return len(got) == len(all)
	})
	got, refused, bad := r.Counts()
	for _, id := range all {
		if got[id] < 1 || refused[id] != 3 {
			t.Errorf("%s delivered %d times after %d refusals", id, got[id], refused[id])
		}
	}
	if bad != 0 {
		t.Errorf("%d deliveries with a bad signature", bad)
	}
	WaitFor(t, "the queue to empty", func() bool { return e.Empty(t) })
	if n := e.Metric(t, "blobvalet_events_dead_lettered_total"); n != 0 {
		t.Errorf("%v dead letters", n)
	}
	if q, d, r := e.Metric(t, "blobvalet_events_queued_total"), e.Metric(t, "blobvalet_events_delivered_total"), e.Metric(t, "blobvalet_events_retried_total"); q != 30 || d < 30 || r != 90 {
		t.Errorf("queued %v, delivered %v, retried %v; want 30, at least 30, 90", q, d, r)
	}
	t.Logf("30 events, 90 refused attempts, delivered in %v", time.Since(start).Round(time.Millisecond))
}

// testReceiverUnreachableThenBack: the webhook's host refuses connections
// until every event has failed at least twice, then comes back: every
// event arrives, none is dead-lettered.
func testReceiverUnreachableThenBack(t *testing.T, b Backend) {
	e := NewEnv(t, b, 30*time.Second)
	all := IDs("unreachable", 20)
	e.Enqueue(t, all...)
	r, srv := NewReceiver(t, nil)
	p, err := faultproxy.Start(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Set(faultproxy.Refuse, 0); err != nil {
		t.Fatal(err)
	}
	e.Deliverer(t, "http://"+p.Addr()+"/hook", nil, func(d *events.Deliverer) { d.MaxAttempts = 1000 })
	WaitFor(t, "two failed attempts an event", func() bool { return e.Metric(t, "blobvalet_events_retried_total") >= 40 })
	if got, _, _ := r.Counts(); len(got) != 0 {
		t.Fatalf("delivered %v while unreachable", got)
	}
	if err := p.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "every event delivered", func() bool { got, _, _ := r.Counts(); return len(got) == len(all) })
	WaitFor(t, "the queue to empty", func() bool { return e.Empty(t) })
	if n := e.Metric(t, "blobvalet_events_dead_lettered_total"); n != 0 {
		t.Fatalf("%v dead letters", n)
	}
	t.Logf("20 events, %v failed attempts while unreachable, all delivered after", e.Metric(t, "blobvalet_events_retried_total"))
}

// testBackoffSpacesRetries: a failed attempt hides the event for the
// backoff (whole seconds in the queue), so the next attempt comes after it.
func testBackoffSpacesRetries(t *testing.T, b Backend) {
	e := NewEnv(t, b, 30*time.Second)
	e.Enqueue(t, "slow-1")
	var mu sync.Mutex
	var at []time.Time
	r, srv := NewReceiver(t, func(_ string, refused int) bool {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return refused < 2
	})
	var asked []int
	e.Deliverer(t, srv.URL, nil, func(d *events.Deliverer) {
		d.Backoff = func(n int) time.Duration {
			mu.Lock()
			asked = append(asked, n)
			mu.Unlock()
			return time.Second
		}
	})
	start := time.Now()
	WaitFor(t, "the event", func() bool { got, _, _ := r.Counts(); return got["slow-1"] == 1 })
	t.Logf("3 attempts, 1 s backoff each: delivered after %v", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	want := "[1 2]"
	if !b.CountsReceives {
		want = "[1 1]" // every receive is the first
	}
	if fmt.Sprint(asked) != want {
		t.Errorf("backoff asked for attempts %v, want %s", asked, want)
	}
	// Queues count visibility in seconds, from their own clock: an attempt
	// hidden for 1 s never comes back within half of it.
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 500*time.Millisecond {
			t.Errorf("attempt %d came %v after the one before", i+1, gap)
		}
	}
}

// testDeadLetterThenReplay: an event the webhook keeps refusing moves to
// the dead-letter queue after MaxAttempts, with its last error and no
// secret; List shows it, Replay sends it back and the webhook, now taking
// it, receives it.
func testDeadLetterThenReplay(t *testing.T, b Backend) {
	e := NewEnv(t, b, 30*time.Second)
	attempts := e.Attempts(3)
	var refuseBad atomic.Bool
	refuseBad.Store(true)
	r, srv := NewReceiver(t, func(id string, _ int) bool { return id == "bad" && refuseBad.Load() })
	core, logs := observer.New(zapcore.DebugLevel)
	e.Enqueue(t, "good-1", "bad", "good-2")
	e.Deliverer(t, srv.URL, zap.New(core), func(d *events.Deliverer) { d.MaxAttempts = attempts })
	WaitFor(t, "a dead letter", func() bool { return e.Metric(t, "blobvalet_events_dead_lettered_total") == 1 })
	got, refused, _ := r.Counts()
	if got["good-1"] != 1 || got["good-2"] != 1 || got["bad"] != 0 || refused["bad"] != attempts {
		t.Fatalf("delivered %v, refused %v", got, refused)
	}
	dead, err := e.Queues.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "bad" || dead[0].Attempts != attempts || dead[0].Error != "webhook answered 503" || dead[0].DeadAt.IsZero() || !bytes.Contains(dead[0].Body, []byte(`"users/alice/bad.jpg"`)) {
		t.Fatalf("dead letters %+v", dead)
	}
	// List leaves the queue as it was: a second List sees the same.
	if again, err := e.Queues.List(context.Background()); err != nil || len(again) != 1 {
		t.Fatalf("second List: %v, %v", again, err)
	}
	raw := peek(t, e.Queues.Dead)
	for _, entry := range logs.All() {
		raw = append(raw, fmt.Sprint(entry.Message, entry.ContextMap())...)
	}
	for _, s := range append([]string{Secret}, b.Secrets...) {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatal("a secret in the dead letter or the log")
		}
	}

	if _, err := e.Queues.Replay(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Replay of an unknown id: %v", err)
	}
	refuseBad.Store(false)
	moved, err := e.Queues.Replay(context.Background(), "bad")
	if err != nil || fmt.Sprint(moved) != "[bad]" {
		t.Fatalf("Replay = %v, %v", moved, err)
	}
	WaitFor(t, "the replayed event", func() bool { got, _, _ := r.Counts(); return got["bad"] == 1 })
	if dead, err := e.Queues.List(context.Background()); err != nil || len(dead) != 0 {
		t.Fatalf("after replay, dead letters %v, %v", dead, err)
	}
}

// peek returns the decoded text of every message in q, leaving them
// visible again.
func peek(t *testing.T, q events.Queue) []byte {
	t.Helper()
	ctx := context.Background()
	msgs, err := q.Receive(ctx, 32, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, m := range msgs {
		b, _ := base64.StdEncoding.DecodeString(m.Text)
		raw = append(append(raw, m.Text...), b...)
		if err := q.Hide(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(msgs) == 0 {
		t.Fatal("no message to peek at")
	}
	return raw
}

// testTwoDeliverersShareQueue: two Deliverers on one queue deliver every
// event; duplicates are allowed and counted.
func testTwoDeliverersShareQueue(t *testing.T, b Backend) {
	e := NewEnv(t, b, 30*time.Second)
	all := IDs("shared", 100)
	e.Enqueue(t, all...)
	r, srv := NewReceiver(t, func(_ string, refused int) bool { return refused < 1 })
	var replicas [2]*observer.ObservedLogs
	for i := range replicas {
		core, logs := observer.New(zapcore.InfoLevel)
		replicas[i] = logs
		e.Deliverer(t, srv.URL, zap.New(core), nil)
	}
	WaitFor(t, "every event delivered", func() bool { got, _, _ := r.Counts(); return len(got) == len(all) })
	WaitFor(t, "the queue to empty", func() bool { return e.Empty(t) })
	got, _, _ := r.Counts()
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
	WaitFor(t, "every delivery logged", func() bool { a, b := logged(); return a+b >= len(all) })
	a, c := logged()
	t.Logf("100 events, each refused once: replica A delivered %d, replica B %d, duplicates %d", a, c, dups)
}

// testRedirectIsAFailure: a webhook answering 302 has not taken the event,
// and the redirect is not followed.
func testRedirectIsAFailure(t *testing.T, b Backend) {
	e := NewEnv(t, b, 30*time.Second)
	var followed atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(elsewhere.Close)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	e.Enqueue(t, "moved")
	e.Deliverer(t, redirect.URL, nil, func(d *events.Deliverer) {
		d.MaxAttempts = e.Attempts(2)
		// A client that would follow redirects: the Deliverer overrides it.
		d.Client = &http.Client{}
	})
	WaitFor(t, "a dead letter", func() bool { return e.Metric(t, "blobvalet_events_dead_lettered_total") == 1 })
	dead, err := e.Queues.List(context.Background())
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Error, "302") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
	if d := e.Metric(t, "blobvalet_events_delivered_total"); d != 0 {
		t.Fatalf("%v delivered", d)
	}
}

// nearLimit returns a queue message, as an earlier version stored it, whose
// event fills Azure's 64 KiB to within about 100 bytes, and its body.
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

// testEventNearTheLimit: an event that fits a queue message but would not
// fit once its dead letter adds attempts, time and error is refused at
// Enqueue, with the reason, and nothing is stored. One stored so by an
// earlier version, which the webhook keeps refusing, is dead-lettered
// without its body, saying so, instead of being read again every
// visibility timeout forever; replay refuses it.
func testEventNearTheLimit(t *testing.T, b Backend) {
	e := NewEnv(t, b, time.Second)
	text, body := nearLimit(t, "near")
	err := e.Outbox.Enqueue(context.Background(), events.Event{ID: "near", Body: body})
	if !errors.Is(err, events.ErrTooLarge) || !strings.Contains(err.Error(), "dead letter") {
		t.Fatalf("Enqueue of an event near the limit: %v, want ErrTooLarge with room for its dead letter", err)
	}
	if !e.Empty(t) {
		t.Fatal("a refused event was stored")
	}

	if err := e.Queues.Main.Send(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	e.Enqueue(t, "small")
	// The webhook refuses until the replay, so that a replayed event is not
	// dead-lettered again while the replay still reads the queue.
	var refuse atomic.Bool
	refuse.Store(true)
	_, srv := NewReceiver(t, func(string, int) bool { return refuse.Load() })
	core, logs := observer.New(zapcore.DebugLevel)
	e.Deliverer(t, srv.URL, zap.New(core), func(d *events.Deliverer) {
		d.MaxAttempts = e.Attempts(2)
		d.VisibilityTimeout = time.Second
	})
	deadline := time.Now().Add(20 * time.Second)
	for e.Metric(t, "blobvalet_events_dead_lettered_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not dead-lettered after 20 s; log: %v", logs.FilterMessageSnippet("dead-letter").AllUntimed())
		}
		time.Sleep(50 * time.Millisecond)
	}
	WaitFor(t, "the events queue to empty", func() bool { return e.Empty(t) })
	if n := e.Metric(t, "blobvalet_events_dead_letter_failures_total"); n != 0 {
		t.Errorf("%v failures to dead-letter", n)
	}
	dead, err := e.Queues.List(context.Background())
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
	refuse.Store(false)
	if moved, err := e.Queues.Replay(context.Background()); err == nil || !strings.Contains(err.Error(), "[near]") || fmt.Sprint(moved) != "[small]" {
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

// testDeadLetterQueueDown: while the dead-letter queue refuses, an event
// past its last attempt stays in the events queue; every try to move it is
// logged and counted once, and once the dead-letter queue is back it moves.
func testDeadLetterQueueDown(t *testing.T, b Backend) {
	e := NewEnv(t, b, time.Second)
	e.Enqueue(t, "stuck")
	_, srv := NewReceiver(t, func(string, int) bool { return true })
	core, logs := observer.New(zapcore.DebugLevel)
	var fail atomic.Bool
	fail.Store(true)
	e.Deliverer(t, srv.URL, zap.New(core), func(d *events.Deliverer) {
		d.MaxAttempts = 1
		d.VisibilityTimeout = time.Second
		d.Queues = &events.Queues{Name: e.Queues.Name, Main: e.Queues.Main, Dead: failingQueue{Queue: e.Queues.Dead, fail: &fail}}
	})
	WaitFor(t, "two failures to dead-letter", func() bool { return e.Metric(t, "blobvalet_events_dead_letter_failures_total") >= 2 })
	fail.Store(false)
	WaitFor(t, "the event dead-lettered", func() bool { return e.Metric(t, "blobvalet_events_dead_lettered_total") == 1 })
	failures := e.Metric(t, "blobvalet_events_dead_letter_failures_total")
	if n := logs.FilterMessage("event could not be dead-lettered; it stays in the events queue").Len(); float64(n) != failures {
		t.Errorf("%d log lines for %v failures", n, failures)
	}
	WaitFor(t, "the events queue to empty", func() bool { return e.Empty(t) })
}
