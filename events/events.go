// Package events keeps webhook events in a storage queue (Azure Queue
// Storage, through package events/azurequeue) until the webhook has taken
// them: an Outbox stores each event durably before the upload-success
// request is answered, and Deliverers, one in each running instance, take
// events off the queue and post them, signed, with exponential backoff. Instances share the work through the queue's
// visibility timeout and need no coordination of their own. An event that
// the webhook keeps refusing moves to a dead-letter queue, from where it
// can be listed and sent again.
//
// A queue message holds the event's id, its body (the JSON the webhook
// receives) and a target: the name of the rule whose webhook it goes to, or
// "" for the global one. The deliverer maps the target to a URL and secret
// from the configuration it runs with, so no secret is ever stored in a
// queue, and a changed URL or rotated secret applies to events already
// waiting.
package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Event is one event as it waits in the queue.
type Event struct {
	// ID identifies the event; it is the same on every repeat of the same
	// upload, so that receivers can drop duplicates.
	ID string
	// Target names the webhook the event goes to: a rule's name, or "" for
	// the global webhook.
	Target string
	// Body is the JSON document posted to the webhook, signed at delivery.
	Body json.RawMessage
}

// MaxMessageSize is the largest queue message Azure Queue Storage accepts:
// 64 KiB of text. An event is stored as base64 of its JSON envelope, and
// must leave room for what its dead letter adds (see CheckEvent), so its
// body can be about 44 KiB.
const MaxMessageSize = 64 << 10

// MaxDeadLetterError is how much of the last attempt's error a dead letter
// keeps, in bytes; longer errors are cut and say so.
const MaxDeadLetterError = 512

// envelope is the JSON stored, base64-encoded, in a queue message. Attempts,
// Error, DeadAt and Truncated are set only in the dead-letter queue.
type envelope struct {
	V        int             `json:"v"`
	ID       string          `json:"id"`
	Target   string          `json:"target,omitempty"`
	Body     json.RawMessage `json:"body"`
	Attempts int             `json:"attempts,omitempty"`
	Error    string          `json:"error,omitempty"`
	DeadAt   *time.Time      `json:"deadAt,omitempty"`
	// Truncated is the size of a body too large to keep in a dead letter,
	// which then holds null instead (only events stored before
	// CheckEvent sized them for their dead letter).
	Truncated int `json:"truncated,omitempty"`
}

// ErrTooLarge means an event does not fit in one queue message, together
// with what its dead letter adds.
var ErrTooLarge = errors.New("events: event larger than a queue message")

// CheckEvent tells whether ev can be stored: an id, a JSON body, and a size
// that leaves room, within one queue message, for everything its dead
// letter adds (attempts, time, the last error at its longest, escaped at
// its worst). So every event that is stored can also be dead-lettered whole,
// and never comes back forever for want of room. It does no I/O: callers
// check an event before they do anything that cannot be undone.
func CheckEvent(ev Event) error {
	if ev.ID == "" || !json.Valid(ev.Body) {
		return fmt.Errorf("events: an event needs an id and a JSON body")
	}
	latest := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	worst := envelope{
		ID: ev.ID, Target: ev.Target, Body: ev.Body,
		Attempts: math.MaxInt, Error: strings.Repeat("\x00", MaxDeadLetterError), DeadAt: &latest,
	}
	if _, err := encode(worst); err != nil {
		return fmt.Errorf("%w (with room for its dead letter); the body is %d bytes", err, len(ev.Body))
	}
	return nil
}

// clipError cuts an attempt's error to MaxDeadLetterError bytes, on a rune
// boundary, saying how much was cut.
func clipError(s string) string {
	if len(s) <= MaxDeadLetterError {
		return s
	}
	const more = "…[cut]"
	n := MaxDeadLetterError - len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}

func encode(e envelope) (string, error) {
	e.V = 1
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("events: encode event %s: %w", e.ID, err)
	}
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) > MaxMessageSize {
		return "", fmt.Errorf("%w: event %s is %d bytes encoded, at most %d", ErrTooLarge, e.ID, len(s), MaxMessageSize)
	}
	return s, nil
}

func decode(text string) (envelope, error) {
	var e envelope
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return e, fmt.Errorf("events: message is not base64: %w", err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("events: message is not an event: %w", err)
	}
	if e.V != 1 || e.ID == "" || len(e.Body) == 0 {
		return e, fmt.Errorf("events: message is not a version 1 event with an id and a body")
	}
	return e, nil
}

// Outbox stores events durably in the queue. Enqueue returns once Azure
// Queue Storage holds the event: from then on it survives a crash of this
// instance and is delivered by any instance's Deliverer.
type Outbox struct {
	// Queue is the events queue.
	Queue Queue
	// Metrics, if set, count queued events.
	Metrics *Metrics
}

// Enqueue stores ev. The caller's context bounds the storage call; on error
// the event is not stored and the caller must not report success.
func (o *Outbox) Enqueue(ctx context.Context, ev Event) error {
	if err := CheckEvent(ev); err != nil {
		return err
	}
	text, err := encode(envelope{ID: ev.ID, Target: ev.Target, Body: ev.Body})
	if err != nil {
		return err
	}
	if err := o.Queue.Send(ctx, text); err != nil {
		return fmt.Errorf("events: store event %s: %w", ev.ID, err)
	}
	if o.Metrics != nil {
		o.Metrics.queued.Inc()
	}
	return nil
}

// Metrics count what the outbox and the deliverers do.
type Metrics struct {
	queued, delivered, retried, deadLettered prometheus.Counter
	deadLetterFailed                         prometheus.Counter
	latency                                  prometheus.Histogram
}

// NewMetrics registers the events metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_events_queued_total",
			Help: "Webhook events stored in the events queue.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_events_delivered_total",
			Help: "Webhook events the webhook answered with 2xx.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_events_retried_total",
			Help: "Failed webhook deliveries that will be tried again after a backoff.",
		}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_events_dead_lettered_total",
			Help: "Webhook events moved to the dead-letter queue after the last attempt.",
		}),
		deadLetterFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blobvalet_events_dead_letter_failures_total",
			Help: "Events that could not be moved to the dead-letter queue after their last attempt; each stays in the events queue and is tried again.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "blobvalet_events_delivery_seconds",
			Help:    "Time the webhook took to answer one delivery attempt.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60},
		}),
	}
	reg.MustRegister(m.queued, m.delivered, m.retried, m.deadLettered, m.deadLetterFailed, m.latency)
	return m
}
