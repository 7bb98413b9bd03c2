package azurequeue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/azurequeue"
	"github.com/blobvalet/blobvalet/events/eventstest"
)

// TestContract runs the events queue's contract on Azurite.
func TestContract(t *testing.T) {
	az := azuritetest.StartWithQueue(t)
	eventstest.Run(t, backend(t, az))
}

// backend makes queues in Azurite's queue service. Azure honours each
// receive's visibility timeout, so the queues need none of their own.
func backend(t *testing.T, az *azurite.Server) eventstest.Backend {
	svc := serviceClient(t, az)
	return eventstest.Backend{
		NewQueues: func(t *testing.T, _ time.Duration) *events.Queues {
			t.Helper()
			q, err := azurequeue.NewQueues(svc, eventstest.QueueName("events"))
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
			return q.Queues
		},
		Empty: func(t *testing.T, name string) bool {
			p, err := svc.NewQueueClient(name).GetProperties(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return p.ApproximateMessagesCount != nil && *p.ApproximateMessagesCount == 0
		},
		Secrets:        []string{az.Key()},
		CountsReceives: true,
	}
}

func serviceClient(t *testing.T, az *azurite.Server) *azqueue.ServiceClient {
	t.Helper()
	cred, err := azqueue.NewSharedKeyCredential(az.Account(), az.Key())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential(az.QueueEndpoint()+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
