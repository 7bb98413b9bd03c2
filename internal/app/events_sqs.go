package app

import (
	"context"
	"fmt"
	"time"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/sqs"
)

// How webhook events reach Amazon SQS (events.kind sqs), for serve, check
// and the events command. The queues are the operator's: blobvalet checks
// that they exist and answer, and never creates them.

// eventsQueues are the events queue and its dead-letter queue on whichever
// service the configuration names, with what readiness asks of them.
type eventsQueues struct {
	*events.Queues
	// check asks whether both queues exist and answer.
	check func(ctx context.Context) error
	// warnings say what works but is not as recommended, found at start.
	warnings []string
}

// sqsTryTimeout bounds one SQS request of serve: the storage try timeout
// of the success budget, and at least long enough for a receive's long
// poll (one second) and an answer.
func sqsTryTimeout(budget time.Duration) time.Duration {
	return max(storageTryTimeout(budget), 5*time.Second)
}

// sqsEventQueues returns the SQS events queues that q names, checked
// unless check is false; budget is the success budget, which a stored
// event must fit in.
func sqsEventQueues(ctx context.Context, q *config.EventsQueue, maxAttempts int, budget time.Duration, check bool) (*eventsQueues, error) {
	opts := q.SQSOptions()
	opts.TryTimeout = sqsTryTimeout(budget)
	opts.RetryMaxAttempts = storageMaxRetries + 1
	client, err := sqs.NewClient(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	queues := sqs.NewQueues(client, opts.QueueURL)
	eq := &eventsQueues{Queues: queues.Queues, check: func(ctx context.Context) error {
		_, err := queues.Check(ctx, maxAttempts)
		return err
	}}
	if !check {
		return eq, nil
	}
	cctx, cancel := within(ctx, startCheckTimeout)
	defer cancel()
	r, err := queues.Check(cctx, maxAttempts)
	if err != nil {
		return nil, fmt.Errorf("webhook events on %s: %w", q, err)
	}
	eq.warnings = r.Warnings
	return eq, nil
}

// OpenEventQueues returns the events queues of cfg's SQS configuration,
// checked, for the events command; ok is false when cfg keeps its events
// in Azure Queue Storage.
func OpenEventQueues(ctx context.Context, cfg *config.Config) (queues *events.Queues, ok bool, err error) {
	q := &cfg.EventsQueue
	if !q.IsSQS() {
		return nil, false, nil
	}
	maxAttempts := events.DefaultMaxAttempts
	if ev := cfg.Events(); ev != nil {
		maxAttempts = ev.MaxAttempts
	}
	eq, err := sqsEventQueues(ctx, q, maxAttempts, cfg.Success.Timeout.Duration(), true)
	if err != nil {
		return nil, true, err
	}
	return eq.Queues, true, nil
}
