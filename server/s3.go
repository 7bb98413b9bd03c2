package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/s3sign"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
)

// S3 is what the S3 routes need: Fine Uploader S3's key, signature and
// delete routes, and Uppy's presign route. Uploads land in the staging
// bucket under the uploader's staging key; /success promotes them to the
// final buckets, which the rules name as their container.
type S3 struct {
	// Signer checks and signs for the staging bucket.
	Signer *s3sign.Signer
	// Staging names the staging keys; its Container is the staging
	// bucket, the Signer's.
	Staging staging.Area
	// Lifetime is how long a policy or a presigned URL is valid unless
	// the matching rule sets its own.
	Lifetime time.Duration
	// DefaultMaxSize is the size range a policy gets under a rule without
	// max_size (the upload-success check's default limit).
	DefaultMaxSize int64
	// Files reads and deletes final objects, for Fine Uploader's
	// deleteFile; nil leaves /s3/files out.
	Files S3Files
}

// S3Files reads a promoted upload's stamp and deletes it conditionally
// (blobstore/s3.Store).
type S3Files interface {
	blobstore.Reader
	blobstore.Deleter
}

func (o *S3) validate() error {
	switch {
	case o.Signer == nil:
		return errors.New("server: S3.Signer is required")
	case o.Staging.Container != o.Signer.Bucket():
		return fmt.Errorf("server: S3.Staging is bucket %q, the signer's is %q", o.Staging.Container, o.Signer.Bucket())
	case o.Lifetime <= 0:
		return fmt.Errorf("server: S3.Lifetime must be positive, not %v", o.Lifetime)
	case o.Lifetime > s3sign.MaxPresignLifetime:
		return fmt.Errorf("server: S3.Lifetime must be at most %v, not %v", s3sign.MaxPresignLifetime, o.Lifetime)
	case o.DefaultMaxSize <= 0:
		return fmt.Errorf("server: S3.DefaultMaxSize must be positive, not %d", o.DefaultMaxSize)
	}
	return nil
}

// s3Routes registers the S3 routes.
func (s *Server) s3Routes(r *mux.Router) {
	r.HandleFunc("/s3/key", s.handleS3Key).Methods(http.MethodGet).Name("s3-key")
	r.HandleFunc("/s3/sign", s.handleS3Sign).Methods(http.MethodPost).Name("s3-sign")
	r.HandleFunc("/s3/presign", s.handleS3Presign).Methods(http.MethodPost).Name("s3-presign")
	if s.opts.S3.Files != nil {
		r.HandleFunc("/s3/files", s.handleS3DeleteForm).Methods(http.MethodPost).Name("s3-delete")
		r.HandleFunc("/s3/files/{uuid}", s.handleS3Delete).Methods(http.MethodDelete).Name("s3-delete")
	}
}

// MaxS3SignBody caps a signature or presign request body: Fine Uploader's
// policies and REST strings are a few hundred bytes, and a kilobyte or two
// with metadata.
const MaxS3SignBody = 16 << 10

// keyAnswer is the answer of /s3/key.
type keyAnswer struct {
	Key    string `json:"key"`
	Bucket string `json:"bucket"`
}

// handleS3Key gives the page the staging key of an upload to a final name,
// for Fine Uploader's objectProperties.key: the page cannot be redirected
// by the signer, so it asks first.
func (s *Server) handleS3Key(w http.ResponseWriter, r *http.Request) {
	const op = "s3.key"
	log := make([]zap.Field, 0, 10)
	fail := func(err error) { s.fail(w, r, signJSON, "s3-key", err, log...) }
	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		fail(errs.Wrap(op, errs.Invalid, "malformed query", err))
		return
	}
	if len(q["bucket"]) != 1 || len(q["name"]) != 1 {
		fail(errs.E(op, errs.Invalid, "want exactly one bucket and one name parameter"))
		return
	}
	final, err := s.finalRef(op, q.Get("bucket"), q.Get("name"))
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("container", final.Container), zap.String("blob", errs.Clip(string(final.Name))))
	staged, rule, err := s.s3Start(r.Context(), op, user, final)
	if err != nil {
		fail(err)
		return
	}
	s.s3Decided(r, "s3-key", "issued", append(log, zap.String("rule", rule.Name), zap.String("staging_key", errs.Clip(string(staged.Name)))))
	writeJSON(w, http.StatusOK, keyAnswer{Key: string(staged.Name), Bucket: staged.Container})
}

