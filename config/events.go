package config

import (
	"fmt"
	"strings"

	"github.com/blobvalet/blobvalet/events"
)

// DefaultEventsQueue is the events queue's name when webhook.queue is not
// set.
const DefaultEventsQueue = "blobvalet-events"

// Events says where webhook events wait for delivery: one queue for every
// webhook, the global one and the rules' own, in the storage account's
// Queue service or, with SQS set, in Amazon SQS.
type Events struct {
	// Queue is the events queue; dead letters are in
	// events.DeadLetterName(Queue).
	Queue string
	// Endpoint is the Queue service URL, no trailing slash (Azure only).
	Endpoint string
	// MaxAttempts is how many times an event is posted before it is
	// dead-lettered.
	MaxAttempts int
	// SQS is set when the queue is on Amazon SQS (events.kind sqs); then
	// Queue is the queue's name, taken from its URL, and Endpoint is "".
	SQS *EventsQueue
}

// Events returns the events queue, or nil when no webhook is configured
// (then no event is stored or delivered).
func (c *Config) Events() *Events {
	if !c.hasWebhook() {
		return nil
	}
	e := &Events{Queue: DefaultEventsQueue, Endpoint: c.Storage.QueueEndpoint, MaxAttempts: events.DefaultMaxAttempts}
	if w := c.Webhook; w != nil {
		if w.Queue != "" {
			e.Queue = w.Queue
		}
		if w.MaxAttempts != 0 {
			e.MaxAttempts = w.MaxAttempts
		}
	}
	if q := &c.EventsQueue; q.IsSQS() {
		e.Queue, e.Endpoint, e.SQS = q.url.Name, "", q
	}
	return e
}

func (c *Config) hasWebhook() bool {
	if c.Webhook != nil {
		return true
	}
	for _, r := range c.Rules {
		if r.Webhook != nil {
			return true
		}
	}
	return false
}

// completeQueueEndpoint defaults and checks storage.queue_endpoint.
func (s *Storage) completeQueueEndpoint(p *problems) {
	if s.QueueEndpoint == "" {
		if s.Account != "" {
			s.QueueEndpoint = DefaultQueueEndpoint(s.Account)
		}
		return
	}
	s.QueueEndpoint = strings.TrimSuffix(s.QueueEndpoint, "/")
	if err := checkEndpoint(s.QueueEndpoint); err != nil {
		p.add("storage.queue_endpoint", "%v", strings.Replace(err.Error(), ".blob.", ".queue.", 1))
	}
}

// completeEvents checks the queue settings of the global webhook, and
// that no rule's webhook sets them: there is one events queue.
func (c *Config) completeEvents(p *problems, getenv func(string) string) {
	c.EventsQueue.complete(p, getenv)
	if w := c.Webhook; w != nil {
		if w.Queue != "" && c.EventsQueue.IsSQS() {
			p.add("webhook.queue", "names an Azure queue; with events.kind sqs the queue is events.queue_url")
		} else if w.Queue != "" {
			if err := events.CheckName(w.Queue); err != nil {
				p.add("webhook.queue", "%v", err)
			}
		}
		if w.MaxAttempts < 0 || w.MaxAttempts > MaxWebhookAttempts {
			p.add("webhook.max_attempts", "want between 1 and %d, got %d", MaxWebhookAttempts, w.MaxAttempts)
		}
	}
	for i, r := range c.Rules {
		if w := r.Webhook; w != nil && (w.Queue != "" || w.MaxAttempts != 0) {
			p.add(fmt.Sprintf("rules[%d].webhook", i), "queue and max_attempts are set once for every webhook, under the global webhook:, not per rule")
		}
	}
}

// MaxWebhookAttempts caps webhook.max_attempts: with the default backoff,
// 100 attempts span more than a day.
const MaxWebhookAttempts = 100
