package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/success"
)

// checkerFunc is a SuccessChecker made of a function.
type checkerFunc func(success.Request) (success.Result, error)

func (f checkerFunc) Check(_ context.Context, r success.Request) (success.Result, error) { return f(r) }

func successBody(blob string) string {
	v := url.Values{"blob": {blob}, "uuid": {"u-1"}, "name": {"x.png"}, "container": {endpoint + "/uploads"}, "album": {"summer"}}
	return v.Encode()
}

func TestSuccessAnswers(t *testing.T) {
	var got success.Request
	tests := []struct {
		name   string
		method string
		token  string
		body   string
		result success.Result
		err    error
		status int
		want   map[string]any
	}{
		{"verified", "POST", aliceToken, successBody("users/alice/x.png"), success.Result{Blob: "users/alice/x.png", Size: 3, ContentType: "image/png", ThumbnailURL: "https://t/x"}, nil, 200,
			map[string]any{"success": true, "thumbnailUrl": "https://t/x", "blob": "users/alice/x.png", "size": 3.0, "contentType": "image/png"}},
		{"PUT works too", "PUT", aliceToken, successBody("users/alice/x.png"), success.Result{Blob: "users/alice/x.png"}, nil, 200, map[string]any{"success": true}},
		{"no token", "POST", "", successBody("users/alice/x.png"), success.Result{}, nil, 401, map[string]any{"success": false, "error": "authentication required"}},
		{"malformed", "POST", aliceToken, "blob=%zz", success.Result{}, nil, 400, map[string]any{"success": false, "preventRetry": true}},
		{"no blob", "POST", aliceToken, "container=" + url.QueryEscape(endpoint+"/uploads"), success.Result{}, nil, 400, map[string]any{"success": false, "error": "want exactly one blob field", "preventRetry": true}},
		{"unknown container", "POST", aliceToken, "blob=x&container=" + url.QueryEscape("https://evil.example/uploads"), success.Result{}, nil, 403, map[string]any{"success": false, "preventRetry": true}},
		{"too large", "POST", aliceToken, successBody("users/alice/x.png") + "&pad=" + strings.Repeat("a", MaxSuccessBody), success.Result{}, nil, 413, map[string]any{"success": false, "preventRetry": true}},
		{"rejected", "POST", aliceToken, successBody("users/alice/x.png"), success.Result{}, errs.E("t", errs.Rejected, "file is 12.4 MB; the limit is 10 MiB").Final(), 422,
			map[string]any{"success": false, "error": "file is 12.4 MB; the limit is 10 MiB", "preventRetry": true}},
		{"missing", "POST", aliceToken, successBody("users/alice/x.png"), success.Result{}, errs.E("t", errs.NotFound, "the file did not arrive").Restart(), 404,
			map[string]any{"success": false, "reset": true}},
		{"storage down", "POST", aliceToken, successBody("users/alice/x.png"), success.Result{}, errs.Wrap("t", errs.Unavailable, "storage is not answering; try again", context.DeadlineExceeded), 503,
			map[string]any{"success": false, "error": "storage is not answering; try again"}},
		{"internal", "POST", aliceToken, successBody("users/alice/x.png"), success.Result{}, errs.Wrap("t", errs.Internal, "secret detail", context.Canceled), 500,
			map[string]any{"success": false, "error": "Internal Server Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.opts.Success = checkerFunc(func(r success.Request) (success.Result, error) { got = r; return tt.result, tt.err })
			ts.opts.Metrics = nil
			ts.Server = mustNew(t, ts.opts)
			r := httptest.NewRequest(tt.method, "/success", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			ts.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			var ans map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
				t.Fatalf("body %q is not JSON", w.Body)
			}
			for k, v := range tt.want {
				if ans[k] != v {
					t.Errorf("%s = %v, want %v (body %s)", k, ans[k], v, w.Body)
				}
			}
			if _, has := ans["preventRetry"]; has && tt.want["preventRetry"] == nil {
				t.Errorf("unexpected preventRetry: %s", w.Body)
			}
		})
	}
	if got.User.ID != "alice" || got.Params["album"] != "summer" || got.UUID != "u-1" || got.Name != "x.png" || got.Blob.Container != "uploads" {
		t.Errorf("checker saw %+v", got)
	}
}

func FuzzParseSuccessForm(f *testing.F) {
	ts := newTestServer(f)
	f.Add([]byte(successBody("users/alice/x.png")))
	f.Add([]byte("blob=a&blob=b&container=x"))
	f.Add([]byte("%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := parseSuccessForm(body, ts.opts.Resolver)
		if err != nil {
			return
		}
		if form.blob.Container != "uploads" && form.blob.Container != "shared" {
			t.Fatalf("container %q", form.blob.Container)
		}
		for k := range form.params {
			if k == "blob" || k == "container" {
				t.Fatalf("param %q", k)
			}
		}
	})
}
