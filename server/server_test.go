package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/sas"
	"github.com/blobvalet/blobvalet/staging"
)

const (
	testKey    = azurite.WellKnownKey
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-token-0123456789ab"
	endpoint   = "https://acct.blob.core.windows.net"
)

// testOptions are a server's parts as serve builds them from a small
// configuration: tokens for alice (staff), bob and "a/b", a trusted proxy at
// 10.1.0.0/16, and two rules.
func testOptions(t testing.TB) Options {
	t.Helper()
	pattern := func(src string) *authz.Pattern {
		p, err := authz.CompilePattern(src)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	policy := authz.NewPolicy([]*authz.Rule{
		{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: pattern("users/{user}/**"), Methods: []authz.Method{authz.Put, authz.Delete}},
		{Name: "staff-drop", Groups: []string{"staff"}, Container: "shared", Blobs: pattern("**"), Methods: []authz.Method{authz.Put}, Overwrite: true, Lifetime: time.Hour},
	})
	resolver, err := blobref.NewResolver(endpoint, policy.Containers())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sas.NewSharedKeySigner(resolver, "acct", testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	_, proxies, _ := net.ParseCIDR("10.1.0.0/16")
	auth, err := authn.New(context.Background(), authn.Options{
		Tokens: []authn.Token{
			{Secret: aliceToken, User: authz.User{ID: "alice", Groups: []string{"staff"}}},
			{Secret: bobToken, User: authz.User{ID: "bob"}},
			{Secret: "slash-token-0123456789", User: authz.User{ID: "a/b"}},
		},
		TrustedHeader: &authn.TrustedHeader{User: "X-Forwarded-User", Groups: "X-Forwarded-Groups", Proxies: []*net.IPNet{proxies}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Logger:      zap.NewNop(),
		Auth:        auth,
		Policy:      policy,
		Resolver:    resolver,
		Signer:      signer,
		Lifetime:    10 * time.Minute,
		CORSOrigins: []string{"https://app.example.com"},
		Staging:     staging.Area{Container: "incoming"},
		Uploads:     fakeUploads{},
	}
}

// fakeUploads holds the staging blobs of uploads in progress in a set.
type fakeUploads struct {
	busy map[string]bool
	err  error
}

func (f fakeUploads) InProgress(_ context.Context, ref blobref.Ref) (bool, error) {
	return f.busy[ref.String()], f.err
}

type testServer struct {
	*Server
	logs *observer.ObservedLogs
	now  time.Time
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	o := testOptions(t)
	core, logs := observer.New(zap.DebugLevel)
	ts := &testServer{logs: logs, now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	area := staging.Area{Container: "incoming"}
	busy, _ := area.Ref("alice", blobref.Ref{Container: "uploads", Name: "users/alice/cancelled.jpg"})
	sharedBusy, _ := area.Ref("alice", blobref.Ref{Container: "shared", Name: "y"})
	o.Logger = zap.New(core)
	o.Staging = area
	o.Uploads = fakeUploads{busy: map[string]bool{busy.String(): true, sharedBusy.String(): true}}
	o.Now = func() time.Time { return ts.now }
	ts.Server = mustNew(t, o)
	return ts
}

// mustNew builds a Server from options a test knows to be complete.
func mustNew(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNewRefusesIncompleteOptions: a server without a required part is
// refused when it is built, not when a request first needs the part.
func TestNewRefusesIncompleteOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no signer or staging", func(o *Options) { o.Signer, o.Staging, o.Uploads = nil, staging.Area{}, nil }, "server: required options missing: Signer, Staging, Uploads"},
		{"no logger", func(o *Options) { o.Logger = nil }, "server: required options missing: Logger"},
		{"no lifetime", func(o *Options) { o.Lifetime = 0 }, "server: Lifetime must be positive, not 0s"},
		{"negative cap", func(o *Options) { o.SuccessMaxInFlight = -1 }, "server: SuccessMaxInFlight must not be negative, not -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			tt.change(&o)
			if s, err := New(o); s != nil || err == nil || err.Error() != tt.want {
				t.Fatalf("New = %v, %v; want the error %q", s, err, tt.want)
			}
		})
	}
}

func sasQuery(bloburi, method string) string {
	return "/sas?bloburi=" + strings.ReplaceAll(url.QueryEscape(bloburi), "%20", "+") + "&_method=" + method + "&qqtimestamp=1700000000000"
}

func TestSAS(t *testing.T) {
	ts := newTestServer(t)
	up := endpoint + "/uploads/"
	tests := []struct {
		name     string
		httpMeth string
		target   string
		token    string
		header   map[string]string
		remote   string
		status   int
		perms    string // for 200
		expiry   string // for 200
		signed   string // for 200: the container signed for
	}{
		{"put own folder", "GET", sasQuery(up+"users/alice/x.jpg", "PUT"), aliceToken, nil, "", 200, "w", "2030-01-01T12:10:00Z", "incoming"},
		{"delete own folder", "GET", sasQuery(up+"users/alice/x.jpg", "DELETE"), aliceToken, nil, "", 200, "d", "2030-01-01T12:10:00Z", "uploads"},
		{"cancel clean-up deletes the staged upload", "GET", sasQuery(up+"users/alice/cancelled.jpg", "DELETE"), aliceToken, nil, "", 200, "d", "", "incoming"},
		{"cancel clean-up with PUT rights only", "GET", sasQuery(endpoint+"/shared/y", "DELETE"), aliceToken, nil, "", 200, "d", "", "incoming"},
		{"no upload in progress, no DELETE rights", "GET", sasQuery(endpoint+"/shared/x", "DELETE"), aliceToken, nil, "", 403, "", "", ""},
		{"cancel clean-up without PUT rights", "GET", sasQuery(endpoint+"/shared/y", "DELETE"), bobToken, nil, "", 403, "", "", ""},
		{"odd name", "GET", sasQuery(up+"users/alice/a b#c?d%e+ü.txt", "PUT"), aliceToken, nil, "", 200, "w", "", "incoming"},
		{"staff overwrite and rule lifetime", "GET", sasQuery(endpoint+"/shared/x", "PUT"), aliceToken, nil, "", 200, "w", "2030-01-01T13:00:00Z", "incoming"},
		{"trailing slash endpoint", "GET", sasQuery(up+"/users/alice/x.jpg", "PUT"), aliceToken, nil, "", 200, "w", "", "incoming"},
		{"trusted proxy", "GET", sasQuery(up+"users/carol/x", "PUT"), "", map[string]string{"X-Forwarded-User": "carol"}, "10.1.2.3:5555", 200, "w", "", "incoming"},

		{"no token", "GET", sasQuery(up+"users/alice/x.jpg", "PUT"), "", nil, "", 401, "", "", ""},
		{"wrong token", "GET", sasQuery(up+"users/alice/x.jpg", "PUT"), "nope-nope-nope-nope", nil, "", 401, "", "", ""},
		{"basic auth", "GET", sasQuery(up+"users/alice/x.jpg", "PUT"), "", map[string]string{"Authorization": "Basic YWxpY2U6eA=="}, "", 401, "", "", ""},
		{"untrusted proxy", "GET", sasQuery(up+"users/carol/x", "PUT"), "", map[string]string{"X-Forwarded-User": "carol"}, "192.0.2.1:5555", 401, "", "", ""},
		{"missing bloburi", "GET", "/sas?_method=PUT", aliceToken, nil, "", 400, "", "", ""},
		{"missing method", "GET", "/sas?bloburi=" + url.QueryEscape(up+"users/alice/x"), aliceToken, nil, "", 400, "", "", ""},
		{"two bloburis", "GET", sasQuery(up+"users/alice/x", "PUT") + "&bloburi=" + url.QueryEscape(up+"users/bob/x"), aliceToken, nil, "", 400, "", "", ""},
		{"method GET", "GET", sasQuery(up+"users/alice/x.jpg", "GET"), aliceToken, nil, "", 403, "", "", ""},
		{"method lower case", "GET", sasQuery(up+"users/alice/x.jpg", "put"), aliceToken, nil, "", 403, "", "", ""},
		{"other folder", "GET", sasQuery(up+"users/bob/x.jpg", "PUT"), aliceToken, nil, "", 403, "", "", ""},
		{"other host", "GET", sasQuery("https://evil.blob.core.windows.net/uploads/users/alice/x", "PUT"), aliceToken, nil, "", 403, "", "", ""},
		{"other account path", "GET", sasQuery(endpoint+"/devstoreaccount1/uploads/users/alice/x", "PUT"), aliceToken, nil, "", 403, "", "", ""},
		{"other container", "GET", sasQuery(endpoint+"/private/users/alice/x", "PUT"), aliceToken, nil, "", 403, "", "", ""},
		{"http scheme", "GET", sasQuery("http://acct.blob.core.windows.net/uploads/users/alice/x", "PUT"), aliceToken, nil, "", 403, "", "", ""},
		{"dot dot", "GET", sasQuery(up+"users/alice/../bob/x", "PUT"), aliceToken, nil, "", 400, "", "", ""},
		{"encoded slash", "GET", sasQuery(up+"users/alice%2F..%2Fbob/x", "PUT"), aliceToken, nil, "", 400, "", "", ""},
		{"backslash", "GET", sasQuery(up+`users/alice/..\bob\x`, "PUT"), aliceToken, nil, "", 400, "", "", ""},
		{"user id widens folder", "GET", sasQuery(up+"users/a/b/x", "PUT"), "slash-token-0123456789", nil, "", 403, "", "", ""},
		{"bob in shared", "GET", sasQuery(endpoint+"/shared/x", "PUT"), bobToken, nil, "", 403, "", "", ""},
		{"delete in shared", "GET", sasQuery(endpoint+"/shared/x", "DELETE"), aliceToken, nil, "", 403, "", "", ""},
		{"folder itself", "GET", sasQuery(up+"users/alice", "PUT"), aliceToken, nil, "", 403, "", "", ""},
		{"bad query", "GET", "/sas?bloburi=%zz&_method=PUT", aliceToken, nil, "", 400, "", "", ""},
		{"POST", "POST", sasQuery(up+"users/alice/x.jpg", "PUT"), aliceToken, nil, "", 405, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.httpMeth, tt.target, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.remote != "" {
				r.RemoteAddr = tt.remote
			}
			w := httptest.NewRecorder()
			ts.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, body)
			}
			if w.Header().Get(RequestIDHeader) == "" {
				t.Error("no request id")
			}
			if tt.status != 200 {
				if strings.Contains(body, "sig=") {
					t.Errorf("refusal carries a SAS: %q", body)
				}
				if tt.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			u, err := url.Parse(body)
			if err != nil || !strings.HasPrefix(body, endpoint+"/"+tt.signed+"/") {
				t.Fatalf("body %q is not an absolute blob URL in container %s", body, tt.signed)
			}
			q := u.Query()
			if q.Get("sp") != tt.perms || q.Get("sr") != "b" || q.Get("spr") != "https" {
				t.Errorf("sp=%q sr=%q spr=%q, want sp=%q sr=b spr=https", q.Get("sp"), q.Get("sr"), q.Get("spr"), tt.perms)
			}
			if tt.expiry != "" && q.Get("se") != tt.expiry {
				t.Errorf("se = %q, want %q", q.Get("se"), tt.expiry)
			}
		})
	}
	for _, e := range ts.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		for _, secret := range []string{"sig=", aliceToken, bobToken, testKey} {
			if strings.Contains(line, secret) {
				t.Errorf("log line leaks %q: %s", secret, line)
			}
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func TestSASLogsDecision(t *testing.T) {
	ts := newTestServer(t)
	for _, target := range []string{
		sasQuery(endpoint+"/uploads/users/alice/x.jpg", "PUT"),
		sasQuery(endpoint+"/uploads/users/bob/x.jpg", "PUT"),
	} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "Bearer "+aliceToken)
		r.Header.Set(RequestIDHeader, "req-42")
		ts.ServeHTTP(httptest.NewRecorder(), r)
	}
	entries := ts.logs.FilterMessage("sas").All()
	if len(entries) != 2 {
		t.Fatalf("%d decision lines, want 2", len(entries))
	}
	ok, denied := entries[0].ContextMap(), entries[1].ContextMap()
	for k, want := range map[string]string{"request_id": "req-42", "user": "alice", "method": "PUT", "container": "uploads", "blob": "users/alice/x.jpg", "rule": "own-folder", "outcome": "issued", "permissions": "w", "staging_blob": "YWxpY2U/uploads/users/alice/x.jpg"} {
		if ok[k] != want {
			t.Errorf("issued line %s = %v, want %q", k, ok[k], want)
		}
	}
	if _, has := ok["expiry"]; !has {
		t.Error("issued line has no expiry")
	}
	if denied["outcome"] != "denied" || !strings.Contains(toString(denied["reason"]), "no rule allows") {
		t.Errorf("denied line = %v", denied)
	}
}

func TestCORS(t *testing.T) {
	ts := newTestServer(t)
	pre := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/sas?bloburi=x&_method=PUT", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "GET")
		r.Header.Set("Access-Control-Request-Headers", "authorization")
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, r)
		return w
	}
	w := pre("https://app.example.com")
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("allowed origin: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("Authorization not allowed: %v", w.Header())
	}
	if w := pre("https://evil.example.com"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", w.Header())
	}
	// No cors_origins means no origin at all, not every origin.
	ts.opts.CORSOrigins = nil
	ts.opts.Metrics = nil
	ts.Server = mustNew(t, ts.opts)
	if w := pre("https://app.example.com"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("origin allowed with no cors_origins: %v", w.Header())
	}
}

