// Package storageerr classifies the errors of Azure Storage calls, once,
// for every part of blobvalet that reports them: whether storage refused
// blobvalet's credentials, throttled it, could not be reached or was too
// slow, with the HTTP status and Azure's error code, in one line. The SDK's
// own error text is a multi-line dump of the exchange, which neither a log
// line nor /readyz should carry.
package storageerr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/blobvalet/blobvalet/errs"
)

// Class says what kind of failure a storage call had.
type Class int

// The classes of storage failure.
const (
	// Failed: storage answered with an error not named below, or the error
	// is not one of storage's.
	Failed Class = iota
	// Refused: 401 or 403, storage refused blobvalet's credentials or what
	// they may do (a rotated key, a missing role): an operator's fault.
	Refused
	// Throttled: 429, or 503 (ServerBusy): storage is over its limits.
	Throttled
	// Unreachable: no answer at all (DNS, connection refused or reset, TLS).
	Unreachable
	// Slow: no answer in time.
	Slow
	// NotFound: 404, no such blob, container or queue.
	NotFound
	// Conflict: 409 or 412, the state is not what the call expected.
	Conflict
)

var phrases = [...]string{
	Failed:      "storage failed",
	Refused:     "storage refused blobvalet's credentials",
	Throttled:   "storage is throttling blobvalet",
	Unreachable: "storage cannot be reached",
	Slow:        "storage did not answer in time",
	NotFound:    "storage has no such resource",
	Conflict:    "storage refused the change",
}

func (c Class) String() string {
	if c >= 0 && int(c) < len(phrases) {
		return phrases[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error is a classified storage error. Its text is one line: what happened,
// then the status and error code of storage's answer, or the network error.
type Error struct {
	Class Class
	// Status is the HTTP status of storage's answer; 0 when there was none.
	Status int
	// Code is Azure's error code (x-ms-error-code), if storage sent one.
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

// Classify returns the class of a storage call's error. Storage's answer
// decides by its status (azcore.ResponseError); without one, a deadline or
// a timeout is Slow and a network error Unreachable.
func Classify(err error) Class {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
			return Refused
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusServiceUnavailable:
			return Throttled
		case re.StatusCode == http.StatusNotFound:
			return NotFound
		case re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed:
			return Conflict
		case re.ErrorCode == "OperationTimedOut":
			return Slow
		}
		return Failed
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

// Wrap returns err classified, as an *Error whose text is one line and
// which unwraps to err; nil for nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	e = &Error{Class: Classify(err), Err: err}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e.Status, e.Code = re.StatusCode, re.ErrorCode
	}
	return e
}
