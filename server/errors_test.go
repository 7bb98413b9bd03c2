package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/success"
)

func TestFailureOf(t *testing.T) {
	forbidden := errs.E("t", errs.Forbidden, "not yours")
	tests := []struct {
		name    string
		err     error
		status  int
		outcome string
		msg     string
	}{
		{"kind", forbidden, 403, "denied", "not yours"},
		{"wrapped kind keeps its status", fmt.Errorf("while checking: %w", forbidden), 403, "denied", "not yours"},
		{"unknown kind is a 500", &errs.Error{Kind: errs.Kind(99), Msg: "odd"}, 500, "error", "Internal Server Error"},
		{"plain error is a 500", fmt.Errorf("boom"), 500, "error", "Internal Server Error"},
		{"internal message never shown", errs.Wrap("t", errs.Internal, "key=abc", fmt.Errorf("x")), 500, "error", "Internal Server Error"},
		{"taken", &errs.Error{Kind: errs.Exists, Msg: "exists", PreventRetry: true}, 409, "taken", "exists"},
		{"changed", &errs.Error{Kind: errs.Conflict, Msg: "retry"}, 409, "changed", "retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := failureOf(tt.err)
			if f.status != tt.status || f.outcome != tt.outcome || f.msg != tt.msg {
				t.Errorf("failureOf = %+v, want %d %s %q", f, tt.status, tt.outcome, tt.msg)
			}
		})
	}
	for kind := errs.Internal; kind <= errs.Busy; kind++ {
		if _, ok := edge[kind]; !ok {
			t.Errorf("kind %v has no entry in the table", kind)
		}
	}
}

// TestOneAnswerOneLineOneCount: every /success failure, whatever the error,
// gets one JSON answer with a real status, one log line that carries the
// request id once, and one count.
func TestOneAnswerOneLineOneCount(t *testing.T) {
	for name, checkErr := range map[string]error{
		"wrapped forbidden": fmt.Errorf("outer: %w", errs.E("t", errs.Forbidden, "not yours")),
		"unknown kind":      &errs.Error{Kind: errs.Kind(42)},
		"plain":             fmt.Errorf("boom"),
	} {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t)
			core, logs := observer.New(zap.DebugLevel)
			o.Logger = zap.New(core)
			o.Success = checkerFunc(func(success.Request) (success.Result, error) { return success.Result{}, checkErr })
			srv := mustNew(t, o)
			r := httptest.NewRequest("POST", "/success", strings.NewReader(successBody("users/alice/x.png")))
			r.Header.Set("Authorization", "Bearer "+aliceToken)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r) // must not panic
			want := failureOf(checkErr)
			var ans map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || w.Code != want.status || ans["success"] != false {
				t.Fatalf("answer %d %q, want %d JSON", w.Code, w.Body, want.status)
			}
			lines := logs.FilterMessage("success").All()
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1", len(lines))
			}
			ids := 0
			for _, f := range lines[0].Context {
				if f.Key == "request_id" {
					ids++
				}
			}
			if ids != 1 {
				t.Errorf("request_id %d times in the line", ids)
			}
			if got := testutil.ToFloat64(srv.opts.Metrics.success.WithLabelValues(want.outcome)); got != 1 {
				t.Errorf("outcome %s counted %v times", want.outcome, got)
			}
		})
	}
}

func TestCORSVaryAndAnyOrigin(t *testing.T) {
	get := func(srv http.Handler, origin string) http.Header {
		r := httptest.NewRequest("GET", "/healthz", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Header()
	}
	named := mustNew(t, testOptions(t))
	for _, origin := range []string{"https://app.example.com", "https://evil.example.com", ""} {
		if h := get(named, origin); !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("origin %q: no Vary: Origin (%v)", origin, h)
		}
	}
	o := testOptions(t)
	o.CORSOrigins = []string{"*"}
	anyOrigin := mustNew(t, o)
	h := get(anyOrigin, "https://page.example")
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("cors_origins [*]: %v, want Access-Control-Allow-Origin: * without credentials", h)
	}
}