// TestHealthAndMetrics checks which routes each listener serves: readiness
// and metrics only on the admin one, health on both.
func TestHealthAndMetrics(t *testing.T) {
	ts := newTestServer(t)
	for _, tt := range []struct {
		handler http.Handler
		name    string
		want    map[string]int
	}{
		{ts, "public", map[string]int{"/healthz": 200, "/readyz": 404, "/metrics": 404, "/client/uppy-blobvalet.js": 200, "/nope": 404}},
		{ts.Admin(), "admin", map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/sas": 404, "/client/uppy-blobvalet.js": 404}},
	} {
		for path, want := range tt.want {
			w := httptest.NewRecorder()
			tt.handler.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			if w.Code != want {
				t.Errorf("%s: GET %s = %d, want %d", tt.name, path, w.Code, want)
			}
		}
	}
	r := httptest.NewRequest("GET", sasQuery(endpoint+"/uploads/users/alice/x", "PUT"), nil)
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	ts.ServeHTTP(httptest.NewRecorder(), r)
	w := httptest.NewRecorder()
	ts.Admin().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	if !strings.Contains(string(body), `blobvalet_sas_decisions_total{outcome="issued",rule="own-folder"} 1`) {
		t.Errorf("metrics lack the issued SAS:\n%s", body)
	}
	// The Go runtime, the process, and latencies up to a minute.
	for _, want := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_open_fds ", `blobvalet_http_request_duration_seconds_bucket{route="sas",le="60"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRequestIDEcho(t *testing.T) {
	ts := newTestServer(t)
	for in, keep := range map[string]bool{"abc-123": true, "bad id\n": false, strings.Repeat("x", 200): false} {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.Header.Set(RequestIDHeader, in)
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, r)
		got := w.Header().Get(RequestIDHeader)
		if (got == in) != keep || got == "" {
			t.Errorf("X-Request-Id %q -> %q", in, got)
		}
	}
}

