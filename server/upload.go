package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/success"
	"github.com/blobvalet/blobvalet/traditional"
)

// Traditional takes Fine Uploader's traditional uploads
// (traditional.Service).
type Traditional interface {
	// Take takes one of the slots of uploads in flight for user.
	Take(user string) (release func(), err error)
	// ChunkLimit is the largest request body: a chunk or a whole file.
	ChunkLimit() int64
	// Upload stores one part; a whole file is also committed and checked.
	Upload(ctx context.Context, user authz.User, p traditional.Part, body io.Reader) (*success.Result, error)
	// Complete commits and checks a chunked upload.
	Complete(ctx context.Context, user authz.User, d traditional.Done) (success.Result, error)
	// Delete deletes the caller's promoted upload.
	Delete(ctx context.Context, user authz.User, u traditional.UUID, params map[string]string) error
}

// TraditionalTimeouts are the deadlines of the upload route, which replace the
// HTTP server's for its requests: a chunk may take minutes to arrive.
type TraditionalTimeouts struct {
	// Idle is the longest a body may pause; the read deadline moves
	// forward by it each time the body is read.
	Idle time.Duration
	// Body is the longest a request's body may take in all.
	Body time.Duration
}

// uploadRoutes registers the traditional endpoint.
func (s *Server) uploadRoutes(r *mux.Router) {
	r.HandleFunc("/upload", s.handleUpload).Methods(http.MethodPost).Name("upload")
	r.HandleFunc("/upload/done", s.handleUploadDone).Methods(http.MethodPost).Name("upload-done")
	r.HandleFunc("/upload/{uuid}", s.handleUploadDelete).Methods(http.MethodDelete).Name("upload-delete")
}

// chunkAnswer is the JSON of a stored chunk.
type chunkAnswer struct {
	Success bool `json:"success"`
}

// handleUpload takes a chunk or a whole file, multipart or raw, and, as a
// form with _method=DELETE, the delete of deleteFile.method POST.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	const op = "upload"
	log := make([]zap.Field, 0, 10)
	fail := func(err error) { s.fail(w, r, uploadJSON, "upload", err, log...) }
	user, err := s.authenticate(w, r, op, limits.Upload)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		s.deleteByForm(w, r, user, log)
		return
	}
	release, err := s.opts.Traditional.Take(user.ID)
	if err != nil {
		if errs.KindOf(err) == errs.TooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		fail(err)
		return
	}
	defer release()
	body := s.uploadDeadlines(w, r.Body)

	var fields url.Values
	var file io.Reader
	size, declared := int64(-1), ""
	if mt == "multipart/form-data" {
		var part *multipart.Part
		fields, part, err = readUploadFields(r, body)
		if err != nil {
			fail(err)
			return
		}
		file, declared = part, part.Header.Get("Content-Type")
	} else {
		if r.ContentLength < 0 {
			fail(errs.E(op, errs.Invalid, "a raw upload needs a Content-Length"))
			return
		}
		fields, err = url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			e := errs.Wrap(op, errs.Invalid, "malformed query", err)
			e.PreventRetry = true
			fail(e)
			return
		}
		file, size, declared = body, r.ContentLength, r.Header.Get("X-Mime-Type")
	}
	// A refused request's file is read to its end (up to the largest
	// chunk) and dropped before the answer: a browser still sending the
	// body of a request the server answered and closed may never see the
	// answer, and Fine Uploader then neither fails nor retries the file.
	fail = func(err error) {
		_, _ = io.Copy(io.Discard, io.LimitReader(file, s.opts.Traditional.ChunkLimit()+1))
		s.fail(w, r, uploadJSON, "upload", err, log...)
	}
	p, err := traditional.ParsePart(fields, size, s.opts.Traditional.ChunkLimit())
	if err != nil {
		fail(err)
		return
	}
	if !p.Chunked {
		p.ContentType = declared
	}
	log = append(log, zap.String("uuid", p.UUID.String()), zap.Int("part", p.Index), zap.Int("parts", p.Total), zap.Int64("size", p.Size), zap.Bool("resume", p.Resume))
	res, err := s.opts.Traditional.Upload(r.Context(), user, p, file)
	if err != nil {
		fail(err)
		return
	}
	if res == nil {
		s.opts.Metrics.count("upload", "stored")
		s.log(r).Debug("upload", append(log, zap.String("outcome", "stored"))...)
		writeJSON(w, http.StatusOK, chunkAnswer{Success: true})
		return
	}
	s.verified(w, r, "upload", *res, log)
}

