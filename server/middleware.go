package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the request's id.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID takes a sane X-Request-Id from the caller or makes one, puts
// it in the context and echoes it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
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

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Metrics are the service's Prometheus metrics. One set serves every
// Server built over a process's life, so that a reload keeps the counts.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sas      *prometheus.CounterVec
	success  *prometheus.CounterVec
}

// NewMetrics registers blobvalet's metrics in reg.
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
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		sas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_sas_decisions_total",
			Help: "Signature requests by outcome (issued, denied, unauthenticated, limited, invalid, error) and rule.",
		}, []string{"outcome", "rule"}),
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blobvalet_uploads_checked_total",
			Help: "Upload-success checks by outcome (verified, rejected, denied, missing, changed, error).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.sas, m.success)
	return m
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
		start := time.Now()
		m := httpsnoop.CaptureMetrics(next, w, r)
		s.Metrics.requests.WithLabelValues(route, strconv.Itoa(m.Code)).Inc()
		s.Metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
