package server

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/success"
)

// MaxSuccessBody caps an upload-success request body.
const MaxSuccessBody = 64 << 10

// SuccessChecker verifies a finished upload.
type SuccessChecker interface {
	Check(ctx context.Context, req success.Request) (success.Result, error)
}

// successForm is a parsed upload-success form, before authentication.
type successForm struct {
	blob         blobref.Ref
	uuid, name   string
	params       map[string]string
	containerURL string
}

// parseSuccessForm parses Fine Uploader's form-encoded upload-success body:
// blob, uuid, name and container, and any other fields as params.
func parseSuccessForm(body []byte, resolver *blobref.Resolver) (successForm, error) {
	const op = "success.parse"
	invalid := func(msg string, err error) error {
		return errs.Wrap(op, errs.Invalid, msg, err).Final()
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return successForm{}, invalid("malformed form body", err)
	}
	one := func(k string) (string, error) {
		v := q[k]
		if len(v) != 1 || v[0] == "" {
			return "", invalid("want exactly one "+k+" field", nil)
		}
		return v[0], nil
	}
	f := successForm{params: map[string]string{}}
	var blobName string
	if blobName, err = one("blob"); err != nil {
		return f, err
	}
	if f.containerURL, err = one("container"); err != nil {
		return f, err
	}
	f.uuid, f.name = q.Get("uuid"), q.Get("name")
	for k, v := range q {
		switch k {
		case "blob", "container", "uuid", "name":
		default:
			if len(v) > 0 {
				f.params[k] = v[0]
			}
		}
	}
	container, err := resolver.ResolveContainer(f.containerURL)
	if err != nil {
		return f, errs.Wrap(op, errs.Forbidden, "container is not one this service knows", err).Final()
	}
	name, err := blobref.ParseName(blobName)
	if err != nil {
		return f, invalid(err.Error(), err)
	}
	f.blob = blobref.Ref{Container: container, Name: name}
	return f, nil
}

// parseSuccess parses an upload-success body: Azure's form (blob,
// container), or on S3 Fine Uploader S3's form or a page's JSON after
// Uppy's upload (key).
func (s *Server) parseSuccess(op string, r *http.Request, user authz.User, body []byte) (successForm, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if s.opts.S3 == nil {
			return successForm{}, errs.E(op, errs.Invalid, "want a form body").Final()
		}
		v, err := jsonForm(op, body)
		if err != nil {
			return successForm{}, err
		}
		return s.s3SuccessForm(op, user, v)
	}
	if s.opts.S3 != nil {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return successForm{}, errs.Wrap(op, errs.Invalid, "malformed form body", err).Final()
		}
		if isS3Success(v) || s.opts.Resolver == nil {
			return s.s3SuccessForm(op, user, v)
		}
	}
	return parseSuccessForm(body, s.opts.Resolver)
}

// successAnswer is the JSON of a verified upload.
type successAnswer struct {
	Success      bool   `json:"success"`
	ThumbnailURL string `json:"thumbnailUrl,omitempty"`
	Blob         string `json:"blob"`
	Size         int64  `json:"size"`
	ContentType  string `json:"contentType"`
	EventID      string `json:"eventId"`
}

// handleSuccess answers Fine Uploader's upload-success request, within
// SuccessTimeout: whatever storage does, the browser gets a JSON answer,
// success or a failure it may retry, before the server's write timeout.
func (s *Server) handleSuccess(w http.ResponseWriter, r *http.Request) {
	const op = "success"
	if s.opts.SuccessTimeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.SuccessTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	var log []zap.Field
	fail := func(err error) { s.fail(w, r, uploadJSON, "success", err, log...) }
	user, err := s.authenticate(w, r, op, limits.Success)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSuccessBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		fail(errs.E(op, errs.TooLarge, "request body is larger than 64 KiB").Final())
		return
	}
	if err != nil {
		fail(errs.Wrap(op, errs.Invalid, "cannot read the request body", err))
		return
	}
	f, err := s.parseSuccess(op, r, user, body)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("container", f.blob.Container), zap.String("blob", string(f.blob.Name)), zap.String("uuid", errs.Clip(f.uuid)))
	release, ok := s.successSlot()
	if !ok {
		fail(errs.E(op, errs.Busy, "the service is busy; retrying in a moment will check the upload"))
		return
	}
	defer release()
	res, err := s.opts.Success.Check(r.Context(), success.Request{
		User: user, Blob: f.blob, UUID: f.uuid, Name: f.name, Params: f.params,
	})
	if err != nil {
		fail(outOfTime(r.Context(), op, err))
		return
	}
	s.opts.Metrics.count("success", "verified")
	s.log(r).Info("success", append(log,
		zap.String("rule", res.Rule),
		zap.String("outcome", "verified"),
		zap.Int64("size", res.Size),
		zap.String("content_type", res.ContentType),
		zap.String("etag", res.ETag),
		zap.String("event_id", res.EventID),
		zap.Bool("repeat", res.Repeat))...)
	writeJSON(w, http.StatusOK, successAnswer{
		Success: true, ThumbnailURL: res.ThumbnailURL, Blob: res.Blob, Size: res.Size, ContentType: res.ContentType, EventID: res.EventID,
	})
}

// successSlot takes one of the SuccessMaxInFlight slots, without waiting:
// a request beyond the cap is answered at once rather than queued behind
// checks that may be waiting on a hung storage.
func (s *Server) successSlot() (release func(), ok bool) {
	if s.successSlots == nil {
		return func() {}, true
	}
	select {
	case s.successSlots <- struct{}{}:
		return func() { <-s.successSlots }, true
	default:
		return nil, false
	}
}

// outOfTime turns a failure caused by the end of the request's budget into
// a retryable timeout. A failure that decided the request (a rejection, a
// refusal) stands as it is.
func outOfTime(ctx context.Context, op string, err error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	var e *errs.Error
	switch {
	case !errors.As(err, &e) || e.Kind == errs.Internal:
		return errs.Wrap(op, errs.Timeout, "storage did not answer in time; retrying will finish the check", err)
	case e.Kind == errs.Unavailable:
		return errs.Wrap(op, errs.Timeout, e.Msg, err)
	}
	return err
}
