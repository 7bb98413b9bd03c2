package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// benchWriter is a ResponseWriter that keeps the status and headers and
// drops the body, reused from request to request as a connection's is.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *benchWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}
func (w *benchWriter) WriteString(s string) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(s)
	return len(s), nil
}
func (w *benchWriter) reset() { clear(w.h); w.code, w.n = 0, 0 }

// benchSAS serves the same signature request b.N times and reports the
// server's allocations: the request is parsed once, as net/http parses it
// before any handler runs, and the handler does not change it.
func benchSAS(b *testing.B, log *zap.Logger) {
	ts := newTestServer(b)
	ts.opts.Logger = log
	r := httptest.NewRequest("GET", sasQuery(endpoint+"/uploads/users/alice/0f8fad5b-d9cb-469f-a165-70867728950e.jpg", "PUT"), nil)
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		ts.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatal(w.code)
		}
	}
}

// BenchmarkSAS measures the whole /sas path: request id, routing,
// metrics, authentication, parsing, the decision, signing and the answer.
func BenchmarkSAS(b *testing.B) { benchSAS(b, zap.NewNop()) }

// BenchmarkSASLogged is BenchmarkSAS with the decision logged at info
// level as JSON, as in production.
func BenchmarkSASLogged(b *testing.B) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	benchSAS(b, zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel)))
}

// BenchmarkSASRecorder is BenchmarkSAS with a new httptest request and
// recorder per iteration, which it counts too (some 18 allocations).
func BenchmarkSASRecorder(b *testing.B) {
	ts := newTestServer(b)
	ts.opts.Logger = zap.NewNop()
	target := sasQuery(endpoint+"/uploads/users/alice/0f8fad5b-d9cb-469f-a165-70867728950e.jpg", "PUT")
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "Bearer "+aliceToken)
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
