package events

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Queue is the part of a storage queue that events use. Package
// events/azurequeue gives Azure Queue Storage's; unit tests use fakes.
type Queue interface {
	// Send stores a message that never expires.
	Send(ctx context.Context, text string) error
	// Receive takes up to n visible messages and hides them for hide.
	Receive(ctx context.Context, n int, hide time.Duration) ([]Message, error)
	// Hide makes a received message invisible for d from now (0: visible
	// at once), keeping its text. Its error wraps ErrMessageLost if the
	// message is no longer the receiver's.
	Hide(ctx context.Context, m Message, d time.Duration) error
	// Delete removes a received message. Its error wraps ErrMessageLost if
	// the message is no longer the receiver's.
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
}

// ErrMessageLost means a received message is no longer the receiver's to
// hide or delete: another receiver took it over once its visibility
// timeout had passed, or already removed it.
var ErrMessageLost = errors.New("events: queue message taken over or removed")

// lostMessage tells whether err means the message was lost to another
// receiver.
func lostMessage(err error) bool { return errors.Is(err, ErrMessageLost) }