// handleS3Sign answers Fine Uploader S3's signature request, v4 only: a
// POST policy, checked, rewritten and signed, or a multipart REST request,
// checked and signed; each for the caller's own staging key of a name the
// rules let them upload.
func (s *Server) handleS3Sign(w http.ResponseWriter, r *http.Request) {
	const op = "s3.sign"
	log := make([]zap.Field, 0, 12)
	fail := func(err error) { s.fail(w, r, signJSON, "s3-sign", err, log...) }
	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))
	if q, err := url.ParseQuery(r.URL.RawQuery); err != nil || q.Get("v4") != "true" {
		fail(errs.E(op, errs.Invalid, s3sign.V2Message))
		return
	}
	body, err := readBody(w, r, op, MaxS3SignBody)
	if err != nil {
		fail(err)
		return
	}
	req, err := s3sign.ParseSignRequest(body)
	if err != nil {
		fail(err)
		return
	}
	sg := s.opts.S3.Signer
	if req.REST != nil {
		c, err := sg.CheckREST(*req.REST)
		if err != nil {
			fail(err)
			return
		}
		log = append(log, zap.String("request", c.Op.String()), zap.String("staging_key", errs.Clip(c.Key)))
		final, rule, err := s.s3Continue(op, user, c.Key)
		if err != nil {
			fail(err)
			return
		}
		log = append(log, zap.String("container", final.Container), zap.String("blob", errs.Clip(string(final.Name))), zap.String("rule", rule.Name))
		sig := sg.SignREST(c)
		s.s3Decided(r, "s3-sign", "issued", log)
		writeJSON(w, http.StatusOK, struct {
			Signature string `json:"signature"`
		}{sig})
		return
	}
	c, err := sg.CheckPolicy(*req.Policy)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("request", "policy"), zap.String("staging_key", errs.Clip(c.Key)))
	final, rule, err := s.s3Continue(op, user, c.Key)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("container", final.Container), zap.String("blob", errs.Clip(string(final.Name))), zap.String("rule", rule.Name))
	maxSize := rule.Constraints.MaxSize
	if maxSize <= 0 {
		maxSize = s.opts.S3.DefaultMaxSize
	}
	a, err := sg.SignPolicy(c, maxSize, s.s3Lifetime(rule))
	if err != nil {
		fail(errs.Wrap(op, errs.Internal, "", err))
		return
	}
	s.s3Decided(r, "s3-sign", "issued", append(log, zap.Int64("max_size", maxSize)))
	writeJSON(w, http.StatusOK, a)
}

// presignAnswer is the answer Uppy's signRequest returns: the URL and the
// key it is for, which Uppy uses from then on.
type presignAnswer struct {
	URL string `json:"url"`
	Key string `json:"key"`
}

