package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/success"
)

// countingAuth counts the credentials it is asked to check.
type countingAuth struct {
	Authenticator
	calls atomic.Int64
}

func (a *countingAuth) Authenticate(r *http.Request) (authz.User, error) {
	a.calls.Add(1)
	return a.Authenticator.Authenticate(r)
}

// withLimits rebuilds ts's server with a limiter on a clock that stands
// still unless the test moves it, and a success checker that verifies
// every upload.
func withLimits(t testing.TB, ts *testServer, o limits.Options) (*testServer, *countingAuth) {
	opts := ts.opts
	auth := &countingAuth{Authenticator: opts.Auth}
	opts.Auth = auth
	opts.Limits = limits.New(o, func() time.Time { return ts.now }, opts.Logger)
	opts.Success = checkerFunc(func(r success.Request) (success.Result, error) {
		return success.Result{Blob: string(r.Blob.Name)}, nil
	})
	return &testServer{Server: mustNew(t, opts), logs: ts.logs, now: ts.now}, auth
}

func get(t *testing.T, h http.Handler, target, token, remote string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if remote != "" {
		r.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestBurstAnswered429WithRetryAfter(t *testing.T) {
	ts, _ := withLimits(t, newTestServer(t), limits.Options{Routes: map[limits.Route]limits.Bucket{
		limits.SAS:     {Rate: 0.25, Burst: 3},
		limits.Success: {Rate: 0.5, Burst: 1},
	}})
	target := sasQuery(endpoint+"/uploads/users/alice/x.jpg", "PUT")
	for i := range 3 {
		if w := get(t, ts, target, aliceToken, ""); w.Code != 200 {
			t.Fatalf("request %d of the burst: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := get(t, ts, target, aliceToken, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "4" {
		t.Fatalf("past the burst: %d, Retry-After %q; want 429 and 4 (seconds at 0.25/s)", w.Code, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), "sig=") {
		t.Error("a refused request got a signature")
	}
	if w := get(t, ts, sasQuery(endpoint+"/uploads/users/bob/x.jpg", "PUT"), bobToken, ""); w.Code != 200 {
		t.Errorf("bob refused for alice's requests: %d", w.Code)
	}
	line := ts.logs.FilterMessage("sas").FilterField(zap.String("outcome", "limited")).All()
	if len(line) != 1 || !strings.Contains(toString(line[0].ContextMap()["reason"]), `user "alice" is over the sas limit`) {
		t.Errorf("limited log lines: %v", line)
	}

	// /success answers Fine Uploader's JSON.
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/success", strings.NewReader(successBody("users/alice/x.png")))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "Bearer "+aliceToken)
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, r)
		return w
	}
	if w := post(); w.Code != 200 {
		t.Fatalf("first upload-success: %d %s", w.Code, w.Body)
	}
	w = post()
	var a UploadAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != 429 || w.Header().Get("Retry-After") != "2" || a.Success || a.Error != "too many requests; try again in a moment" {
		t.Errorf("second upload-success: %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

// TestChunkedUploadWithinDefaults uploads a 1 GiB file as Fine Uploader
// does, through a real HTTP server with the configured default limits: a
// signature per 4 MiB chunk, 4 in flight, every tenth chunk asked again,
// one for the block list, then the upload-success request. The limiter's
// clock stands still, so the whole upload counts as one instant: the
// hardest case for the limits.
func TestChunkedUploadWithinDefaults(t *testing.T) {
	ts, _ := withLimits(t, newTestServer(t), limits.Defaults())
	hs := httptest.NewServer(ts)
	defer hs.Close()

	const chunks = 256
	requests := chunks + chunks/10 + 1
	var refused atomic.Int64
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, 4)
	client := hs.Client()
	for i := range requests {
		inFlight <- struct{}{}
		wg.Go(func() {
			defer func() { <-inFlight }()
			req, _ := http.NewRequest("GET", hs.URL+sasQuery(endpoint+"/uploads/users/alice/big.bin", "PUT"), nil)
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 {
				refused.Add(1)
				t.Errorf("signature request %d: %d", i+1, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	req, _ := http.NewRequest("POST", hs.URL+"/success", strings.NewReader(successBody("users/alice/big.bin")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("upload-success: %d", resp.StatusCode)
	}
	if n := len(ts.logs.FilterField(zap.String("outcome", "limited")).All()); n != 0 || refused.Load() != 0 {
		t.Errorf("%d refused, %d limited log lines", refused.Load(), n)
	}
}

func TestBadTokensLimitedByAddress(t *testing.T) {
	ts, auth := withLimits(t, newTestServer(t), limits.Options{Unauthenticated: limits.Bucket{Rate: 1, Burst: 5}, LogFirst: 2})
	target := sasQuery(endpoint+"/uploads/users/alice/x.jpg", "PUT")
	const attacker = "198.51.100.7:40000"
	codes := map[int]int{}
	var retryAfter string
	for i := range 100 {
		w := get(t, ts, target, "guess-"+string(rune('a'+i%26)), attacker)
		codes[w.Code]++
		if w.Code == 429 {
			retryAfter = w.Header().Get("Retry-After")
		}
	}
	if codes[401] != 5 || codes[429] != 95 || retryAfter != "1" {
		t.Errorf("answers %v, Retry-After %q; want 5 401s, then 95 429s with Retry-After 1", codes, retryAfter)
	}
	if n := auth.calls.Load(); n != 5 {
		t.Errorf("%d credentials checked, want 5: refused addresses are not checked", n)
	}
	// A valid token from the same address waits like the rest: the check
	// comes before the credential is read.
	if w := get(t, ts, target, aliceToken, attacker); w.Code != 429 {
		t.Errorf("valid token from the flooding address: %d, want 429", w.Code)
	}
	// Other addresses are not affected.
	if w := get(t, ts, target, aliceToken, "203.0.113.9:1234"); w.Code != 200 {
		t.Errorf("valid token from another address: %d", w.Code)
	}
	if w := get(t, ts, target, "wrong", "203.0.113.9:1234"); w.Code != 401 {
		t.Errorf("bad token from another address: %d, want 401", w.Code)
	}
	// Two of the attacker's failures are logged, the rest are counted.
	var logged int
	for _, e := range ts.logs.FilterMessage("sas").All() {
		if m := e.ContextMap(); m["outcome"] == "unauthenticated" || m["outcome"] == "limited" {
			logged++
		}
	}
	if logged != 2+1 {
		t.Errorf("%d failure lines, want 2 from the flooding address and 1 from the other", logged)
	}
}
