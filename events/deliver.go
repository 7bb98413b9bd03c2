package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/webhook"
)

// Target is where the events of one target name go.
type Target struct {
	// URL receives the POST.
	URL string
	// Secret signs the body (see webhook.Sign).
	Secret []byte
	// Timeout bounds one attempt; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Defaults of a Deliverer's zero fields.
const (
	DefaultMaxAttempts = 10
	DefaultTimeout     = 5 * time.Second
	DefaultVisibility  = 60 * time.Second
	DefaultBatch       = 16
	DefaultPoll        = 2 * time.Second
)

// DefaultBackoff spaces attempts 10 s, 20 s, 40 s … apart, at most 15
// minutes, with jitter: ten attempts span about two hours.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Max: 15 * time.Minute}.Delay

// Backoff is exponential backoff with jitter, capped.
type Backoff struct {
	// Base is the delay after the first failed attempt; each further
	// attempt doubles it.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
	// Rand returns a number in [0,1); nil means math/rand/v2.
	Rand func() float64
}

// Delay returns how long to wait after failed attempt number attempt (1 for
// the first): Base·2^(attempt-1), capped at Max, less up to half of it at
// random, so that events that failed together do not come back together.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d - time.Duration(r()*float64(d/2))
}

// Deliverer takes events off the queue and posts them to their webhooks.
// Any number of Deliverers, in one process or many, may share a queue: a
// received message is invisible to the others until its visibility timeout
// passes, and each failed attempt sets that timeout to the backoff, so
// retries are spaced out wherever they run. Delivery is at least once: an
// event can reach its webhook twice (an instance dies after the webhook
// answered, or an attempt outlasts the visibility timeout); receivers drop
// duplicates by event id.
type Deliverer struct {
	// Queues are the events queue and its dead-letter queue.
	Queues *Queues
	// Targets maps an event's target to its webhook, from the current
	// configuration; false means there is none, which counts as a failed
	// attempt.
	Targets func(target string) (Target, bool)
	// Client posts the events; nil means a plain client. It never follows
	// a redirect: a 3xx answer is a failed attempt, and the signed body goes
	// to the configured URL only.
	Client *http.Client
	// MaxAttempts is the number of attempts before an event moves to the
	// dead-letter queue; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Backoff returns how long to wait after failed attempt number n;
	// nil means DefaultBackoff. The queue counts in whole seconds.
	Backoff func(n int) time.Duration
	// VisibilityTimeout hides a received event from other Deliverers while
	// it is being posted: it must exceed the longest target timeout. 0
	// means DefaultVisibility.
	VisibilityTimeout time.Duration
	// Batch is how many events to receive at once, at most 32; they are
	// posted concurrently. 0 means DefaultBatch.
	Batch int
	// Poll is how long to wait after finding the queue empty or failing to
	// read it; 0 means DefaultPoll.
	Poll time.Duration
	// Log receives one line per attempt; nil logs nothing.
	Log *zap.Logger
	// Metrics, if set, count deliveries, retries and dead letters.
	Metrics *Metrics
	// Now is the clock that signs and times; nil means time.Now.
	Now func() time.Time

	clientOnce sync.Once
	client     *http.Client
}

// Run delivers events until ctx ends. A failure to read the queue is
// logged and tried again after Poll; Run returns only when ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log().Warn("events queue unreadable", zap.String("queue", d.Queues.Name), zap.Error(err))
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(d.poll()):
			}
		}
	}
}

// RunOnce receives one batch of events and makes one attempt at each. It
// returns how many it received.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	msgs, err := d.Queues.Main.Receive(ctx, d.batch(), d.visibility())
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.attempt(ctx, m)
		}()
	}
	wg.Wait()
	return len(msgs), nil
}

// attempt posts one event and then deletes it, hides it for the backoff,
// or moves it to the dead-letter queue.
func (d *Deliverer) attempt(ctx context.Context, m Message) {
	log := d.log().With(zap.String("queue_message", m.ID), zap.Int64("attempt", m.DequeueCount))
	env, err := decode(m.Text)
	if err != nil {
		// Nothing can ever deliver it: keep it where a person can look.
		d.deadLetter(ctx, log, m, envelope{ID: "message-" + m.ID, Body: []byte(`null`)}, err)
		return
	}
	log = log.With(zap.String("event", env.ID), zap.String("target", env.Target))
	err = d.post(ctx, env)
	if ctx.Err() != nil {
		// Shutting down: the event comes back when its visibility ends.
		return
	}
	if err == nil {
		if derr := d.Queues.Main.Delete(ctx, m); derr != nil && !lostMessage(derr) {
			log.Warn("event delivered but not removed from the queue: it will be delivered again", zap.Error(derr))
		}
		if d.Metrics != nil {
			d.Metrics.delivered.Inc()
		}
		log.Info("event delivered")
		return
	}
	if int(m.DequeueCount) >= d.maxAttempts() {
		d.deadLetter(ctx, log, m, env, err)
		return
	}
	wait := d.backoff(int(m.DequeueCount))
	if herr := d.Queues.Main.Hide(ctx, m, wait); herr != nil && !lostMessage(herr) {
		log.Warn("event delivery failed; its backoff could not be set, it comes back after the visibility timeout", zap.NamedError("delivery", err), zap.Error(herr))
	} else {
		log.Warn("event delivery failed; will try again", zap.Error(err), zap.Duration("retry_in", wait))
	}
	if d.Metrics != nil {
		d.Metrics.retried.Inc()
	}
}

