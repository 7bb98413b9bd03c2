package server

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/limits"
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
	q, err := scanSASQuery(rawQuery)
	if err != nil {
		return sasRequest{}, errs.Wrap(op, errs.Invalid, "malformed query", err)
	}
	if q.blobURIs != 1 || q.blobURI == "" {
		return sasRequest{}, errs.E(op, errs.Invalid, "want exactly one bloburi parameter")
	}
	if q.methods != 1 || q.method == "" {
		return sasRequest{}, errs.E(op, errs.Invalid, "want exactly one _method parameter")
	}
	m, err := authz.ParseMethod(q.method)
	if err != nil {
		return sasRequest{}, errs.Wrap(op, errs.Forbidden, "_method must be PUT or DELETE", err)
	}
	ref, err := resolver.Resolve(q.blobURI)
	if errors.Is(err, blobref.ErrUnknownContainer) {
		return sasRequest{}, errs.Wrap(op, errs.Forbidden, "bloburi is not in a container this service signs for", err)
	}
	if err != nil {
		return sasRequest{}, errs.Wrap(op, errs.Invalid, err.Error(), err)
	}
	return sasRequest{method: m, blob: ref}, nil
}

// sasParams is what parseSASQuery reads of a query: how often bloburi and
// _method occur, and the first value of each.
type sasParams struct {
	blobURI, method   string
	blobURIs, methods int
}

// maxScannedParams is the most parameters scanSASQuery reads itself; a
// longer query goes to url.ParseQuery, with its limit on parameters.
const maxScannedParams = 64

// scanSASQuery reads bloburi and _method as url.ParseQuery would, failing
// where it fails, without building a map: it is on every /sas request.
// Fine Uploader sends three parameters.
func scanSASQuery(raw string) (sasParams, error) {
	var q sasParams
	if strings.Count(raw, "&") >= maxScannedParams {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return q, err
		}
		q.blobURIs, q.methods = len(v["bloburi"]), len(v["_method"])
		if q.blobURIs > 0 {
			q.blobURI = v["bloburi"][0]
		}
		if q.methods > 0 {
			q.method = v["_method"][0]
		}
		return q, nil
	}
	var err error
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(part, ";") {
			err = errors.New("invalid semicolon separator in query")
			continue
		}
		if part == "" {
			continue
		}
		key, value, _ := strings.Cut(part, "=")
		key, err1 := queryUnescape(key)
		if err1 == nil {
			err1 = checkEscapes(value)
		}
		if err1 != nil {
			if err == nil {
				err = err1
			}
			continue
		}
		switch key {
		case "bloburi":
			if q.blobURIs++; q.blobURIs == 1 {
				q.blobURI, _ = queryUnescape(value)
			}
		case "_method":
			if q.methods++; q.methods == 1 {
				q.method, _ = queryUnescape(value)
			}
		}
	}
	return q, err
}

// queryUnescape is url.QueryUnescape without an allocation for the common
// case of nothing to unescape.
func queryUnescape(s string) (string, error) {
	if strings.ContainsAny(s, "%+") {
		return url.QueryUnescape(s)
	}
	return s, nil
}

// checkEscapes fails where url.QueryUnescape fails: on a "%" that is not
// followed by two hex digits.
func checkEscapes(s string) error {
	for i := strings.IndexByte(s, '%'); i >= 0; i = strings.IndexByte(s, '%') {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			_, err := url.QueryUnescape(s)
			return err
		}
		s = s[i+3:]
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// handleSAS answers Fine Uploader's signature request with a SAS URI as the
// raw body, or an error status with no SAS.
func (s *Server) handleSAS(w http.ResponseWriter, r *http.Request) {
	const op = "sas.issue"
	log := make([]zap.Field, 0, 12)
	fail := func(err error) { s.fail(w, r, plainText, "sas", err, log...) }

	user, err := s.authenticate(w, r, op, limits.SAS)
	if err != nil {
		fail(err)
		return
	}
	log = append(log, zap.String("user", errs.Clip(user.ID)))

	req, err := parseSASQuery(r.URL.RawQuery, s.opts.Resolver)
	if err != nil {
		fail(err)
		return
	}
	log = append(log,
		zap.String("method", string(req.method)),
		zap.String("container", req.blob.Container),
		zap.String("blob", string(req.blob.Name)))

	target, d, err := s.opts.Staging.Target(r.Context(), s.opts.Policy, s.opts.Uploads, authz.Request{User: user, Method: req.method, Blob: req.blob})
	if err != nil {
		fail(err)
		return
	}
	if !d.Allow {
		fail(errs.E(op, errs.Forbidden, d.Reason))
		return
	}
	log = append(log, zap.String("rule", d.Rule.Name))
	if target != req.blob {
		log = append(log, zap.String("staging_blob", string(target.Name)))
	}

	access := blobstore.Upload // a parsed method is PUT or DELETE
	if req.method == authz.Delete {
		access = blobstore.Delete
	}
	lifetime := s.opts.Lifetime
	if d.Rule.Lifetime != 0 {
		lifetime = d.Rule.Lifetime
	}
	expiry := s.opts.Now().Add(lifetime)
	uri, err := s.opts.Signer.Sign(target, access, expiry)
	if err != nil {
		fail(errs.Wrap(op, errs.Internal, "", err))
		return
	}

	h := w.Header()
	h["Content-Type"] = textPlain
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
	_, _ = io.WriteString(w, uri) // nothing to do for a caller that went away
	s.opts.Metrics.sasDecision("issued", d.Rule.Name).Inc()
	s.log(r).Info("sas", append(log,
		zap.String("outcome", "issued"),
		zap.String("permissions", access.String()),
		zap.Time("expiry", expiry.UTC().Truncate(time.Second)))...)
}

// The header values of an issued SAS, shared by every answer: assigning
// them saves Header.Set's allocation per value. A header value is replaced
// by Set, never changed in place, so sharing them is safe.
var (
	textPlain = []string{"text/plain"}
	noStore   = []string{"no-store"}
	nosniff   = []string{"nosniff"}
)
