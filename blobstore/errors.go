package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/blobvalet/blobvalet/errs"
)

// The errors a store answers with, whatever the storage service. A store
// returns them wrapped in an *Error, which says more for the log; test
// with errors.Is.
var (
	// ErrNotFound: no such blob or container.
	ErrNotFound = errors.New("no such blob")
	// ErrChanged: the blob, or the source of a copy, no longer meets the
	// condition it was checked with.
	ErrChanged = errors.New("the blob changed")
	// ErrTaken: a create-only write, or a lock, found the name taken.
	ErrTaken = errors.New("the name is taken")
	// ErrRefused: storage refused blobvalet's credentials or what they
	// may do (a rotated key, a missing role): an operator's fault.
	ErrRefused = errors.New("storage refused blobvalet's credentials")
	// ErrThrottled: storage is over its limits.
	ErrThrottled = errors.New("storage is throttling blobvalet")
	// ErrUnreachable: no answer at all (DNS, connection refused or reset,
	// TLS).
	ErrUnreachable = errors.New("storage cannot be reached")
	// ErrSlow: no answer in time.
	ErrSlow = errors.New("storage did not answer in time")
)

// Class says what kind of failure a storage call had, for log lines and
// readiness.
type Class int

// The classes of storage failure.
const (
	// Failed: storage answered with an error not named below, or the error
	// is not one of storage's.
	Failed Class = iota
	// Refused: 401 or 403 (ErrRefused).
	Refused
	// Throttled: 429, or 503 (ServerBusy) (ErrThrottled).
	Throttled
	// Unreachable: no answer at all (ErrUnreachable).
	Unreachable
	// Slow: no answer in time (ErrSlow).
	Slow
	// NotFound: no such blob, container or queue (ErrNotFound).
	NotFound
	// Changed: a condition failed (ErrChanged).
	Changed
	// Taken: the name exists (ErrTaken).
	Taken
	// Conflict: 409 or 412 otherwise, the state is not what the call
	// expected.
	Conflict
)

var classes = [...]struct {
	phrase   string
	sentinel error
}{
	Failed:      {"storage failed", nil},
	Refused:     {"storage refused blobvalet's credentials", ErrRefused},
	Throttled:   {"storage is throttling blobvalet", ErrThrottled},
	Unreachable: {"storage cannot be reached", ErrUnreachable},
	Slow:        {"storage did not answer in time", ErrSlow},
	NotFound:    {"storage has no such resource", ErrNotFound},
	Changed:     {"the blob changed in storage", ErrChanged},
	Taken:       {"the name is taken in storage", ErrTaken},
	Conflict:    {"storage refused the change", nil},
}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classes) {
		return classes[c].phrase
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Sentinel returns the class's sentinel error; nil for Failed and
// Conflict.
func (c Class) Sentinel() error {
	if c >= 0 && int(c) < len(classes) {
		return classes[c].sentinel
	}
	return nil
}

// Error is a classified storage error. Its text is one line: what happened,
// then the status and error code of storage's answer, or the network error.
// It is its class's sentinel (errors.Is) and unwraps to the cause.
type Error struct {
	Class Class
	// Status is the HTTP status of storage's answer; 0 when there was none.
	Status int
	// Code is the storage service's error code (Azure's x-ms-error-code),
	// if it sent one.
	Code string
	Err  error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		s := fmt.Sprintf("%s: %d", e.Class, e.Status)
		if e.Code != "" {
			s += " " + e.Code
		}
		return s
	}
	if e.Err == nil || e.Err == e.Class.Sentinel() { //nolint:errorlint // the bare sentinel, whose text the class says already
		return e.Class.String()
	}
	detail := errs.Clip(errs.FirstLine(e.Err))
	var oe *net.OpError
	if errors.As(e.Err, &oe) {
		detail = errs.Clip(oe.Error()) // without the URL the client wraps it in
	}
	if e.Class == Failed {
		return detail // not storage's answer: its own words
	}
	return e.Class.String() + ": " + detail
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *Error) Is(target error) bool {
	s := e.Class.Sentinel()
	return s != nil && s == target
}

// Classify returns the class of a storage call's error: an *Error's own;
// a sentinel's; without either, a deadline or a timeout is Slow and a
// network error Unreachable.
func Classify(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	for c := range classes {
		if s := Class(c).Sentinel(); s != nil && errors.Is(err, s) {
			return Class(c)
		}
	}
	var oe *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Slow
	case errors.As(err, &oe) && oe.Op == "dial":
		return Unreachable // also a dial that timed out: nothing answered
	case errors.As(err, &ne) && ne.Timeout():
		return Slow
	case errors.As(err, &ne):
		return Unreachable
	}
	return Failed
}

// Wrap returns err classified (Classify), as an *Error whose text is one
// line and which unwraps to err; nil for nil, and err itself when it is
// one already. A store classifies its service's answers itself
// (blobstore/azblob.Wrap).
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Class: Classify(err), Err: err}
}