// handleS3Presign answers Uppy's signRequest: a PutObject or a
// CreateMultipartUpload is decided on the final name Uppy asks for and
// signed for the caller's staging key of it; the multipart requests that
// follow must name that staging key, which the rules must still allow.
func (s *Server) handleS3Presign(w http.ResponseWriter, r *http.Request) {
	const op = "s3.presign"
	log := make([]zap.Field, 0, 12)
	fail := func(err error) { s.fail(w, r, signJSON, "s3-presign", err, log...) }
	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q["bucket"]) != 1 {
		fail(errs.Wrap(op, errs.Invalid, "want exactly one bucket parameter: the final bucket", err))
		return
	}
	body, err := readBody(w, r, op, MaxS3SignBody)
	if err != nil {
		fail(err)
		return
	}
	req, sop, err := s3sign.ParsePresign(body)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("request", sop.String()))
	var staged blobref.Ref
	var rule *authz.Rule
	if sop.Starts() {
		final, err := s.finalRef(op, q.Get("bucket"), req.Key)
		if err != nil {
			fail(err)
			return
		}
		log = append(log, zap.String("container", final.Container), zap.String("blob", errs.Clip(string(final.Name))))
		if staged, rule, err = s.s3Start(r.Context(), op, user, final); err != nil {
			fail(err)
			return
		}
	} else {
		log = append(log, zap.String("staging_key", errs.Clip(req.Key)))
		final, ru, err := s.s3Continue(op, user, req.Key)
		if err == nil && final.Container != q.Get("bucket") {
			err = errs.E(op, errs.Forbidden, "the key is not an upload to bucket "+errs.Clip(q.Get("bucket")))
		}
		if err != nil {
			fail(err)
			return
		}
		log = append(log, zap.String("container", final.Container), zap.String("blob", errs.Clip(string(final.Name))))
		staged, rule = blobref.Ref{Container: s.opts.S3.Staging.Container, Name: blobref.Name(req.Key)}, ru
	}
	u, err := s.opts.S3.Signer.Presign(sop, string(staged.Name), req.UploadID, req.PartNumber, s.s3Lifetime(rule))
	if err != nil {
		fail(errs.Wrap(op, errs.Internal, "", err))
		return
	}
	s.s3Decided(r, "s3-presign", "issued", append(log, zap.String("rule", rule.Name), zap.String("staging_key", errs.Clip(string(staged.Name)))))
	writeJSON(w, http.StatusOK, presignAnswer{URL: u, Key: string(staged.Name)})
}

// finalRef checks a final bucket and name from a request.
func (s *Server) finalRef(op, bucket, name string) (blobref.Ref, error) {
	if !slices.Contains(s.opts.Policy.Containers(), bucket) {
		return blobref.Ref{}, errs.E(op, errs.Forbidden, "bucket "+errs.Clip(bucket)+" is not one this service uploads to")
	}
	n, err := blobref.ParseName(name)
	if err != nil {
		return blobref.Ref{}, errs.Wrap(op, errs.Invalid, err.Error(), err)
	}
	return blobref.Ref{Container: bucket, Name: n}, nil
}

// s3Start decides an upload to final, as /sas decides a PUT, and returns
// the caller's staging key for it.
func (s *Server) s3Start(ctx context.Context, op string, user authz.User, final blobref.Ref) (blobref.Ref, *authz.Rule, error) {
	staged, d, err := s.opts.S3.Staging.Target(ctx, s.opts.Policy, nil, authz.Request{User: user, Method: authz.Put, Blob: final})
	if err != nil {
		return blobref.Ref{}, nil, err
	}
	if !d.Allow {
		return blobref.Ref{}, nil, errs.Wrap(op, errs.Forbidden, d.Reason, nil)
	}
	return staged, d.Rule, nil
}

// s3Continue checks a staging key that a request to sign names: it must
// be the caller's own staging key of a final name the rules let them
// upload, now. It returns that final name and the rule.
func (s *Server) s3Continue(op string, user authz.User, key string) (blobref.Ref, *authz.Rule, error) {
	final, ok, err := s.ownStaged(op, user, key)
	if err != nil {
		return blobref.Ref{}, nil, err
	}
	if !ok {
		return blobref.Ref{}, nil, errs.E(op, errs.Forbidden, "the key is not one of your uploads: ask /s3/key for the key of a file")
	}
	d := s.opts.Policy.Decide(authz.Request{User: user, Method: authz.Put, Blob: final})
	if !d.Allow {
		return blobref.Ref{}, nil, errs.E(op, errs.Forbidden, d.Reason)
	}
	return final, d.Rule, nil
}

