// Package eventstest is the contract every events.Queue must keep, as a
// suite of tests that runs on a real queue service: the outbox, the
// deliverers, retries, dead letters and replay, end to end against a
// signing webhook receiver. events/azurequeue runs it on Azurite and
// events/sqs on goaws; a new queue adapter runs it too.
//
// It also has what those tests are made of (Env, Receiver, WaitFor), for
// the tests of one adapter.
package eventstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/webhook"
)

// Secret is the receiver's webhook secret.
const Secret = "webhook-secret-0123456789"

// Backend makes queues on one queue service for the suite.
type Backend struct {
	// NewQueues returns a fresh pair of queues, named as no other test's.
	// visibility is the longest a received message may stay hidden when
	// nothing hides it again: a service that ignores a receive's own
	// visibility timeout (goaws) sets its queue's to it.
	NewQueues func(t *testing.T, visibility time.Duration) *events.Queues
	// Empty reports whether the queue called name holds no message,
	// visible or hidden.
	Empty func(t *testing.T, name string) bool
	// Secrets are values (keys) that must never show in a dead letter or a
	// log line.
	Secrets []string
	// CountsReceives tells whether a message's DequeueCount grows with
	// each receive, so that attempts can be counted. goaws always says 1:
	// there, tests of dead-lettering use one attempt.
	CountsReceives bool
}

// Env is a fresh pair of queues with an outbox and metrics.
type Env struct {
	Backend Backend
	Queues  *events.Queues
	Reg     *prometheus.Registry
	Metrics *events.Metrics
	Outbox  *events.Outbox
}

var envSeq atomic.Int64

// NewEnv makes fresh queues on b; see Backend.NewQueues for visibility.
func NewEnv(t *testing.T, b Backend, visibility time.Duration) *Env {
	t.Helper()
	q := b.NewQueues(t, visibility)
	reg := prometheus.NewRegistry()
	m := events.NewMetrics(reg)
	return &Env{Backend: b, Queues: q, Reg: reg, Metrics: m, Outbox: &events.Outbox{Queue: q.Main, Metrics: m}}
}

// QueueName returns a queue name for a test, that no other test uses.
func QueueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, envSeq.Add(1))
}

// Enqueue stores one event for each id, for the global webhook.
func (e *Env) Enqueue(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		body, _ := json.Marshal(webhook.Payload{ID: id, Blob: "users/alice/" + id + ".jpg", Size: 3})
		if err := e.Outbox.Enqueue(context.Background(), events.Event{ID: id, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
}

// Metric returns a counter's value, or a histogram's count.
func (e *Env) Metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.Reg.Gather()
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

// Empty reports whether the events queue holds no message.
func (e *Env) Empty(t *testing.T) bool { return e.Backend.Empty(t, e.Queues.Name) }

// Attempts returns n where the backend counts receives, else 1: what a
// test of dead-lettering sets MaxAttempts to.
func (e *Env) Attempts(n int) int {
	if e.Backend.CountsReceives {
		return n
	}
	return 1
}

// Deliverer returns a Deliverer on e's queues that posts to url, with
// retries fast enough for a test, running until the test ends; tweak, if
// not nil, changes it first.
func (e *Env) Deliverer(t *testing.T, url string, log *zap.Logger, tweak func(*events.Deliverer)) *events.Deliverer {
	d := &events.Deliverer{
		Queues: e.Queues,
		Targets: func(target string) (events.Target, bool) {
			return events.Target{URL: url, Secret: []byte(Secret), Timeout: 5 * time.Second}, target == ""
		},
		MaxAttempts:       20,
		Backoff:           func(int) time.Duration { return 0 },
		VisibilityTimeout: 30 * time.Second,
		Batch:             8,
		Poll:              20 * time.Millisecond,
		Log:               log,
		Metrics:           e.Metrics,
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

// Receiver is a webhook that checks signatures and counts deliveries per
// event id. Fail decides, per delivery, whether to answer 503.
type Receiver struct {
	mu      sync.Mutex
	got     map[string]int
	refused map[string]int
	bad     int
	fail    func(id string, refusedSoFar int) bool
}

// NewReceiver starts a receiver, stopped when the test ends.
func NewReceiver(t *testing.T, fail func(id string, refusedSoFar int) bool) (*Receiver, *httptest.Server) {
	r := &Receiver{got: map[string]int{}, refused: map[string]int{}, fail: fail}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

// ServeHTTP takes one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(webhook.EventIDHeader)
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev webhook.Payload
	if err := webhook.Verify([]byte(Secret), req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil || json.Unmarshal(body, &ev) != nil || ev.ID != id {
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
}

// Counts returns the deliveries taken and refused per event id, and how
// many had a bad signature.
func (r *Receiver) Counts() (got map[string]int, refused map[string]int, bad int) {
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

// WaitFor polls cond until it holds, for at most 90 seconds.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// IDs returns n event ids that start with prefix.
func IDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}