// verified answers an upload that is verified and promoted.
func (s *Server) verified(w http.ResponseWriter, r *http.Request, route string, res success.Result, log []zap.Field) {
	s.opts.Metrics.count(route, "verified")
	s.log(r).Info(route, append(log,
		zap.String("blob", res.Blob),
		zap.String("rule", res.Rule),
		zap.String("outcome", "verified"),
		zap.Int64("size", res.Size),
		zap.String("content_type", res.ContentType),
		zap.String("event_id", res.EventID),
		zap.Bool("repeat", res.Repeat))...)
	writeJSON(w, http.StatusOK, successAnswer{
		Success: true, ThumbnailURL: res.ThumbnailURL, Blob: res.Blob, Size: res.Size, ContentType: res.ContentType, EventID: res.EventID,
	})
}

// uploadDeadlines gives the request its own read and write deadlines in
// place of the server's: the read deadline moves forward by Idle each time
// the body is read, up to Body in all, and the write deadline leaves the
// upload-success budget after the last byte. It returns the body to read.
func (s *Server) uploadDeadlines(w http.ResponseWriter, src io.Reader) io.Reader {
	rc := http.NewResponseController(w)
	idle, total := s.opts.TraditionalTimeouts.Idle, s.opts.TraditionalTimeouts.Body
	if idle <= 0 {
		idle = 30 * time.Second
	}
	if total < idle {
		total = idle
	}
	answer := s.opts.SuccessTimeout + 10*time.Second
	hard := s.opts.Now().Add(total)
	extend := func(now time.Time) {
		d := now.Add(idle)
		if d.After(hard) {
			d = hard
		}
		// A writer that cannot set deadlines (a test's recorder) keeps the
		// server's.
		_ = rc.SetReadDeadline(d)
		_ = rc.SetWriteDeadline(d.Add(answer))
	}
	extend(s.opts.Now())
	return &progressReader{src: src, now: s.opts.Now, extend: extend}
}

// progressReader moves the deadlines forward, at most once a second, each
// time blobvalet asks for more of the body: the idle deadline counts only
// the time spent waiting on the browser, never the time storage takes to
// accept what was read (a slow Put Block holds the next read back; that
// is storage's pace, not an idle client).
type progressReader struct {
	src    io.Reader
	now    func() time.Time
	extend func(time.Time)
	last   time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	if now := p.now(); now.Sub(p.last) >= time.Second {
		p.last = now
		p.extend(now)
	}
	return p.src.Read(b)
}

// readUploadFields reads a multipart upload's fields, up to the file part,
// which it returns unread: the file is streamed from there, never held.
// Fine Uploader sends the file last, after every field. Query params are
// merged in (paramsInBody false with forceMultipart).
func readUploadFields(r *http.Request, body io.Reader) (url.Values, *multipart.Part, error) {
	const op = "upload.parse"
	invalid := func(msg string, err error) error {
		e := errs.Wrap(op, errs.Invalid, msg, err)
		e.PreventRetry = true
		return e
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, nil, invalid("malformed multipart Content-Type", err)
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, invalid("malformed query", err)
	}
	return readFields(multipart.NewReader(body, params["boundary"]), v)
}

// readFields reads fields from mr into v until the file part.
func readFields(mr *multipart.Reader, v url.Values) (url.Values, *multipart.Part, error) {
	const op = "upload.parse"
	invalid := func(msg string, err error) error {
		e := errs.Wrap(op, errs.Invalid, msg, err)
		e.PreventRetry = true
		return e
	}
	tooLarge := func() error {
		e := errs.E(op, errs.TooLarge, "too many fields before the file, or too long ones")
		e.PreventRetry = true
		return e
	}
	count, total := 0, 0
	for k, vs := range v {
		count += len(vs)
		for _, s := range vs {
			total += len(k) + len(s)
		}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil, invalid("the body has no file part (qqfile)", nil)
		}
		if err != nil {
			return nil, nil, invalid("malformed multipart body", err)
		}
		name := part.FormName()
		if part.FileName() != "" || name == "qqfile" {
			if name != "qqfile" {
				return nil, nil, invalid("the file part must be named qqfile (request.inputName)", nil)
			}
			return v, part, nil
		}
		if count++; count > traditional.MaxFields {
			return nil, nil, tooLarge()
		}
		data, err := io.ReadAll(io.LimitReader(part, int64(traditional.MaxFieldBytes-total+1)))
		if err != nil {
			return nil, nil, invalid("malformed multipart body", err)
		}
		if total += len(name) + len(data); total > traditional.MaxFieldBytes {
			return nil, nil, tooLarge()
		}
		v.Add(name, string(data))
	}
}

