package server

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/errs"
)

// statusOf is the one table from error kinds to HTTP statuses.
var statusOf = map[errs.Kind]int{
	errs.Internal:         http.StatusInternalServerError,
	errs.Invalid:          http.StatusBadRequest,
	errs.Unauthenticated:  http.StatusUnauthorized,
	errs.Forbidden:        http.StatusForbidden,
	errs.NotFound:         http.StatusNotFound,
	errs.MethodNotAllowed: http.StatusMethodNotAllowed,
	errs.Conflict:         http.StatusConflict,
	errs.TooLarge:         http.StatusRequestEntityTooLarge,
	errs.Rejected:         http.StatusUnprocessableEntity,
	errs.Unavailable:      http.StatusServiceUnavailable,
	errs.BadGateway:       http.StatusBadGateway,
	errs.TooManyRequests:  http.StatusTooManyRequests,
}

// answer is what the caller may see of an error.
type answer struct {
	status       int
	msg          string
	preventRetry bool
	reset        bool
}

// answerOf maps an error to its status and public message. The message of
// an internal error is never shown: it may hold anything.
func answerOf(err error) answer {
	e, ok := err.(*errs.Error)
	if !ok {
		return answer{status: http.StatusInternalServerError, msg: "internal error"}
	}
	a := answer{status: statusOf[e.Kind], msg: e.Msg, preventRetry: e.PreventRetry, reset: e.Reset}
	if e.Kind == errs.Internal || a.msg == "" {
		a.msg = http.StatusText(a.status)
	}
	return a
}

// logError logs an error once, at the edge: server faults at error level
// with their cause, the caller's mistakes at info.
func (s *Server) logError(r *http.Request, err error, a answer, fields ...zap.Field) {
	if errs.IsQuiet(err) {
		return
	}
	fields = append(fields,
		zap.String("request_id", RequestID(r.Context())),
		zap.Int("status", a.status),
		zap.Error(err),
	)
	if a.status >= 500 {
		s.Logger.Error(r.URL.Path+" failed", fields...)
	} else {
		s.Logger.Info(r.URL.Path+" refused", fields...)
	}
}

// textError writes an error as plain text; for Fine Uploader's signature
// requests, whose failure bodies the client never reads.
func (s *Server) textError(w http.ResponseWriter, r *http.Request, err error) answer {
	a := answerOf(err)
	if a.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="blobvalet"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, a.msg, a.status)
	return a
}

// UploadAnswer is the JSON Fine Uploader reads from an upload-success
// response.
type UploadAnswer struct {
	Success      bool   `json:"success"`
	Error        string `json:"error,omitempty"`
	PreventRetry bool   `json:"preventRetry,omitempty"`
	Reset        bool   `json:"reset,omitempty"`
}

// jsonError writes an error as Fine Uploader's JSON and logs it.
func (s *Server) jsonError(w http.ResponseWriter, r *http.Request, err error, fields ...zap.Field) {
	a := answerOf(err)
	s.logError(r, err, a, fields...)
	if a.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="blobvalet"`)
	}
	writeJSON(w, a.status, UploadAnswer{Error: a.msg, PreventRetry: a.preventRetry, Reset: a.reset})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
