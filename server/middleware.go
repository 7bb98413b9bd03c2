package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the request's id.
func RequestID(ctx context.Context) string {
	c, _ := ctx.Value(requestIDKey).(*requestIDContext)
	if c == nil {
		return ""
	}
	return c.header[0]
}

// requestIDContext carries a request's id. It is its own context value and
// holds the response header's value too: one allocation per request where
// context.WithValue and Header.Set take three.
type requestIDContext struct {
	context.Context
	header [1]string
}

// Value implements context.Context.
func (c *requestIDContext) Value(key any) any {
	if key == requestIDKey {
		return c
	}
	return c.Context.Value(key)
}

// withRequestID takes a sane X-Request-Id from the caller or makes one, puts
// it in the context and echoes it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c := &requestIDContext{Context: r.Context(), header: [1]string{id}}
		w.Header()[RequestIDHeader] = c.header[:]
		next.ServeHTTP(w, r.WithContext(c))
	})
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// requestIDs makes request ids: 24 hex digits, a random prefix drawn once
// per process and a counter. They are unique without a random read per
// request, and sort in the order the process received the requests.
var requestIDs = func() *requestIDSource {
	var b [8]byte
	rand.Read(b[:])
	return &requestIDSource{prefix: binary.BigEndian.Uint64(b[:]) << 16}
}()

type requestIDSource struct {
	prefix uint64 // random high 48 bits
	n      atomic.Uint64
}

func newRequestID() string {
	n := requestIDs.n.Add(1)
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], requestIDs.prefix|n>>32&0xffff)
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	var h [24]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// Metrics are the service's Prometheus metrics. One set serves every
// Server built over a process's life, so that a reload keeps the counts.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sas      *prometheus.CounterVec
	success  *prometheus.CounterVec
	// uploads counts the traditional endpoint's requests.
	uploads *prometheus.CounterVec
	// s3 counts the S3 routes' requests.
	s3 *prometheus.CounterVec
	// background counts failures of work no request waits for, by task.
	background *prometheus.CounterVec

	// The counters and histograms of the label sets seen, so that a
	// request finds its own with a map lookup rather than by hashing its
	// labels under the vector's lock.
	requestsBy labelCache[prometheus.Counter]
	durationBy labelCache[prometheus.Observer]
	sasBy      labelCache[prometheus.Counter]
}

// labelCache maps up to maxCachedLabelSets label pairs to their metric,
// copied on write: the sets are few (routes and codes, outcomes and rules)
// and each is added once.
type labelCache[T any] struct {
	m atomic.Pointer[map[[2]string]T]
}

const maxCachedLabelSets = 256

// get returns the metric for labels a and b, making it with newMetric the first
// time.
func (c *labelCache[T]) get(a, b string, newMetric func() T) T {
	key := [2]string{a, b}
	var m map[[2]string]T
	if p := c.m.Load(); p != nil {
		m = *p
		if v, ok := m[key]; ok {
			return v
		}
	}
	v := newMetric()
	for len(m) < maxCachedLabelSets {
		old := c.m.Load()
		next := map[[2]string]T{key: v}
		if old != nil {
			for k, x := range *old {
				next[k] = x
			}
		}
		if c.m.CompareAndSwap(old, &next) {
			break
		}
		m = *c.m.Load()
	}
	return v
}

// count counts one failed (or verified) request of route with outcome: the
// decision counter of /sas (no rule), the check counter of /success.
func (m *Metrics) count(route, outcome string) {
	switch route {
	case "sas":
		m.sasDecision(outcome, "").Inc()
	case "success":
		m.success.WithLabelValues(outcome).Inc()
	case "upload", "upload-done", "upload-delete":
		m.uploads.WithLabelValues(route, outcome).Inc()
	case "s3-key", "s3-sign", "s3-presign", "s3-delete":
		m.s3.WithLabelValues(route, outcome).Inc()
	}
}

// sasDecision returns the counter of signature requests with outcome
// under rule.
func (m *Metrics) sasDecision(outcome, rule string) prometheus.Counter {
	return m.sasBy.get(outcome, rule, func() prometheus.Counter { return m.sas.WithLabelValues(outcome, rule) })
}

// NewMetrics registers blobvalet's metrics in reg, with the Go runtime's
// and the process's. Call it once for a registry: a process serves one.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "blobvalet_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60},
		}, []string{"route"}),
		sas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_sas_decisions_total",
			Help: "Signature requests by outcome (issued, denied, unauthenticated, limited, invalid, error) and rule.",
		}, []string{"outcome", "rule"}),
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_uploads_checked_total",
			Help: "Upload-success checks by outcome (verified, rejected, denied, missing, changed, limited, busy, timeout, error).",
		}, []string{"outcome"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_traditional_requests_total",
			Help: "Requests of Fine Uploader's traditional endpoint by route (upload, upload-done, upload-delete) and outcome (stored, verified, deleted, and the failures of the error edge).",
		}, []string{"route", "outcome"}),
		s3: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_s3_requests_total",
			Help: "Requests of the S3 routes by route (s3-key, s3-sign, s3-presign, s3-delete) and outcome (issued, deleted, and the failures of the error edge).",
		}, []string{"route", "outcome"}),
		background: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_background_failures_total",
			Help: "Failures of work no request waits for, by task (promotion: a copy that outlasted its request; delegation_key: renewing the user delegation key).",
		}, []string{"task"}),
	}
	reg.MustRegister(m.requests, m.duration, m.sas, m.success, m.uploads, m.s3, m.background,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// BackgroundFailed counts a failure of work that no request waits for;
// the caller logs it.
func (m *Metrics) BackgroundFailed(task string) {
	m.background.WithLabelValues(task).Inc()
}

// Registry returns the registry the metrics are in, for other parts of the
// service to add theirs.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// instrument counts and times every routed request.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "other"
		if cr := mux.CurrentRoute(r); cr != nil && cr.GetName() != "" {
			route = cr.GetName()
		}
		start := time.Now() //nolint:forbidigo // latency, on the wall clock
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m := s.opts.Metrics
		m.requestsBy.get(route, strconv.Itoa(code), func() prometheus.Counter {
			return m.requests.WithLabelValues(route, strconv.Itoa(code))
		}).Inc()
		m.durationBy.get(route, "", func() prometheus.Observer {
			return m.duration.WithLabelValues(route)
		}).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status of a response. Handlers that need more
// than http.ResponseWriter, such as flushing, reach the connection's writer
// through http.ResponseController, which follows Unwrap.
type statusWriter struct {
	http.ResponseWriter
	code int // the first status written; 0 until then
}

// WriteHeader implements http.ResponseWriter.
func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// WriteString writes s without copying it to a byte slice where the
// underlying writer can do the same.
func (w *statusWriter) WriteString(s string) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.WriteString(w.ResponseWriter, s)
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
