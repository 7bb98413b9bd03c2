package events

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
)

// Queue is the part of a storage queue that events use. AzureQueue gives
// the real one; unit tests use fakes.
type Queue interface {
	// Send stores a message that never expires.
	Send(ctx context.Context, text string) error
	// Receive takes up to n visible messages and hides them for hide.
	Receive(ctx context.Context, n int, hide time.Duration) ([]Message, error)
	// Hide makes a received message invisible for d from now (0: visible
	// at once), keeping its text.
	Hide(ctx context.Context, m Message, d time.Duration) error
	// Delete removes a received message.
	Delete(ctx context.Context, m Message) error
}

// Message is a received queue message.
type Message struct {
	ID, PopReceipt, Text string
	// DequeueCount is how many times the message has been received,
	// this time included: the delivery attempt's number.
	DequeueCount int64
	// Inserted is when the message was stored.
	Inserted time.Time
}

// DeadLetterSuffix ends the dead-letter queue's name: events queue
// "blobvalet-events" has dead letters in "blobvalet-events-dead".
const DeadLetterSuffix = "-dead"

// DeadLetterName returns the dead-letter queue's name for queue name.
func DeadLetterName(name string) string { return name + DeadLetterSuffix }

// Azure queue names: 3 to 63 lowercase letters, digits and single hyphens,
// starting and ending with a letter or digit. The dead-letter name must fit
// too.
var queueName = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9])*$`)

// CheckName tells whether name can name the events queue: a valid Azure
// queue name that leaves room for the dead-letter suffix.
func CheckName(name string) error {
	if !queueName.MatchString(name) || len(name) < 3 || len(name)+len(DeadLetterSuffix) > 63 {
		return fmt.Errorf("queue name %q: want 3 to %d lowercase letters, digits and single hyphens, starting and ending with a letter or digit", name, 63-len(DeadLetterSuffix))
	}
	return nil
}

// Queues is the events queue and its dead-letter queue.
type Queues struct {
	// Name is the events queue's name; the dead-letter queue's is
	// DeadLetterName(Name).
	Name string
	// Main holds events waiting for delivery; Dead, the ones given up on.
	Main, Dead Queue

	svc *azqueue.ServiceClient
}

// NewQueues returns the events queue called name and its dead-letter queue
// in the queue service svc.
func NewQueues(svc *azqueue.ServiceClient, name string) (*Queues, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return &Queues{
		Name: name,
		Main: AzureQueue(svc.NewQueueClient(name)),
		Dead: AzureQueue(svc.NewQueueClient(DeadLetterName(name))),
		svc:  svc,
	}, nil
}

// Ensure creates both queues where they are missing.
func (q *Queues) Ensure(ctx context.Context) error {
	if q.svc == nil {
		return errNoQueues
	}
	for _, n := range []string{q.Name, DeadLetterName(q.Name)} {
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
	if q.svc == nil {
		return errNoQueues
	}
	for _, n := range []string{q.Name, DeadLetterName(q.Name)} {
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

// AzureQueue adapts an Azure Queue Storage client to Queue.
func AzureQueue(c *azqueue.QueueClient) Queue { return azureQueue{c} }

type azureQueue struct{ c *azqueue.QueueClient }

func (q azureQueue) Send(ctx context.Context, text string) error {
	// The default time to live is 7 days: an event must outlive any outage.
	_, err := q.c.EnqueueMessage(ctx, text, &azqueue.EnqueueMessageOptions{TimeToLive: to.Ptr(int32(-1))})
	return err
}

func (q azureQueue) Receive(ctx context.Context, n int, hide time.Duration) ([]Message, error) {
	resp, err := q.c.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
		NumberOfMessages:  to.Ptr(int32(n)),
		VisibilityTimeout: to.Ptr(max(1, seconds(hide))),
	})
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil || m.PopReceipt == nil || m.MessageText == nil {
			continue
		}
		msg := Message{ID: *m.MessageID, PopReceipt: *m.PopReceipt, Text: *m.MessageText}
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

func (q azureQueue) Hide(ctx context.Context, m Message, d time.Duration) error {
	_, err := q.c.UpdateMessage(ctx, m.ID, m.PopReceipt, m.Text, &azqueue.UpdateMessageOptions{VisibilityTimeout: to.Ptr(seconds(d))})
	return err
}

func (q azureQueue) Delete(ctx context.Context, m Message) error {
	_, err := q.c.DeleteMessage(ctx, m.ID, m.PopReceipt, nil)
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

// lostMessage tells whether err means another receiver took the message
// over (its visibility timeout had passed) or already removed it.
func lostMessage(err error) bool {
	return queueerror.HasCode(err, queueerror.MessageNotFound, queueerror.PopReceiptMismatch)
}
