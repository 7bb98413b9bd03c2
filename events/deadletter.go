package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// DeadLetter is an event the webhook did not take within its attempts.
type DeadLetter struct {
	// ID and Target are the event's.
	ID     string `json:"id"`
	Target string `json:"target"`
	// Attempts is how many times it was posted.
	Attempts int `json:"attempts"`
	// Error is the last attempt's failure.
	Error string `json:"error"`
	// DeadAt is when it was given up on.
	DeadAt time.Time `json:"deadAt"`
	// Body is the event's JSON; null when it was too large to keep.
	Body json.RawMessage `json:"body"`
	// Truncated is the size of a body too large to keep, or 0.
	Truncated int `json:"truncated,omitempty"`
}

// scanHide hides dead letters while a List or Replay reads the queue past
// them; they are made visible again when it ends.
const scanHide = 2 * time.Minute

// List returns the dead letters. It reads the whole dead-letter queue,
// which is meant to stay small, and leaves it as it was.
func (q *Queues) List(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	err := q.scanDead(ctx, func(m Message, env envelope, ok bool) (bool, error) {
		if ok {
			out = append(out, deadLetter(env))
		}
		return false, nil
	})
	return out, err
}

// Replay moves the dead letters with the given event ids (all of them when
// ids is empty) back to the events queue, where Deliverers take them with a
// fresh count of attempts. It returns the ids moved; an id that matched
// no dead letter, or one whose body was too large to keep, is an error,
// after the others are moved.
func (q *Queues) Replay(ctx context.Context, ids ...string) ([]string, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var moved, bodiless []string
	found := map[string]bool{}
	err := q.scanDead(ctx, func(m Message, env envelope, ok bool) (bool, error) {
		if !ok || (len(want) > 0 && !want[env.ID]) {
			return false, nil
		}
		if env.Truncated > 0 {
			found[env.ID] = true
			bodiless = append(bodiless, env.ID)
			return false, nil
		}
		text, err := encode(envelope{ID: env.ID, Target: env.Target, Body: env.Body})
		if err != nil {
			return false, err
		}
		if err := q.Main.Send(ctx, text); err != nil {
			return false, fmt.Errorf("replay %s: %w", env.ID, err)
		}
		moved = append(moved, env.ID)
		found[env.ID] = true
		return true, nil
	})
	if err != nil {
		return moved, err
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return moved, fmt.Errorf("no dead letter with id %v", missing)
	}
	if len(bodiless) > 0 {
		return moved, fmt.Errorf("dead letters %v lost their bodies (too large to keep) and cannot be replayed", bodiless)
	}
	return moved, nil
}

// scanDead receives every message of the dead-letter queue and calls f on
// each, with ok false for a message that is not an event. A message for
// which f returns true is deleted; the others are made visible again at the
// end.
func (q *Queues) scanDead(ctx context.Context, f func(Message, envelope, bool) (bool, error)) error {
	var keep []Message
	defer func() {
		// Restore even when ctx has ended, so that dead letters do not stay
		// hidden for scanHide.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, m := range keep {
			_ = q.Dead.Hide(rctx, m, 0) // else it shows again after its timeout
		}
	}()
	seen := map[string]bool{}
	for {
		msgs, err := q.Dead.Receive(ctx, 32, scanHide)
		if err != nil {
			return fmt.Errorf("read dead-letter queue %s: %w", DeadLetterName(q.Name), err)
		}
		fresh := 0
		for _, m := range msgs {
			if seen[m.ID] {
				// Its hiding lapsed during a long scan: seen already.
				continue
			}
			seen[m.ID] = true
			fresh++
			env, derr := decode(m.Text)
			del, err := f(m, env, derr == nil)
			if err != nil {
				keep = append(keep, m)
				return err
			}
			if !del {
				keep = append(keep, m)
				continue
			}
			if err := q.Dead.Delete(ctx, m); err != nil && !lostMessage(err) {
				return fmt.Errorf("remove replayed dead letter %s: %w", env.ID, err)
			}
		}
		if len(msgs) == 0 || fresh == 0 {
			return nil
		}
	}
}

func deadLetter(env envelope) DeadLetter {
	dl := DeadLetter{ID: env.ID, Target: env.Target, Attempts: env.Attempts, Error: env.Error, Body: env.Body, Truncated: env.Truncated}
	if env.DeadAt != nil {
		dl.DeadAt = *env.DeadAt
	}
	return dl
}