// ownStaged reads the final name of key, a staging key: ok is false
// unless key is exactly the one that the caller's upload to that name is
// staged at (no other spelling of the user id, no other user). err is a
// final name or bucket the service refuses.
func (s *Server) ownStaged(op string, user authz.User, key string) (final blobref.Ref, ok bool, err error) {
	owner, final, ok := staging.Final(key)
	if !ok || owner != user.ID {
		return blobref.Ref{}, false, nil
	}
	if final, err = s.finalRef(op, final.Container, string(final.Name)); err != nil {
		return blobref.Ref{}, false, err
	}
	staged, err := s.opts.S3.Staging.Ref(user.ID, final)
	if err != nil || string(staged.Name) != key {
		return blobref.Ref{}, false, nil
	}
	return final, true, nil
}

// s3Lifetime is the lifetime of what rule's requests are signed with.
func (s *Server) s3Lifetime(rule *authz.Rule) time.Duration {
	if rule != nil && rule.Lifetime > 0 {
		return min(rule.Lifetime, s3sign.MaxPresignLifetime)
	}
	return s.opts.S3.Lifetime
}

// s3Decided counts and logs a signed request; the signature is never
// logged.
func (s *Server) s3Decided(r *http.Request, route, outcome string, log []zap.Field) {
	s.opts.Metrics.count(route, outcome)
	s.log(r).Info(route, append(log, zap.String("outcome", outcome))...)
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, op string, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errs.E(op, errs.TooLarge, fmt.Sprintf("request body is larger than %d bytes", limit)).Final()
	}
	if err != nil {
		return nil, errs.Wrap(op, errs.Invalid, "cannot read the request body", err)
	}
	return body, nil
}

// handleS3Delete answers Fine Uploader S3's deleteFile: DELETE
// /s3/files/{uuid}?key=&bucket=.
func (s *Server) handleS3Delete(w http.ResponseWriter, r *http.Request) {
	const op = "s3.delete"
	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		s.fail(w, r, uploadJSON, "s3-delete", err)
		return
	}
	s.deleteS3File(w, r, user, mux.Vars(r)["uuid"], r.URL.Query())
}

// handleS3DeleteForm answers deleteFile with method POST: a form with
// _method=DELETE, qquuid, key and bucket.
func (s *Server) handleS3DeleteForm(w http.ResponseWriter, r *http.Request) {
	const op = "s3.delete"
	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		s.fail(w, r, uploadJSON, "s3-delete", err)
		return
	}
	v, err := readSmallForm(w, r, op)
	if err == nil && v.Get("_method") != "DELETE" {
		err = errs.E(op, errs.Invalid, "a form POST to /s3/files must be a delete (_method=DELETE)")
	}
	if err != nil {
		s.fail(w, r, uploadJSON, "s3-delete", err, zap.String("user", errs.Clip(user.ID)))
		return
	}
	s.deleteS3File(w, r, user, v.Get("qquuid"), v)
}

