package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/success"
)

// ctxChecker is a SuccessChecker that sees the request's context.
type ctxChecker func(context.Context, success.Request) (success.Result, error)

func (f ctxChecker) Check(ctx context.Context, r success.Request) (success.Result, error) {
	return f(ctx, r)
}

func postSuccess(t *testing.T, s *Server) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", "/success", strings.NewReader(successBody("users/alice/x.png")))
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var ans map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
		t.Fatalf("answer %d %q is not JSON", w.Code, w.Body)
	}
	return w, ans
}

// TestSuccessBudget: a check that outlives the budget is answered with a
// retryable 504, whatever the checker's error says; a check that decided
// the request before the end of the budget keeps its answer.
func TestSuccessBudget(t *testing.T) {
	tests := []struct {
		name   string
		err    func(ctx context.Context) error
		status int
		msg    string
	}{
		{"storage call cut", func(ctx context.Context) error {
			return errs.Wrap("t", errs.Unavailable, "storage is not answering; try again", ctx.Err())
		}, 504, "storage is not answering; try again"},
		{"plain error", func(ctx context.Context) error { return ctx.Err() }, 504, "storage did not answer in time; retrying will finish the check"},
		{"rejected just in time", func(context.Context) error {
			return errs.E("t", errs.Rejected, "file is too large").Final()
		}, 422, "file is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.SuccessTimeout = 20 * time.Millisecond
			o.Success = ctxChecker(func(ctx context.Context, _ success.Request) (success.Result, error) {
				<-ctx.Done()
				return success.Result{}, tt.err(ctx)
			})
			s := mustNew(t, o)
			w, ans := postSuccess(t, s)
			if w.Code != tt.status || ans["success"] != false || ans["error"] != tt.msg {
				t.Fatalf("answer %d %v, want %d %q", w.Code, ans, tt.status, tt.msg)
			}
			if tt.status == 504 && (ans["preventRetry"] != nil || ans["reset"] != nil) {
				t.Fatalf("a timeout must be retryable: %v", ans)
			}
		})
	}
}

// TestSuccessInFlightCap: beyond SuccessMaxInFlight checks at once, a
// request is answered 503 with Retry-After at once, counted as busy, and
// the checks in flight still finish.
func TestSuccessInFlightCap(t *testing.T) {
	o := testOptions(t)
	o.SuccessMaxInFlight = 2
	entered, release := make(chan struct{}), make(chan struct{})
	o.Success = ctxChecker(func(context.Context, success.Request) (success.Result, error) {
		entered <- struct{}{}
		<-release
		return success.Result{Blob: "users/alice/x.png"}, nil
	})
	s := mustNew(t, o)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _ := postSuccess(t, s)
			codes <- w.Code
		}()
		<-entered
	}
	w, ans := postSuccess(t, s)
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" || ans["success"] != false || ans["preventRetry"] != nil ||
		ans["error"] != "the service is busy; retrying in a moment will check the upload" {
		t.Fatalf("third request: %d Retry-After %q %v, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"), ans)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("a check in flight answered %d", c)
		}
	}
	if got := testutil.ToFloat64(s.opts.Metrics.success.WithLabelValues("busy")); got != 1 {
		t.Errorf("busy count %v, want 1", got)
	}
	// The slots are free again.
	go func() { <-entered }()
	release = make(chan struct{})
	close(release)
	if w, _ := postSuccess(t, s); w.Code != 200 {
		t.Fatalf("after the checks finished: %d", w.Code)
	}
}
