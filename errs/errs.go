// Package errs defines blobvalet's one error type. An Error carries a Kind
// that decides the HTTP status, a message that is safe to show the caller,
// and the cause, which is only ever logged.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

// The kinds of error. Each maps to one HTTP status in package server.
const (
	Internal         Kind = iota // a fault of the service or its storage; logged, never shown
	Invalid                      // the request is malformed (400)
	Unauthenticated              // no or unknown credential (401)
	Forbidden                    // authenticated, but not allowed (403)
	NotFound                     // the thing named does not exist (404)
	MethodNotAllowed             // wrong HTTP method (405)
	Conflict                     // the request clashes with the current state (409)
	TooLarge                     // the request body is too large (413)
	Rejected                     // an upload broke a rule's constraint (422)
	Unavailable                  // a dependency is down; retrying may help (503)
	Timeout                      // the request ran out of its time budget; retrying may help (504)
	TooManyRequests              // the caller is over its rate limit; retry later (429)
	Busy                         // the service has all the work it can take; retry in a moment (503)
	Exists                       // the name is taken and may not be replaced (409)
)

var kindNames = [...]string{
	Internal:         "internal",
	Invalid:          "invalid",
	Unauthenticated:  "unauthenticated",
	Forbidden:        "forbidden",
	NotFound:         "not found",
	MethodNotAllowed: "method not allowed",
	Conflict:         "conflict",
	TooLarge:         "too large",
	Rejected:         "rejected",
	Unavailable:      "unavailable",
	Timeout:          "timeout",
	TooManyRequests:  "too many requests",
	Busy:             "busy",
	Exists:           "exists",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the error type of blobvalet.
type Error struct {
	Kind Kind
	// Op names the operation that failed, such as "sas.issue".
	Op string
	// Msg is shown to the caller. It must hold no secret and, for Internal
	// errors, is replaced by a generic message anyway.
	Msg string
	// Err is the underlying cause. It is logged, never shown.
	Err error
	// PreventRetry tells Fine Uploader that no retry can succeed.
	PreventRetry bool
	// Reset tells Fine Uploader to upload the whole file again on retry.
	Reset bool
	// Quiet keeps the error out of the log: it is one of many alike,
	// logged by sample and counted in a summary.
	Quiet bool
}

// E builds an Error. Final and Restart add Fine Uploader's flags in the
// same expression: errs.E(op, errs.Forbidden, msg).Final().
func E(op string, kind Kind, msg string) *Error {
	return &Error{Op: op, Kind: kind, Msg: msg}
}

// Wrap builds an Error with a cause.
func Wrap(op string, kind Kind, msg string, err error) *Error {
	return &Error{Op: op, Kind: kind, Msg: msg, Err: err}
}

// Final sets PreventRetry, for an error no retry can fix, and returns e.
func (e *Error) Final() *Error {
	e.PreventRetry = true
	return e
}

// Restart sets Reset, for an error that only uploading the whole file
// again can fix, and returns e.
func (e *Error) Restart() *Error {
	e.Reset = true
	return e
}

func (e *Error) Error() string {
	s := e.Op
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Match reports whether the first *Error in err's chain is like
// template, for tests (upspin's errors.Match): Kind and the flags
// (PreventRetry, Reset, Quiet) must be equal; Op, Msg and Err only where
// template sets them, Err by its text.
func Match(template *Error, err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Kind != template.Kind,
		e.PreventRetry != template.PreventRetry, e.Reset != template.Reset, e.Quiet != template.Quiet,
		template.Op != "" && e.Op != template.Op,
		template.Msg != "" && e.Msg != template.Msg,
		template.Err != nil && (e.Err == nil || e.Err.Error() != template.Err.Error()):
		return false
	}
	return true
}

// IsQuiet reports whether err is an *Error to be kept out of the log.
func IsQuiet(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Quiet
}