// deleteS3File deletes the caller's promoted upload whose staging key
// Fine Uploader knows: the final object that key names, if the caller's
// stamp is on it and a rule lets them delete it, pinned to the ETag its
// stamp was read with. Fine Uploader S3 never deletes at storage itself.
func (s *Server) deleteS3File(w http.ResponseWriter, r *http.Request, user authz.User, uuid string, params url.Values) {
	const op = "s3.delete"
	log := []zap.Field{zap.String("user", errs.Clip(user.ID)), zap.String("uuid", errs.Clip(uuid))}
	fail := func(err error) { s.fail(w, r, uploadJSON, "s3-delete", err, log...) }
	key, bucket := params.Get("key"), params.Get("bucket")
	if uuid == "" || key == "" {
		fail(errs.E(op, errs.Invalid, "want the file's uuid and key").Final())
		return
	}
	if bucket != "" && bucket != s.opts.S3.Staging.Container {
		fail(errs.E(op, errs.Forbidden, "bucket "+errs.Clip(bucket)+" is not the upload bucket").Final())
		return
	}
	final, ok, err := s.ownStaged(op, user, key)
	if err != nil {
		fail(err)
		return
	}
	if !ok {
		fail(errs.E(op, errs.NotFound, "no upload of yours has this key").Final())
		return
	}
	log = append(log, zap.String("container", final.Container), zap.String("blob", errs.Clip(string(final.Name))))
	d := s.opts.Policy.Decide(authz.Request{User: user, Method: authz.Delete, Blob: final})
	if !d.Allow {
		fail(errs.E(op, errs.Forbidden, "you may not delete "+errs.Clip(string(final.Name))).Final())
		return
	}
	log = append(log, zap.String("rule", d.Rule.Name))
	files := s.opts.S3.Files
	p, err := files.Properties(r.Context(), final)
	switch {
	case errors.Is(err, blobstore.ErrNotFound), err == nil && !success.StampedBy(p.Metadata, user.ID):
		fail(errs.E(op, errs.NotFound, "no upload of yours has this key").Final())
		return
	case err != nil:
		fail(errs.Wrap(op, errs.Unavailable, "storage failed; try again", err))
		return
	}
	err = files.Delete(r.Context(), final, blobstore.Condition{ETag: p.ETag})
	switch {
	case errors.Is(err, blobstore.ErrChanged):
		fail(errs.E(op, errs.Conflict, "the file changed while it was being deleted; try again"))
		return
	case errors.Is(err, blobstore.ErrNotFound):
		fail(errs.E(op, errs.NotFound, "no upload of yours has this key").Final())
		return
	case err != nil:
		fail(errs.Wrap(op, errs.Unavailable, "storage failed; try again", err))
		return
	}
	s.s3Decided(r, "s3-delete", "deleted", log)
	writeJSON(w, http.StatusOK, chunkAnswer{Success: true})
}

// s3SuccessForm reads Fine Uploader S3's upload-success form (key, uuid,
// name, bucket, etag and the params) or the JSON {key[, bucket]} a page
// posts after Uppy's upload: the staging key names the user and the final
// name.
func (s *Server) s3SuccessForm(op string, user authz.User, v url.Values) (successForm, error) {
	f := successForm{params: map[string]string{}}
	if len(v["key"]) != 1 || v.Get("key") == "" {
		return f, errs.E(op, errs.Invalid, "want exactly one key field").Final()
	}
	final, ok, err := s.ownStaged(op, user, v.Get("key"))
	if err != nil {
		var e *errs.Error
		errors.As(err, &e)
		return f, e.Final()
	}
	if !ok {
		return f, errs.E(op, errs.Forbidden, "the key is not one of your uploads").Final()
	}
	// Fine Uploader names the staging bucket; a page after Uppy may name
	// the final one.
	if b := v.Get("bucket"); b != "" && b != s.opts.S3.Staging.Container && b != final.Container {
		return f, errs.E(op, errs.Forbidden, "bucket "+errs.Clip(b)+" is neither the upload bucket nor the key's final bucket").Final()
	}
	f.blob, f.uuid, f.name = final, v.Get("uuid"), v.Get("name")
	for k, vs := range v {
		switch k {
		case "key", "bucket", "uuid", "name", "etag":
		default:
			if len(vs) > 0 {
				f.params[k] = vs[0]
			}
		}
	}
	return f, nil
}

// isS3Success tells an S3 upload-success body from an Azure one: it names
// a key, not a blob.
func isS3Success(v url.Values) bool {
	_, key := v["key"]
	_, blob := v["blob"]
	return key && !blob
}

// signFailure is a failure as Fine Uploader S3's signature requests read
// it: invalid set, and the reason, which Fine Uploader shows as the
// file's error. Uppy's presign requests get the same.
type signFailure struct {
	Invalid bool   `json:"invalid"`
	Error   string `json:"error"`
}
