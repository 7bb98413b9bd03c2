// Package server is blobvalet's HTTP layer: routing, CORS, request ids,
// logging, metrics, and the mapping of errors to HTTP answers. It serves the
// public API (/sas, /success, Fine Uploader's traditional endpoint under
// /upload, the S3 routes under /s3, /healthz and web/client's plugin
// files) and the admin endpoints (/readyz, /metrics); the demo page's
// routes come from package web through Options.Extra, and main owns the
// listeners. The decisions it serves are made in packages authz, sas,
// s3sign and success.
package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/handlers"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/web/client"
)

// Authenticator tells who sent a request.
type Authenticator interface {
	Authenticate(r *http.Request) (authz.User, error)
}

// Signer signs a URL that grants access to one blob until expiry: a SAS
// URI on Azure (package sas).
type Signer interface {
	Sign(ref blobref.Ref, access blobstore.Access, expiry time.Time) (string, error)
}

// Options are the parts a Server is built from. Logger, Auth and Policy
// are always required. Azure's /sas needs Resolver, Signer, Staging (its
// container), Uploads and a positive Lifetime: they are required unless S3
// is set and Resolver and Signer are not, which leaves /sas out (an
// S3-only service). New refuses options without what they need.
type Options struct {
	Logger   *zap.Logger
	Auth     Authenticator
	Policy   *authz.Policy
	Resolver *blobref.Resolver
	Signer   Signer
	// Lifetime is the SAS lifetime unless the matching rule sets its own.
	Lifetime time.Duration
	// Staging names the blobs that hold uploads until they are verified.
	Staging staging.Area
	// Uploads tells whether an upload to a staging blob is in progress.
	Uploads blobstore.Prober
	// CORSOrigins are the origins allowed to call the server from a page.
	CORSOrigins []string
	// Ready reports what the service can do now; it must answer at once
	// (keep the state up to date elsewhere). Nil means always ready.
	Ready func() Readiness
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics are updated and served at the admin handler's /metrics; nil
	// makes new ones.
	Metrics *Metrics
	// Success verifies finished uploads; nil leaves POST /success out.
	Success SuccessChecker
	// Extra registers further routes on the router, such as the demo page.
	Extra func(r *mux.Router)
	// Limits keeps callers to their request rates; nil means no limits.
	Limits *limits.Limiter
	// SuccessTimeout is the budget of one upload-success request; 0 means
	// none. It must end before the HTTP server's write timeout.
	SuccessTimeout time.Duration
	// SuccessMaxInFlight caps the upload-success checks running at once;
	// 0 means no cap.
	SuccessMaxInFlight int
	// Traditional takes Fine Uploader's traditional uploads; nil leaves
	// /upload out.
	Traditional Traditional
	// TraditionalTimeouts are the deadlines of /upload's requests.
	TraditionalTimeouts TraditionalTimeouts
	// S3 serves Fine Uploader S3 and Uppy's S3 uploader from a staging
	// bucket, and /success takes their reports; nil leaves /s3 out.
	S3 *S3
}

// azure reports whether the options serve Azure's /sas.
func (o *Options) azure() bool {
	return o.S3 == nil || o.Signer != nil || o.Resolver != nil
}

// Server answers Fine Uploader's requests.
type Server struct {
	// opts are the parts the server was built from; they do not change
	// while it runs.
	opts    Options
	handler http.Handler
	admin   http.Handler
	// successSlots holds a token for each upload-success check running;
	// nil without a cap.
	successSlots chan struct{}
}

// New builds a Server, or says which required option o lacks.
func New(o Options) (*Server, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now //nolint:forbidigo // the default clock
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	s := &Server{opts: o}
	if o.SuccessMaxInFlight > 0 {
		s.successSlots = make(chan struct{}, o.SuccessMaxInFlight)
	}

	r := mux.NewRouter()
	r.Use(s.instrument)
	if o.azure() {
		r.HandleFunc("/sas", s.handleSAS).Methods(http.MethodGet).Name("sas")
	}
	if o.S3 != nil {
		s.s3Routes(r)
	}
	if o.Success != nil {
		r.HandleFunc("/success", s.handleSuccess).Methods(http.MethodPost, http.MethodPut, http.MethodPatch).Name("success")
	}
	if o.Traditional != nil {
		s.uploadRoutes(r)
	}
	r.HandleFunc("/healthz", handleHealth).Methods(http.MethodGet, http.MethodHead).Name("healthz")
	client.Routes(r)
	if o.Extra != nil {
		o.Extra(r)
	}
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.methodNotAllowed(w, r)
	})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})

	// CORS wraps the router so that preflights never reach it.
	s.handler = withRequestID(s.cors()(r))
	s.admin = withRequestID(s.adminRouter())
	return s, nil
}

// validate tells which required options are missing or out of range.
func (o *Options) validate() error {
	var missing []string
	azure := o.azure()
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Logger", o.Logger != nil},
		{"Auth", o.Auth != nil},
		{"Policy", o.Policy != nil},
		{"Resolver", o.Resolver != nil || !azure},
		{"Signer", o.Signer != nil || !azure},
		{"Staging", o.Staging.Container != "" || !azure},
		{"Uploads", o.Uploads != nil || !azure},
	} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("server: required options missing: %s", strings.Join(missing, ", "))
	case azure && o.Lifetime <= 0:
		return fmt.Errorf("server: Lifetime must be positive, not %v", o.Lifetime)
	case o.SuccessTimeout < 0:
		return fmt.Errorf("server: SuccessTimeout must not be negative, not %v", o.SuccessTimeout)
	case o.SuccessMaxInFlight < 0:
		return fmt.Errorf("server: SuccessMaxInFlight must not be negative, not %d", o.SuccessMaxInFlight)
	case o.S3 != nil:
		return o.S3.validate()
	}
	return nil
}

