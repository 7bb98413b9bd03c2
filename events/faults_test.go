package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/azurequeue"
	"github.com/blobvalet/blobvalet/internal/faultproxy"
)

// TestReceiverUnreachableThenBack: the webhook's host refuses connections
// until every event has failed at least twice, then comes back: every event
// arrives, none is dead-lettered.
func TestReceiverUnreachableThenBack(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	all := ids("unreachable", 20)
	e.enqueue(t, all...)
	r, srv := newReceiver(t, nil)
	p, err := faultproxy.Start(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Set(faultproxy.Refuse, 0); err != nil {
		t.Fatal(err)
	}
	e.deliverer(t, "http://"+p.Addr()+"/hook", nil, func(d *events.Deliverer) { d.MaxAttempts = 1000 })
	waitFor(t, "two failed attempts an event", func() bool { return e.metric(t, "blobvalet_events_retried_total") >= 40 })
	if got, _, _ := r.counts(); len(got) != 0 {
		t.Fatalf("delivered %v while unreachable", got)
	}
	if err := p.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every event delivered", func() bool { got, _, _ := r.counts(); return len(got) == len(all) })
	waitFor(t, "the queue to empty", func() bool { return queueEmpty(t, e.svc, e.queues.Name) })
	if n := e.metric(t, "blobvalet_events_dead_lettered_total"); n != 0 {
		t.Fatalf("%v dead letters", n)
	}
	t.Logf("20 events, %v failed attempts while unreachable, all delivered after", e.metric(t, "blobvalet_events_retried_total"))
}

// TestStorageFaults: with the queue service resetting, hanging and refusing,
// Enqueue fails within its caller's deadline (so nobody is told an event
// is stored when it is not), the Deliverer keeps going, and once storage is
// back every stored event is delivered.
func TestStorageFaults(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := newEnv(t, az)
	all := ids("storage", 20)
	e.enqueue(t, all...)

	host := strings.TrimPrefix(strings.TrimSuffix(az.QueueEndpoint(), "/"+az.Account()), "http://")
	p, err := faultproxy.Start(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cred, _ := azqueue.NewSharedKeyCredential(az.Account(), az.Key())
	opts := &azqueue.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{
		MaxRetries: 1, TryTimeout: time.Second, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond,
	}}}
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential("http://"+p.Addr()+"/"+az.Account()+"/", cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	viaProxy, err := azurequeue.NewQueues(svc, e.queues.Name)
	if err != nil {
		t.Fatal(err)
	}
	outbox := &events.Outbox{Queue: viaProxy.Main}
	ctx := context.Background()

	for _, m := range []faultproxy.Mode{faultproxy.Reset, faultproxy.BlackHole, faultproxy.Refuse} {
		if err := p.Set(m, 0); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := outbox.Enqueue(cctx, events.Event{ID: "never-" + m.String(), Body: []byte(`{}`)})
		cancel()
		if err == nil {
			t.Fatalf("Enqueue succeeded with storage in %v", m)
		}
		if m == faultproxy.BlackHole && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Enqueue in %v: %v, want the caller's deadline", m, err)
		}
	}

	r, srv := newReceiver(t, nil)
	if err := p.Set(faultproxy.Reset, 0); err != nil {
		t.Fatal(err)
	}
	e.deliverer(t, srv.URL, nil, func(d *events.Deliverer) {
		d.Queues = viaProxy.Queues
		// A receive whose answer the fault swallowed hides its events for
		// this long.
		d.VisibilityTimeout = 3 * time.Second
	})
	waitFor(t, "the deliverer to try storage", func() bool { return p.Accepted() >= 3 })
	if err := p.Set(faultproxy.BlackHole, 0); err != nil {
		t.Fatal(err)
	}
	before := p.Accepted()
	waitFor(t, "the deliverer to give up on a hung storage and try again", func() bool { return p.Accepted() >= before+2 })
	if err := p.Set(faultproxy.Delay, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a delivery through slow storage", func() bool { got, _, _ := r.counts(); return len(got) >= 1 })
	if err := p.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitFor(t, "every event delivered", func() bool { got, _, _ := r.counts(); return len(got) == len(all) })
	got, _, _ := r.counts()
	t.Logf("all delivered %v after storage came back", time.Since(back).Round(time.Millisecond))
	for id := range got {
		if strings.HasPrefix(id, "never-") {
			t.Errorf("%s was delivered though Enqueue failed", id)
		}
	}
	t.Logf("20 events through reset, hung and slow storage: delivered %d distinct, %d connections to storage", len(got), p.Accepted())
}
