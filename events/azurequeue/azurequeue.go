// Package azurequeue keeps webhook events in Azure Queue Storage: it adapts a
// queue client to events.Queue, and makes, creates and checks the events
// queue and its dead-letter queue in an account's queue service. Package
// events knows queues only through events.Queue, so it links no Azure SDK.
package azurequeue

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/blobvalet/blobvalet/events"
)

// Queues are the events queue and its dead-letter queue in one queue
// service, which Ensure and Check look for.
type Queues struct {
	*events.Queues

	svc *azqueue.ServiceClient
}

// NewQueues returns the events queue called name and its dead-letter queue
// in the queue service svc.
func NewQueues(svc *azqueue.ServiceClient, name string) (*Queues, error) {
	if err := events.CheckName(name); err != nil {
		return nil, err
	}
	return &Queues{
		Queues: &events.Queues{
			Name: name,
			Main: New(svc.NewQueueClient(name)),
			Dead: New(svc.NewQueueClient(events.DeadLetterName(name))),
		},
		svc: svc,
	}, nil
}

// Ensure creates both queues where they are missing.
func (q *Queues) Ensure(ctx context.Context) error {
	for _, n := range []string{q.Name, events.DeadLetterName(q.Name)} {
		_, err := q.svc.CreateQueue(ctx, n, nil)
		if err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
			return fmt.Errorf("create queue %s: %w", n, err)
		}
	}
	return nil
}

// Check makes sure both queues exist, and says how to create a missing
// one in the storage account named account.
func (q *Queues) Check(ctx context.Context, account string) error {
	for _, n := range []string{q.Name, events.DeadLetterName(q.Name)} {
		_, err := q.svc.NewQueueClient(n).GetProperties(ctx, nil)
		if queueerror.HasCode(err, queueerror.QueueNotFound) {
			return fmt.Errorf("queue %s does not exist in storage account %s: create it with: az storage queue create --account-name %s --name %s --auth-mode login", n, account, account, n)
		}
		if err != nil {
			return fmt.Errorf("queue %s: %w", n, err)
		}
	}
	return nil
}

// New adapts an Azure Queue Storage client to events.Queue.
func New(c *azqueue.QueueClient) events.Queue { return queue{c} }

type queue struct{ c *azqueue.QueueClient }

func (q queue) Send(ctx context.Context, text string) error {
	// The default time to live is 7 days: an event must outlive any outage.
	_, err := q.c.EnqueueMessage(ctx, text, &azqueue.EnqueueMessageOptions{TimeToLive: to.Ptr(int32(-1))})
	return err
}

func (q queue) Receive(ctx context.Context, n int, hide time.Duration) ([]events.Message, error) {
	resp, err := q.c.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
		NumberOfMessages:  to.Ptr(int32(n)),
		VisibilityTimeout: to.Ptr(max(1, seconds(hide))),
	})
	if err != nil {
		return nil, err
	}
	out := make([]events.Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil || m.PopReceipt == nil || m.MessageText == nil {
			continue
		}
		msg := events.Message{ID: *m.MessageID, PopReceipt: *m.PopReceipt, Text: *m.MessageText}
		if m.DequeueCount != nil {
			msg.DequeueCount = *m.DequeueCount
		}
		if m.InsertionTime != nil {
			msg.Inserted = *m.InsertionTime
		}
		out = append(out, msg)
	}
	return out, nil
}

func (q queue) Hide(ctx context.Context, m events.Message, d time.Duration) error {
	_, err := q.c.UpdateMessage(ctx, m.ID, m.PopReceipt, m.Text, &azqueue.UpdateMessageOptions{VisibilityTimeout: to.Ptr(seconds(d))})
	return lost(err)
}

func (q queue) Delete(ctx context.Context, m events.Message) error {
	_, err := q.c.DeleteMessage(ctx, m.ID, m.PopReceipt, nil)
	return lost(err)
}

// lost marks err with events.ErrMessageLost when it means another receiver
// took the message over (its visibility timeout had passed) or already
// removed it.
func lost(err error) error {
	if queueerror.HasCode(err, queueerror.MessageNotFound, queueerror.PopReceiptMismatch) {
		return fmt.Errorf("%w: %w", events.ErrMessageLost, err)
	}
	return err
}

// seconds rounds d up to whole seconds, the queue's unit, at most 7 days.
func seconds(d time.Duration) int32 {
	const week = 7 * 24 * time.Hour
	if d <= 0 {
		return 0
	}
	d = min(d, week)
	return int32((d + time.Second - 1) / time.Second)
}