// adminRouter routes what tells how the service is doing: readiness names
// what is degraded and why, and metrics count rules and outcomes, so they
// are for the operator's network, not the public one.
func (s *Server) adminRouter() *mux.Router {
	r := mux.NewRouter()
	r.Use(s.instrument)
	r.HandleFunc("/healthz", handleHealth).Methods(http.MethodGet, http.MethodHead).Name("healthz")
	r.HandleFunc("/readyz", s.handleReady).Methods(http.MethodGet, http.MethodHead).Name("readyz")
	r.Handle("/metrics", promhttp.HandlerFor(s.opts.Metrics.reg, promhttp.HandlerOpts{})).Methods(http.MethodGet).Name("metrics")
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return r
}

// Admin returns the handler for the admin listener: /healthz, /readyz and
// /metrics.
func (s *Server) Admin() http.Handler { return s.admin }

// Close releases what the server holds: a signer's background key renewal.
func (s *Server) Close() error {
	if c, ok := s.opts.Signer.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

func (s *Server) cors() func(http.Handler) http.Handler {
	opts := []handlers.CORSOption{
		handlers.AllowedMethods([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}),
		// X-Mime-Type is Fine Uploader's file type in raw uploads.
		handlers.AllowedHeaders([]string{"Authorization", "Content-Type", "X-Requested-With", "Cache-Control", "X-Mime-Type", RequestIDHeader}),
		handlers.ExposedHeaders([]string{RequestIDHeader}),
		handlers.MaxAge(600),
	}
	if slices.Contains(s.opts.CORSOrigins, "*") {
		// Any origin: the answer says "*", the same for every page, and
		// never carries credentials (cookies).
		return handlers.CORS(append(opts, handlers.AllowedOrigins([]string{"*"}))...)
	}
	// Named origins only, with credentials. An explicit validator, because
	// gorilla/handlers allows every origin when its list is empty, and
	// blobvalet with no cors_origins must allow none. The answer reflects
	// the origin, so it varies by Origin: say so to every cache.
	allowed := make(map[string]bool, len(s.opts.CORSOrigins))
	for _, o := range s.opts.CORSOrigins {
		allowed[strings.ToLower(o)] = true
	}
	cors := handlers.CORS(append(opts,
		handlers.AllowedOriginValidator(func(origin string) bool { return allowed[strings.ToLower(origin)] }),
		handlers.AllowCredentials(),
	)...)
	return func(next http.Handler) http.Handler {
		h := cors(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Origin")
			h.ServeHTTP(w, r)
		})
	}
}

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

// handleReady answers 200 while every essential part works, whatever else
// is degraded, and lists what is degraded and why; 503 while an essential
// part fails or the service is stopping. ?verbose adds every part with
// when it was last checked.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var rd Readiness
	if s.opts.Ready != nil {
		rd = s.opts.Ready()
	}
	if !rd.OK() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, verbose := r.URL.Query()["verbose"]
	_, _ = io.WriteString(w, rd.Text(verbose, s.opts.Now()))
}

// Readiness is what the service can do now, as /readyz tells it.
type Readiness struct {
	// Stopping is set once shutdown began: readiness fails so that load
	// balancers send nothing new while the requests in flight finish.
	Stopping bool
	// Parts are what the service does, in order.
	Parts []Part
}

// Part is one thing the service does, and whether it works.
type Part struct {
	// Name says what the part does: signing, verifying.
	Name string
	// Essential parts make the service unready when they fail; the others
	// only degrade it.
	Essential bool
	// Problem says why the part does not work; empty while it does.
	Problem string
	// Since is when the part started working or failing as it does now.
	Since time.Time
	// Checked is when the part was last checked.
	Checked time.Time
}

// OK reports whether the service is ready: not stopping, and every
// essential part works.
func (rd Readiness) OK() bool {
	if rd.Stopping {
		return false
	}
	for _, p := range rd.Parts {
		if p.Essential && p.Problem != "" {
			return false
		}
	}
	return true
}

// Text is the body of /readyz: the verdict, then one line per part that
// does not work (every part when verbose).
func (rd Readiness) Text(verbose bool, now time.Time) string {
	var b strings.Builder
	switch {
	case rd.Stopping:
		b.WriteString("not ready: stopping\n")
	case !rd.OK():
		b.WriteString("not ready\n")
	default:
		b.WriteString("ready\n")
	}
	for _, p := range rd.Parts {
		state := "ok"
		switch {
		case p.Problem != "" && p.Essential:
			state = "failing: " + p.Problem
		case p.Problem != "":
			state = "degraded: " + p.Problem
		case !verbose:
			continue
		}
		b.WriteString(p.Name + ": " + state)
		if verbose && !p.Checked.IsZero() {
			fmt.Fprintf(&b, " (since %s; checked %s ago)", p.Since.UTC().Format(time.RFC3339), now.Sub(p.Checked).Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", allowedMethods(r.URL.Path))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

func allowedMethods(path string) string {
	switch path {
	case "/sas", "/metrics":
		return "GET"
	case "/success":
		return "POST, PUT, PATCH"
	case "/upload", "/upload/done", "/s3/sign", "/s3/presign", "/s3/files":
		return "POST"
	}
	if strings.HasPrefix(path, "/upload/") || strings.HasPrefix(path, "/s3/files/") {
		return "DELETE"
	}
	return "GET, HEAD"
}
