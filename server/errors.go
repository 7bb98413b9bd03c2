package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
)

// edge is the one table from error kinds to HTTP statuses and to the
// outcome label of logs and metrics.
var edge = map[errs.Kind]struct {
	status  int
	outcome string
	// retryAfter, if set, is the Retry-After header, in seconds.
	retryAfter string
}{
	errs.Internal:         {http.StatusInternalServerError, "error", ""},
	errs.Invalid:          {http.StatusBadRequest, "invalid", ""},
	errs.Unauthenticated:  {http.StatusUnauthorized, "unauthenticated", ""},
	errs.Forbidden:        {http.StatusForbidden, "denied", ""},
	errs.NotFound:         {http.StatusNotFound, "missing", ""},
	errs.MethodNotAllowed: {http.StatusMethodNotAllowed, "invalid", ""},
	errs.Conflict:         {http.StatusConflict, "changed", ""},
	errs.TooLarge:         {http.StatusRequestEntityTooLarge, "invalid", ""},
	errs.Rejected:         {http.StatusUnprocessableEntity, "rejected", ""},
	errs.Unavailable:      {http.StatusServiceUnavailable, "error", ""},
	errs.Timeout:          {http.StatusGatewayTimeout, "timeout", ""},
	errs.TooManyRequests:  {http.StatusTooManyRequests, "limited", ""}, // the limiter sets Retry-After
	errs.Busy:             {http.StatusServiceUnavailable, "busy", "1"},
	errs.Exists:           {http.StatusConflict, "taken", ""},
}

// failure is what the caller, the log and the metrics see of an error.
type failure struct {
	status       int
	outcome      string
	msg          string // safe to show the caller
	preventRetry bool
	reset        bool
	retryAfter   string
}

// failureOf maps an error to its failure: the first *errs.Error in its
// chain decides; anything else, or a kind the table does not know, is an
// internal error. The message of an internal error is never shown: it may
// hold anything.
func failureOf(err error) failure {
	var e *errs.Error
	if !errors.As(err, &e) {
		return failure{status: http.StatusInternalServerError, outcome: "error", msg: http.StatusText(http.StatusInternalServerError)}
	}
	entry, ok := edge[e.Kind]
	if !ok {
		entry = edge[errs.Internal]
	}
	f := failure{status: entry.status, outcome: entry.outcome, msg: e.Msg, preventRetry: e.PreventRetry, reset: e.Reset, retryAfter: entry.retryAfter}
	if entry.status == http.StatusInternalServerError || f.msg == "" {
		f.msg = http.StatusText(f.status)
	}
	return f
}

// answerForm is how a route answers a failure.
type answerForm int

const (
	// plainText: a signature request, whose failure body Fine Uploader never
	// reads.
	plainText answerForm = iota
	// uploadJSON: Fine Uploader's upload-success JSON.
	uploadJSON
	// signJSON: Fine Uploader S3's signature JSON, {"invalid": true,
	// "error": reason}, also the answer of /s3/key and /s3/presign.
	signJSON
)

// fail is the one error edge: it writes err's answer in the route's form,
// logs one line (server faults at error level with their cause, a caller's
// mistakes at info, except those marked quiet) and counts the outcome once. fields say what the
// request was about; the log carries the request id.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, form answerForm, route string, err error, fields ...zap.Field) {
	f := failureOf(err)
	h := w.Header()
	if f.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="blobvalet"`)
	}
	h["Cache-Control"] = noStore
	if f.retryAfter != "" {
		h.Set("Retry-After", f.retryAfter)
	}
	switch form {
	case uploadJSON:
		writeJSON(w, f.status, UploadAnswer{Error: f.msg, PreventRetry: f.preventRetry, Reset: f.reset})
	case signJSON:
		writeJSON(w, f.status, signFailure{Invalid: true, Error: f.msg})
	default:
		http.Error(w, f.msg, f.status)
	}
	s.opts.Metrics.count(route, f.outcome)
	if errs.IsQuiet(err) {
		return // one of many failed sign-ins from one address: the limiter logs a sample
	}
	fields = append(fields, zap.String("outcome", f.outcome), zap.Int("status", f.status), zap.String("reason", errs.Clip(err.Error())))
	if se := (*blobstore.Error)(nil); errors.As(err, &se) {
		fields = append(fields, zap.String("storage", se.Class.String()), zap.Int("storage_status", se.Status), zap.String("storage_code", se.Code))
	}
	if f.status >= 500 {
		s.log(r).Error(route, fields...)
	} else {
		s.log(r).Info(route, fields...)
	}
}

// log returns the server's logger with the request's id.
func (s *Server) log(r *http.Request) *zap.Logger {
	return s.opts.Logger.With(zap.String("request_id", RequestID(r.Context())))
}

// UploadAnswer is the JSON Fine Uploader reads from an upload-success
// response.
type UploadAnswer struct {
	Success      bool   `json:"success"`
	Error        string `json:"error,omitempty"`
	PreventRetry bool   `json:"preventRetry,omitempty"`
	Reset        bool   `json:"reset,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the caller is gone if this fails
}