// deadLetter stores env in the dead-letter queue, then removes m from the
// events queue. If either step fails the event stays in the events queue
// and comes back: it may then be dead-lettered twice, never lost. Every
// event stored by this version fits whole (CheckEvent); one stored before
// that does not is dead-lettered without its body, saying so, rather than
// read again forever.
func (d *Deliverer) deadLetter(ctx context.Context, log *zap.Logger, m Message, env envelope, cause error) {
	now := d.now().UTC()
	env.Attempts, env.Error, env.DeadAt = int(m.DequeueCount), clipError(cause.Error()), &now
	text, err := encode(env)
	if err != nil {
		n := len(env.Body)
		env.ID, env.Target, env.Body, env.Truncated = clipError(env.ID), clipError(env.Target), json.RawMessage(`null`), n
		env.Error = fmt.Sprintf("body of %d bytes not kept: too large for a dead letter; last error: %s", n, env.Error)
		if text, err = encode(env); err != nil {
			d.deadLetterFailed(log, "event cannot be dead-lettered; it stays in the events queue", cause, err)
			return
		}
		log.Warn("event too large for a dead letter: dead-lettered without its body", zap.Int("body_bytes", n))
	}
	if err := d.Queues.Dead.Send(ctx, text); err != nil {
		d.deadLetterFailed(log, "event could not be dead-lettered; it stays in the events queue", cause, err)
		return
	}
	if err := d.Queues.Main.Delete(ctx, m); err != nil && !lostMessage(err) {
		log.Warn("dead-lettered event not removed from the events queue", zap.Error(err))
	}
	if d.Metrics != nil {
		d.Metrics.deadLettered.Inc()
	}
	log.Error("event dead-lettered after its last attempt", zap.Error(cause), zap.String("dead_letter_queue", DeadLetterName(d.Queues.Name)))
}

// deadLetterFailed logs and counts, once per attempt, an event that could
// not be moved to the dead-letter queue.
func (d *Deliverer) deadLetterFailed(log *zap.Logger, msg string, cause, err error) {
	if d.Metrics != nil {
		d.Metrics.deadLetterFailed.Inc()
	}
	log.Error(msg, zap.NamedError("delivery", cause), zap.Error(err))
}

// post makes one delivery attempt. Its error never holds the URL (which may
// carry a token) or the secret.
func (d *Deliverer) post(ctx context.Context, env envelope) error {
	t, ok := d.Targets(env.Target)
	if !ok {
		return fmt.Errorf("no webhook configured for target %q", env.Target)
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(env.Body))
	if err != nil {
		return errors.New("webhook URL is not valid")
	}
	start := d.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(t.Secret, start, env.Body))
	req.Header.Set(webhook.EventIDHeader, env.ID)
	resp, err := d.httpClient().Do(req)
	if d.Metrics != nil {
		d.Metrics.latency.Observe(d.now().Sub(start).Seconds())
	}
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return fmt.Errorf("webhook answered %d: redirects are not followed", resp.StatusCode)
	default:
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
}

// httpClient is Client, or a plain client, made never to follow redirects.
func (d *Deliverer) httpClient() *http.Client {
	d.clientOnce.Do(func() {
		c := &http.Client{}
		if d.Client != nil {
			*c = *d.Client
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		d.client = c
	})
	return d.client
}

func (d *Deliverer) log() *zap.Logger {
	if d.Log == nil {
		return zap.NewNop()
	}
	return d.Log
}

func (d *Deliverer) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Deliverer) maxAttempts() int {
	if d.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return d.MaxAttempts
}

func (d *Deliverer) backoff(n int) time.Duration {
	if d.Backoff == nil {
		return DefaultBackoff(n)
	}
	return d.Backoff(n)
}

func (d *Deliverer) visibility() time.Duration {
	if d.VisibilityTimeout <= 0 {
		return DefaultVisibility
	}
	return d.VisibilityTimeout
}

func (d *Deliverer) batch() int {
	if d.Batch <= 0 {
		return DefaultBatch
	}
	return min(d.Batch, 32)
}

func (d *Deliverer) poll() time.Duration {
	if d.Poll <= 0 {
		return DefaultPoll
	}
	return d.Poll
}
