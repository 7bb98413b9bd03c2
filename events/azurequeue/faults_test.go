package azurequeue_test

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
	"github.com/blobvalet/blobvalet/events/eventstest"
	"github.com/blobvalet/blobvalet/internal/faultproxy"
)

// TestStorageFaults: with the queue service resetting, hanging and refusing,
// Enqueue fails within its caller's deadline (so nobody is told an event
// is stored when it is not), the Deliverer keeps going, and once storage is
// back every stored event is delivered.
func TestStorageFaults(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	e := eventstest.NewEnv(t, backend(t, az), 30*time.Second)
	all := eventstest.IDs("storage", 20)
	e.Enqueue(t, all...)

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
	viaProxy, err := azurequeue.NewQueues(svc, e.Queues.Name)
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

	r, srv := eventstest.NewReceiver(t, nil)
	if err := p.Set(faultproxy.Reset, 0); err != nil {
		t.Fatal(err)
	}
	e.Deliverer(t, srv.URL, nil, func(d *events.Deliverer) {
		d.Queues = viaProxy.Queues
		// A receive whose answer the fault swallowed hides its events for
		// this long.
		d.VisibilityTimeout = 3 * time.Second
	})
	eventstest.WaitFor(t, "the deliverer to try storage", func() bool { return p.Accepted() >= 3 })
	if err := p.Set(faultproxy.BlackHole, 0); err != nil {
		t.Fatal(err)
	}
	before := p.Accepted()
	eventstest.WaitFor(t, "the deliverer to give up on a hung storage and try again", func() bool { return p.Accepted() >= before+2 })
	if err := p.Set(faultproxy.Delay, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventstest.WaitFor(t, "a delivery through slow storage", func() bool { got, _, _ := r.Counts(); return len(got) >= 1 })
	if err := p.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	eventstest.WaitFor(t, "every event delivered", func() bool { got, _, _ := r.Counts(); return len(got) == len(all) })
	got, _, _ := r.Counts()
	t.Logf("all delivered %v after storage came back", time.Since(back).Round(time.Millisecond))
	for id := range got {
		if strings.HasPrefix(id, "never-") {
			t.Errorf("%s was delivered though Enqueue failed", id)
		}
	}
	t.Logf("20 events through reset, hung and slow storage: delivered %d distinct, %d connections to storage", len(got), p.Accepted())
}