// FuzzParseSASQuery feeds arbitrary query strings to the signature-request
// parser: it must never panic, and whatever it accepts must be a known
// method on a legal name in a known container.
func FuzzParseSASQuery(f *testing.F) {
	ts := newTestServer(f)
	f.Add(strings.TrimPrefix(sasQuery(endpoint+"/uploads/users/alice/x.jpg", "PUT"), "/sas?"))
	f.Add("bloburi=%zz&_method=PUT")
	f.Add("bloburi=a&bloburi=b&_method=DELETE")
	f.Add(";;&&==")
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := parseSASQuery(raw, ts.opts.Resolver)
		if err != nil {
			return
		}
		if req.method != "PUT" && req.method != "DELETE" {
			t.Fatalf("method %q", req.method)
		}
		if req.blob.Container != "uploads" && req.blob.Container != "shared" {
			t.Fatalf("container %q", req.blob.Container)
		}
	})
}

// TestReadiness checks /readyz's verdict and body: ready while every
// essential part works, whatever is degraded; 503 while stopping.
func TestReadiness(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	signing := Part{Name: "signing", Essential: true, Since: now.Add(-time.Hour), Checked: now.Add(-2 * time.Second)}
	verifying := Part{Name: "verifying", Since: now.Add(-time.Hour), Checked: now.Add(-2 * time.Second)}
	down := verifying
	down.Problem = "storage endpoint http://127.0.0.1:1/x cannot be reached: dial tcp 127.0.0.1:1: connect: connection refused"
	noKey := signing
	noKey.Problem = "no user delegation key yet"
	tests := []struct {
		name  string
		rd    Readiness
		query string
		code  int
		body  string
	}{
		{"all works", Readiness{Parts: []Part{signing, verifying}}, "", 200, "ready\n"},
		{"nothing to report", Readiness{}, "", 200, "ready\n"},
		{"storage down", Readiness{Parts: []Part{signing, down}}, "", 200, "ready\nverifying: degraded: " + down.Problem + "\n"},
		{"no key", Readiness{Parts: []Part{noKey, verifying}}, "", 503, "not ready\nsigning: failing: no user delegation key yet\n"},
		{"stopping", Readiness{Stopping: true, Parts: []Part{signing, verifying}}, "", 503, "not ready: stopping\n"},
		{"verbose", Readiness{Parts: []Part{signing, down}}, "?verbose", 200, "ready\n" +
			"signing: ok (since 2030-01-01T11:00:00Z; checked 2s ago)\n" +
			"verifying: degraded: " + down.Problem + " (since 2030-01-01T11:00:00Z; checked 2s ago)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.Now = func() time.Time { return now }
			o.Ready = func() Readiness { return tt.rd }
			w := httptest.NewRecorder()
			mustNew(t, o).Admin().ServeHTTP(w, httptest.NewRequest("GET", "/readyz"+tt.query, nil))
			if w.Code != tt.code || w.Body.String() != tt.body {
				t.Errorf("/readyz%s = %d %q, want %d %q", tt.query, w.Code, w.Body, tt.code, tt.body)
			}
		})
	}
}
