package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/sas"
)

// sasRequest is a parsed signature request.
type sasRequest struct {
	method authz.Method
	blob   blobref.Ref
}

// parseSASQuery parses Fine Uploader's signature query: exactly one bloburi
// and one _method; qqtimestamp and anything else is ignored.
func parseSASQuery(rawQuery string, resolver *blobref.Resolver) (sasRequest, error) {
	const op = "sas.parse"
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return sasRequest{}, errs.Wrap(op, errs.Invalid, "malformed query", err)
	}
	uris, methods := q["bloburi"], q["_method"]
	if len(uris) != 1 || uris[0] == "" {
		return sasRequest{}, errs.E(op, errs.Invalid, "want exactly one bloburi parameter")
	}
	if len(methods) != 1 || methods[0] == "" {
		return sasRequest{}, errs.E(op, errs.Invalid, "want exactly one _method parameter")
	}
	m, err := authz.ParseMethod(methods[0])
	if err != nil {
		return sasRequest{}, errs.Wrap(op, errs.Forbidden, "_method must be PUT or DELETE", err)
	}
	ref, err := resolver.Resolve(uris[0])
	if errors.Is(err, blobref.ErrUnknownContainer) {
		return sasRequest{}, errs.Wrap(op, errs.Forbidden, "bloburi is not in a container this service signs for", err)
	}
	if err != nil {
		return sasRequest{}, errs.Wrap(op, errs.Invalid, err.Error(), err)
	}
	return sasRequest{method: m, blob: ref}, nil
}

// handleSAS answers Fine Uploader's signature request with a SAS URI as the
// raw body, or an error status with no SAS.
func (s *Server) handleSAS(w http.ResponseWriter, r *http.Request) {
	const op = "sas.issue"
	log := make([]zap.Field, 0, 12)
	log = append(log, zap.String("request_id", RequestID(r.Context())))
	fail := func(outcome string, err error) {
		a := s.textError(w, r, err)
		s.Metrics.sas.WithLabelValues(outcome, "").Inc()
		log = append(log, zap.String("outcome", outcome), zap.Int("status", a.status), zap.String("reason", err.Error()))
		if a.status >= 500 {
			s.Logger.Error("sas", log...)
		} else if !errs.IsQuiet(err) {
			s.Logger.Info("sas", log...)
		}
	}

	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		fail(outcomeOf(err), err)
		return
	}
	log = append(log, zap.String("user", user.ID))

	req, err := parseSASQuery(r.URL.RawQuery, s.Resolver)
	if err != nil {
		fail(outcomeOf(err), err)
		return
	}
	log = append(log,
		zap.String("method", string(req.method)),
		zap.String("container", req.blob.Container),
		zap.String("blob", string(req.blob.Name)))

	target, d, err := s.target(r.Context(), user, req)
	if err != nil {
		fail(outcomeOf(err), err)
		return
	}
	if !d.Allow {
		fail("denied", errs.E(op, errs.Forbidden, d.Reason))
		return
	}
	log = append(log, zap.String("rule", d.Rule.Name))
	if target != req.blob {
		log = append(log, zap.String("staging_blob", string(target.Name)))
	}

	perms, err := sas.PermissionsFor(req.method)
	if err != nil {
		fail("error", errs.Wrap(op, errs.Internal, "", err))
		return
	}
	lifetime := s.Lifetime
	if d.Rule.Lifetime != 0 {
		lifetime = d.Rule.Lifetime
	}
	expiry := s.Now().Add(lifetime)
	uri, err := s.Signer.Sign(target, perms, expiry)
	if err != nil {
		fail("error", errs.Wrap(op, errs.Internal, "", err))
		return
	}

	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(uri))
	s.Metrics.sas.WithLabelValues("issued", d.Rule.Name).Inc()
	s.Logger.Info("sas", append(log,
		zap.String("outcome", "issued"),
		zap.String("permissions", perms.String()),
		zap.Time("expiry", expiry.UTC().Truncate(time.Second)))...)
}

// target decides a signature request and returns the blob to sign for.
// The rules decide on the final name. A PUT is signed for the caller's own
// staging blob of that name: nothing reaches a final name before it is
// verified. A DELETE is signed for the final name, unless the caller's
// upload to that name is in progress: then it is Fine Uploader cleaning up
// a cancelled upload, and it removes the unverified upload, never a
// verified file.
func (s *Server) target(ctx context.Context, user authz.User, req sasRequest) (blobref.Ref, authz.Decision, error) {
	const op = "sas.issue"
	d := s.Policy.Decide(authz.Request{User: user, Method: req.method, Blob: req.blob})
	if req.method == authz.Delete {
		put := s.Policy.Decide(authz.Request{User: user, Method: authz.Put, Blob: req.blob})
		if !put.Allow {
			return req.blob, d, nil
		}
		staged, err := s.Staging.Ref(user.ID, req.blob)
		if err != nil {
			return req.blob, d, nil
		}
		busy, err := s.Staging.InProgress(ctx, staged)
		if err != nil {
			return blobref.Ref{}, d, errs.Wrap(op, errs.Unavailable, "storage is not answering; try again", err)
		}
		if busy {
			return staged, put, nil
		}
		return req.blob, d, nil
	}
	if !d.Allow {
		return req.blob, d, nil
	}
	staged, err := s.Staging.Ref(user.ID, req.blob)
	if err != nil {
		return blobref.Ref{}, d, errs.Wrap(op, errs.Invalid, err.Error(), err)
	}
	return staged, d, nil
}

func outcomeOf(err error) string {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return "invalid"
	case errs.Forbidden:
		return "denied"
	case errs.Unauthenticated:
		return "unauthenticated"
	case errs.TooManyRequests:
		return "limited"
	}
	return "error"
}