// handleUploadDone answers chunking.success: commit the parts, then the
// same check as POST /success. Fine Uploader judges it by status only, so
// every failure is non-2xx (the error edge).
func (s *Server) handleUploadDone(w http.ResponseWriter, r *http.Request) {
	const op = "upload.done"
	if s.opts.SuccessTimeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.SuccessTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	log := make([]zap.Field, 0, 10)
	fail := func(err error) { s.fail(w, r, uploadJSON, "upload-done", err, log...) }
	user, err := s.authenticate(w, r, op, limits.Success)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))
	v, err := readSmallForm(w, r, op)
	if err != nil {
		fail(err)
		return
	}
	d, err := traditional.ParseDone(v)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("uuid", d.UUID.String()), zap.Int("parts", d.Total), zap.Int64("size", d.FileSize))
	release, ok := s.successSlot()
	if !ok {
		fail(errs.E(op, errs.Busy, "the service is busy; retrying in a moment will check the upload"))
		return
	}
	defer release()
	res, err := s.opts.Traditional.Complete(r.Context(), user, d)
	if err != nil {
		fail(outOfTime(r.Context(), op, err))
		return
	}
	s.verified(w, r, "upload-done", res, log)
}

// readSmallForm reads a form-urlencoded or JSON body of at most
// MaxSuccessBody. JSON numbers become their decimal text.
func readSmallForm(w http.ResponseWriter, r *http.Request, op string) (url.Values, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSuccessBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		e := errs.E(op, errs.TooLarge, "request body is larger than 64 KiB")
		e.PreventRetry = true
		return nil, e
	}
	if err != nil {
		return nil, errs.Wrap(op, errs.Invalid, "cannot read the request body", err)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		return jsonForm(op, body)
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		e := errs.Wrap(op, errs.Invalid, "malformed form body", err)
		e.PreventRetry = true
		return nil, e
	}
	return v, nil
}

// jsonForm reads chunking.success's jsonPayload body: one object of
// strings, numbers and booleans.
func jsonForm(op string, body []byte) (url.Values, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		e := errs.Wrap(op, errs.Invalid, "malformed JSON body", err)
		e.PreventRetry = true
		return nil, e
	}
	v := url.Values{}
	for k, x := range m {
		switch x := x.(type) {
		case string:
			v.Set(k, x)
		case json.Number:
			v.Set(k, x.String())
		case bool:
			v.Set(k, strconv.FormatBool(x))
		}
	}
	return v, nil
}

// handleUploadDelete answers deleteFile: DELETE /upload/{uuid}.
func (s *Server) handleUploadDelete(w http.ResponseWriter, r *http.Request) {
	const op = "upload.delete"
	log := make([]zap.Field, 0, 4)
	user, err := s.authenticate(w, r, op, limits.Upload)
	if err != nil {
		s.fail(w, r, uploadJSON, "upload-delete", err, log...)
		return
	}
	s.deleteUpload(w, r, user, mux.Vars(r)["uuid"], r.URL.Query(), append(log, zap.String("user", errs.Clip(user.ID))))
}

// deleteByForm answers deleteFile with method POST: a form with qquuid
// and _method=DELETE.
func (s *Server) deleteByForm(w http.ResponseWriter, r *http.Request, user authz.User, log []zap.Field) {
	const op = "upload.delete"
	v, err := readSmallForm(w, r, op)
	if err == nil && v.Get("_method") != "DELETE" {
		err = errs.E(op, errs.Invalid, "a form POST to /upload must be a delete (_method=DELETE)")
	}
	if err != nil {
		s.fail(w, r, uploadJSON, "upload-delete", err, log...)
		return
	}
	s.deleteUpload(w, r, user, v.Get("qquuid"), v, log)
}

func (s *Server) deleteUpload(w http.ResponseWriter, r *http.Request, user authz.User, id string, params url.Values, log []zap.Field) {
	const op = "upload.delete"
	u, err := traditional.ParseUUID(id)
	if err != nil {
		e := errs.Wrap(op, errs.Invalid, err.Error(), err)
		e.PreventRetry = true
		s.fail(w, r, uploadJSON, "upload-delete", e, log...)
		return
	}
	log = append(log, zap.String("uuid", u.String()))
	var container map[string]string
	if c := params.Get(traditional.ContainerParam); c != "" {
		container = map[string]string{traditional.ContainerParam: c}
	}
	if err := s.opts.Traditional.Delete(r.Context(), user, u, container); err != nil {
		s.fail(w, r, uploadJSON, "upload-delete", err, log...)
		return
	}
	s.opts.Metrics.count("upload-delete", "deleted")
	s.log(r).Info("upload-delete", append(log, zap.String("outcome", "deleted"))...)
	writeJSON(w, http.StatusOK, chunkAnswer{Success: true})
}
