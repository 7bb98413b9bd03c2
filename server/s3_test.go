package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/s3sign"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
)

const (
	s3Host      = "stage.localhost:8333"
	aliceUpload = "YWxpY2U/uploads/users/alice/a.txt" // alice's staging key of uploads/users/alice/a.txt
	bobUpload   = "Ym9i/uploads/users/bob/a.txt"
	s3MaxSize   = 10 << 20
)

// fakeFiles holds final objects by ref and records deletes.
type fakeFiles struct {
	props   map[string]blobstore.Props
	deleted []string
	delErr  error
}

func (f *fakeFiles) Head(ctx context.Context, ref blobref.Ref, _ int64) (blobstore.Props, []byte, error) {
	p, err := f.Properties(ctx, ref)
	return p, nil, err
}

func (f *fakeFiles) Properties(_ context.Context, ref blobref.Ref) (blobstore.Props, error) {
	p, ok := f.props[ref.String()]
	if !ok {
		return blobstore.Props{}, blobstore.ErrNotFound
	}
	return p, nil
}

func (f *fakeFiles) Delete(_ context.Context, ref blobref.Ref, cond blobstore.Condition) error {
	if f.delErr != nil {
		return f.delErr
	}
	if cond.ETag != f.props[ref.String()].ETag {
		return blobstore.ErrChanged
	}
	f.deleted = append(f.deleted, ref.String()+" "+cond.ETag)
	return nil
}

// s3Server is the test server with S3 routes for bucket "stage" at
// localhost:8333; without azure it has no /sas.
func s3Server(t testing.TB, azure bool, files *fakeFiles) *testServer {
	t.Helper()
	ts := newTestServer(t)
	o := ts.opts
	sg, err := s3sign.New(s3sign.Config{
		AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3-secret-key", Region: "us-east-1",
		Bucket: "stage", Endpoint: "http://localhost:8333", ACL: s3sign.ACLPrivate,
	}, func() time.Time { return ts.now })
	if err != nil {
		t.Fatal(err)
	}
	o.S3 = &S3{Signer: sg, Staging: staging.Area{Container: "stage"}, Lifetime: 15 * time.Minute, DefaultMaxSize: s3MaxSize}
	if files != nil {
		o.S3.Files = files
	}
	if !azure {
		o.Resolver, o.Signer, o.Staging, o.Uploads, o.Lifetime = nil, nil, staging.Area{}, nil, 0
	}
	o.Metrics = nil
	ts.Server = mustNew(t, o)
	return ts
}

// restFor is a REST string as Fine Uploader builds it at ts.now.
func restFor(ts *testServer, host, method, key, query string, extra ...[2]string) string {
	amz := ts.now.UTC().Format("20060102T150405Z")
	h := [][2]string{{"host", host}, {"x-amz-content-sha256", s3sign.EmptyPayloadHash}, {"x-amz-date", amz}}
	h = append(h, extra...)
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j][0] < h[j-1][0]; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
	var lines, names []string
	for _, kv := range h {
		lines = append(lines, kv[0]+":"+kv[1])
		names = append(names, kv[0])
	}
	return "AWS4-HMAC-SHA256\n" + amz + "\n" + ts.now.UTC().Format("20060102") + "/us-east-1/s3/aws4_request\n" +
		method + "\n/" + key + "\n" + query + "\n" + strings.Join(lines, "\n") + "\n\n" + strings.Join(names, ";") + "\n" + s3sign.EmptyPayloadHash
}

func restBody(s string) []byte {
	b, _ := json.Marshal(map[string]string{"headers": s})
	return b
}

// policyFor is a policy as Fine Uploader builds it at ts.now for key.
func policyFor(ts *testServer, key string, extra ...string) []byte {
	conds := []string{`{"acl":"private"}`, `{"bucket":"stage"}`, `{"Content-Type":"text/plain"}`, `{"success_action_status":"200"}`,
		`{"x-amz-algorithm":"AWS4-HMAC-SHA256"}`, fmt.Sprintf(`{"key":%q}`, key),
		`{"x-amz-credential":"AKIAEXAMPLE/` + ts.now.Format("20060102") + `/us-east-1/s3/aws4_request"}`,
		`{"x-amz-date":"` + ts.now.Format("20060102T150405Z") + `"}`, `{"x-amz-meta-qqfilename":"a.txt"}`}
	conds = append(conds, extra...)
	return []byte(`{"expiration":"` + ts.now.Add(5*time.Minute).Format("2006-01-02T15:04:05.000Z") + `","conditions":[` + strings.Join(conds, ",") + `]}`)
}

func TestS3Key(t *testing.T) {
	ts := s3Server(t, true, nil)
	for _, tc := range []struct {
		name, query, token string
		status             int
		want               map[string]any
	}{
		{"own folder", "bucket=uploads&name=users/alice/a.txt", aliceToken, 200, map[string]any{"key": aliceUpload, "bucket": "stage"}},
		{"escaped name", "bucket=uploads&name=" + url.QueryEscape("users/alice/é b.txt"), aliceToken, 200, map[string]any{"key": "YWxpY2U/uploads/users/alice/é b.txt"}},
		{"staff drop", "bucket=shared&name=x", aliceToken, 200, map[string]any{"key": "YWxpY2U/shared/x"}},
		{"staff drop, not staff", "bucket=shared&name=x", bobToken, 403, map[string]any{"invalid": true}},
		{"another folder", "bucket=uploads&name=users/bob/a.txt", aliceToken, 403, map[string]any{"invalid": true}},
		{"unknown bucket", "bucket=stage&name=users/alice/a.txt", aliceToken, 403, map[string]any{"invalid": true, "error": "bucket stage is not one this service uploads to"}},
		{"dot segment", "bucket=uploads&name=users/alice/../bob/a", aliceToken, 400, map[string]any{"invalid": true}},
		{"no name", "bucket=uploads", aliceToken, 400, map[string]any{"error": "want exactly one bucket and one name parameter"}},
		{"two names", "bucket=uploads&name=users/alice/a&name=users/alice/b", aliceToken, 400, map[string]any{"invalid": true}},
		{"no token", "bucket=uploads&name=users/alice/a.txt", "", 401, map[string]any{"invalid": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m := doAs(ts, tc.token, "GET", "/s3/key?"+tc.query, "", nil)
			checkAnswer(t, w, m, tc.status, tc.want)
		})
	}
}

// doAs sends a request with token's bearer header ("" sends none).
func doAs(ts *testServer, token, method, target, contentType string, body []byte) (*httptest.ResponseRecorder, map[string]any) {
	r := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, r)
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return w, m
}

func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, m map[string]any, status int, want map[string]any) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (body %s)", k, m[k], v, w.Body)
		}
	}
	if status >= 300 {
		if _, ok := m["signature"]; ok {
			t.Errorf("a refusal carries a signature: %s", w.Body)
		}
		if _, ok := m["url"]; ok {
			t.Errorf("a refusal carries a URL: %s", w.Body)
		}
	}
}

func TestS3Sign(t *testing.T) {
	ts := s3Server(t, false, nil)
	for _, tc := range []struct {
		name, query string
		token       string
		body        []byte
		status      int
		want        map[string]any
		has         string
	}{
		{"REST initiate", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "POST", aliceUpload, "uploads=", [2]string{"x-amz-acl", "private"}, [2]string{"x-amz-meta-qqfilename", "a.txt"})), 200, nil, "signature"},
		{"REST part", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "PUT", aliceUpload, "partNumber=1&uploadId=u1")), 200, nil, "signature"},
		{"REST complete", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "POST", aliceUpload, "uploadId=u1")), 200, nil, "signature"},
		{"REST abort", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "DELETE", aliceUpload, "uploadId=u1")), 200, nil, "signature"},
		{"policy", "v4=true", aliceToken, policyFor(ts, aliceUpload), 200, nil, "policy"},
		{"no v4", "", aliceToken, policyFor(ts, aliceUpload), 400, map[string]any{"invalid": true, "error": s3sign.V2Message}, ""},
		{"v2 string", "v4=true", aliceToken, restBody("POST\n\n\n\nx-amz-date:x\n/stage/" + aliceUpload + "?uploads"), 400, map[string]any{"error": s3sign.V2Message}, ""},
		{"another user's key", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "PUT", bobUpload, "partNumber=1&uploadId=u1")), 403, map[string]any{"invalid": true, "error": "the key is not one of your uploads: ask /s3/key for the key of a file"}, ""},
		{"a name the rules refuse", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "PUT", "YWxpY2U/uploads/users/bob/a.txt", "partNumber=1&uploadId=u1")), 403, map[string]any{"invalid": true}, ""},
		{"a final key", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "PUT", "users/alice/a.txt", "partNumber=1&uploadId=u1")), 403, map[string]any{"invalid": true}, ""},
		{"GET", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "GET", aliceUpload, "")), 403, map[string]any{"invalid": true}, ""},
		{"DELETE of an object", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "DELETE", bobUpload, "")), 403, map[string]any{"invalid": true}, ""},
		{"copy source", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "PUT", aliceUpload, "partNumber=1&uploadId=u1", [2]string{"x-amz-copy-source", "/uploads/users/bob/x"})), 403, map[string]any{"invalid": true}, ""},
		{"ACL grant", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "POST", aliceUpload, "uploads=", [2]string{"x-amz-acl", "private"}, [2]string{"x-amz-grant-full-control", "id=x"})), 403, map[string]any{"invalid": true}, ""},
		{"cors", "v4=true", aliceToken, restBody(restFor(ts, s3Host, "PUT", aliceUpload, "cors=")), 403, map[string]any{"invalid": true}, ""},
		{"other host", "v4=true", aliceToken, restBody(restFor(ts, "uploads.localhost:8333", "PUT", aliceUpload, "partNumber=1&uploadId=u1")), 403, map[string]any{"invalid": true}, ""},
		{"policy for another key", "v4=true", aliceToken, policyFor(ts, bobUpload), 403, map[string]any{"invalid": true}, ""},
		{"policy with an extra condition", "v4=true", aliceToken, policyFor(ts, aliceUpload, `{"x-amz-storage-class":"STANDARD"}`), 403, map[string]any{"invalid": true}, ""},
		{"not JSON", "v4=true", aliceToken, []byte("{"), 400, map[string]any{"invalid": true}, ""},
		{"too large", "v4=true", aliceToken, []byte(strings.Repeat(" ", MaxS3SignBody+1)), 413, map[string]any{"invalid": true}, ""},
		{"no token", "v4=true", "", policyFor(ts, aliceUpload), 401, map[string]any{"invalid": true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m := doAs(ts, tc.token, "POST", "/s3/sign?"+tc.query, "application/json; charset=UTF-8", tc.body)
			checkAnswer(t, w, m, tc.status, tc.want)
			if tc.has != "" {
				if s, _ := m["signature"].(string); len(s) != 64 {
					t.Errorf("signature %q", s)
				}
				if _, ok := m[tc.has]; !ok {
					t.Errorf("no %s in %s", tc.has, w.Body)
				}
			}
		})
	}
}

// TestS3SignPolicyRule checks the rewrite: the rule's size and lifetime.
func TestS3SignPolicyRule(t *testing.T) {
	ts := s3Server(t, false, nil)
	for _, tc := range []struct {
		key, expiry, rng string
	}{
		{aliceUpload, ts.now.Add(15 * time.Minute).Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(`["content-length-range",0,%d]`, s3MaxSize)},
		{"YWxpY2U/shared/x", ts.now.Add(time.Hour).Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(`["content-length-range",0,%d]`, s3MaxSize)},
	} {
		w, m := doAs(ts, aliceToken, "POST", "/s3/sign?v4=true", "application/json", policyFor(ts, tc.key, `["content-length-range","0","99999999999"]`))
		checkAnswer(t, w, m, 200, nil)
		doc, _ := base64.StdEncoding.DecodeString(m["policy"].(string))
		if !strings.Contains(string(doc), `"expiration":"`+tc.expiry+`"`) || !strings.HasSuffix(string(doc), tc.rng+"]}") || strings.Contains(string(doc), "99999999999") {
			t.Errorf("policy for %s: %s", tc.key, doc)
		}
	}
}

func TestS3SignLogsNoSignature(t *testing.T) {
	ts := s3Server(t, false, nil)
	w, m := doAs(ts, aliceToken, "POST", "/s3/sign?v4=true", "application/json", restBody(restFor(ts, s3Host, "PUT", aliceUpload, "partNumber=1&uploadId=u1")))
	checkAnswer(t, w, m, 200, nil)
	sig := m["signature"].(string)
	entries := ts.logs.FilterMessage("s3-sign").All()
	if len(entries) != 1 {
		t.Fatalf("log lines: %v", entries)
	}
	f := entries[0].ContextMap()
	if f["user"] != "alice" || f["outcome"] != "issued" || f["request"] != "part" || f["staging_key"] != aliceUpload || f["blob"] != "users/alice/a.txt" || f["rule"] != "own-folder" {
		t.Errorf("logged %v", f)
	}
	for _, e := range ts.logs.All() {
		if strings.Contains(fmt.Sprint(e.ContextMap()), sig) || strings.Contains(fmt.Sprint(e.ContextMap()), "s3-secret-key") {
			t.Errorf("a log line holds a secret: %v", e.ContextMap())
		}
	}
	w, _ = doAs(ts, aliceToken, "POST", "/s3/sign?v4=true", "application/json", restBody(restFor(ts, s3Host, "GET", aliceUpload, "")))
	if w.Code != 403 {
		t.Fatal(w.Body)
	}
	if e := ts.logs.FilterMessage("s3-sign").All(); len(e) != 2 || e[1].ContextMap()["outcome"] != "denied" || e[1].ContextMap()["reason"] == "" {
		t.Errorf("refusal logged as %v", e)
	}
}

func TestS3Presign(t *testing.T) {
	ts := s3Server(t, false, nil)
	for _, tc := range []struct {
		name, query, body string
		status            int
		want              map[string]any
		url               string
	}{
		{"put", "bucket=uploads", `{"method":"PUT","key":"users/alice/a.txt"}`, 200, map[string]any{"key": aliceUpload}, "http://stage.localhost:8333/YWxpY2U/uploads/users/alice/a.txt?X-Amz-Algorithm="},
		{"create", "bucket=uploads", `{"method":"POST","key":"users/alice/a.txt"}`, 200, map[string]any{"key": aliceUpload}, "uploads="},
		{"part", "bucket=uploads", `{"method":"PUT","key":"` + aliceUpload + `","uploadId":"u1","partNumber":2}`, 200, map[string]any{"key": aliceUpload}, "partNumber=2&uploadId=u1"},
		{"complete", "bucket=uploads", `{"method":"POST","key":"` + aliceUpload + `","uploadId":"u1"}`, 200, map[string]any{"key": aliceUpload}, "uploadId=u1"},
		{"list", "bucket=uploads", `{"method":"GET","key":"` + aliceUpload + `","uploadId":"u1"}`, 200, map[string]any{"key": aliceUpload}, "uploadId=u1"},
		{"abort", "bucket=uploads", `{"method":"DELETE","key":"` + aliceUpload + `","uploadId":"u1"}`, 200, map[string]any{"key": aliceUpload}, "uploadId=u1"},
		{"put in another folder", "bucket=uploads", `{"method":"PUT","key":"users/bob/a.txt"}`, 403, map[string]any{"invalid": true}, ""},
		{"put of a staging key", "bucket=uploads", `{"method":"PUT","key":"` + aliceUpload + `"}`, 403, map[string]any{"invalid": true}, ""},
		{"part of another user's", "bucket=uploads", `{"method":"PUT","key":"` + bobUpload + `","uploadId":"u1","partNumber":2}`, 403, map[string]any{"invalid": true}, ""},
		{"part of a final name", "bucket=uploads", `{"method":"PUT","key":"users/alice/a.txt","uploadId":"u1","partNumber":2}`, 403, map[string]any{"invalid": true}, ""},
		{"part, other bucket", "bucket=shared", `{"method":"PUT","key":"` + aliceUpload + `","uploadId":"u1","partNumber":2}`, 403, map[string]any{"invalid": true}, ""},
		{"GET of an object", "bucket=uploads", `{"method":"GET","key":"users/alice/a.txt"}`, 403, map[string]any{"invalid": true}, ""},
		{"DELETE of an object", "bucket=uploads", `{"method":"DELETE","key":"users/alice/a.txt"}`, 403, map[string]any{"invalid": true}, ""},
		{"unknown bucket", "bucket=stage", `{"method":"PUT","key":"users/alice/a.txt"}`, 403, map[string]any{"invalid": true}, ""},
		{"no bucket", "", `{"method":"PUT","key":"users/alice/a.txt"}`, 400, map[string]any{"invalid": true}, ""},
		{"unknown field", "bucket=uploads", `{"method":"PUT","key":"users/alice/a.txt","headers":{}}`, 400, map[string]any{"invalid": true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m := doAs(ts, aliceToken, "POST", "/s3/presign?"+tc.query, "application/json", []byte(tc.body))
			checkAnswer(t, w, m, tc.status, tc.want)
			if u, _ := m["url"].(string); tc.url != "" && (!strings.Contains(u, tc.url) || !strings.Contains(u, "X-Amz-Expires=900&")) {
				t.Errorf("url %s, want %s", u, tc.url)
			}
		})
	}
}

func TestS3Success(t *testing.T) {
	for _, azure := range []bool{true, false} {
		var got success.Request
		ts := s3Server(t, azure, nil)
		ts.opts.Success = checkerFunc(func(r success.Request) (success.Result, error) {
			got = r
			return success.Result{Blob: string(r.Blob.Name), Size: 3}, nil
		})
		ts.opts.Metrics = nil
		ts.Server = mustNew(t, ts.opts)
		form := func(kv ...string) []byte {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Add(kv[i], kv[i+1])
			}
			return []byte(v.Encode())
		}
		const formType = "application/x-www-form-urlencoded"
		for _, tc := range []struct {
			name, ct string
			body     []byte
			status   int
		}{
			{"Fine Uploader S3", formType, form("key", aliceUpload, "uuid", "u-1", "name", "a.txt", "bucket", "stage", "etag", `"abc"`, "album", "summer"), 200},
			{"chunked, no etag", formType, form("key", aliceUpload, "uuid", "u-1", "name", "a.txt", "bucket", "stage"), 200},
			{"Uppy's page", "application/json", []byte(`{"key":"` + aliceUpload + `"}`), 200},
			{"Uppy's page with the final bucket", "application/json", []byte(`{"bucket":"uploads","key":"` + aliceUpload + `"}`), 200},
			{"another user's key", formType, form("key", bobUpload, "bucket", "stage"), 403},
			{"another bucket", formType, form("key", aliceUpload, "bucket", "shared"), 403},
			{"a final name", "application/json", []byte(`{"key":"users/alice/a.txt"}`), 403},
			{"a bad name", "application/json", []byte(`{"key":"YWxpY2U/uploads/users/../a"}`), 400},
			{"two keys", formType, form("key", aliceUpload, "key", aliceUpload), 400},
		} {
			t.Run(fmt.Sprintf("azure %v: %s", azure, tc.name), func(t *testing.T) {
				got = success.Request{}
				w, m := doAs(ts, aliceToken, "POST", "/success", tc.ct, tc.body)
				checkAnswer(t, w, m, tc.status, nil)
				if tc.status != 200 {
					if got.User.ID != "" {
						t.Errorf("checked %+v", got)
					}
					return
				}
				if got.User.ID != "alice" || got.Blob != (blobref.Ref{Container: "uploads", Name: "users/alice/a.txt"}) || m["success"] != true {
					t.Errorf("checked %+v, answered %s", got, w.Body)
				}
				if _, ok := got.Params["etag"]; ok || got.Params["bucket"] != "" || got.Params["key"] != "" {
					t.Errorf("params %v", got.Params)
				}
			})
		}
		// Azure's form still works where Azure is served; an S3-only
		// service asks for the key.
		w, _ := doAs(ts, aliceToken, "POST", "/success", formType, []byte(successBody("users/alice/x.png")))
		if want := map[bool]int{true: 200, false: 400}[azure]; w.Code != want {
			t.Errorf("azure %v: Azure's form: %d %s", azure, w.Code, w.Body)
		}
	}
}

func TestS3Delete(t *testing.T) {
	final := blobref.Ref{Container: "uploads", Name: "users/alice/a.txt"}
	stamped := func(owner string) map[string]blobstore.Props {
		return map[string]blobstore.Props{final.String(): {ETag: `"e1"`, Metadata: map[string]string{success.MetaOwner: owner}}}
	}
	for _, tc := range []struct {
		name, method, target, ct, body string
		props                          map[string]blobstore.Props
		delErr                         error
		status                         int
	}{
		{"own file", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape(aliceUpload) + "&bucket=stage", "", "", stamped("alice"), nil, 200},
		{"form POST", "POST", "/s3/files", "application/x-www-form-urlencoded", "_method=DELETE&qquuid=u-1&bucket=stage&key=" + url.QueryEscape(aliceUpload), stamped("alice"), nil, 200},
		{"form POST, not a delete", "POST", "/s3/files", "application/x-www-form-urlencoded", "qquuid=u-1&key=" + url.QueryEscape(aliceUpload), stamped("alice"), nil, 400},
		{"not stamped by the caller", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape(aliceUpload), "", "", stamped("bob"), nil, 404},
		{"not there", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape(aliceUpload), "", "", nil, nil, 404},
		{"another user's key", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape(bobUpload), "", "", stamped("alice"), nil, 404},
		{"a rule without delete", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape("YWxpY2U/shared/x"), "", "", stamped("alice"), nil, 403},
		{"other bucket", "DELETE", "/s3/files/u-1?bucket=uploads&key=" + url.QueryEscape(aliceUpload), "", "", stamped("alice"), nil, 403},
		{"no key", "DELETE", "/s3/files/u-1", "", "", stamped("alice"), nil, 400},
		{"changed meanwhile", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape(aliceUpload), "", "", stamped("alice"), blobstore.ErrChanged, 409},
		{"storage down", "DELETE", "/s3/files/u-1?key=" + url.QueryEscape(aliceUpload), "", "", stamped("alice"), fmt.Errorf("boom"), 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := &fakeFiles{props: tc.props, delErr: tc.delErr}
			ts := s3Server(t, false, files)
			w, m := doAs(ts, aliceToken, tc.method, tc.target, tc.ct, []byte(tc.body))
			checkAnswer(t, w, m, tc.status, nil)
			if want := tc.status == 200; (len(files.deleted) == 1) != want || want && files.deleted[0] != final.String()+` "e1"` {
				t.Errorf("deleted %v", files.deleted)
			}
		})
	}
}

func TestS3OnlyServer(t *testing.T) {
	ts := s3Server(t, false, &fakeFiles{})
	if w, _ := doAs(ts, aliceToken, "GET", sasQuery(endpoint+"/uploads/users/alice/a.txt", "PUT"), "", nil); w.Code != http.StatusNotFound {
		t.Errorf("/sas on an S3-only service: %d", w.Code)
	}
	if w, _ := doAs(ts, aliceToken, "GET", "/s3/sign", "", nil); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET /s3/sign: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w, _ := doAs(ts, aliceToken, "GET", "/s3/files/x", "", nil); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "DELETE" {
		t.Errorf("GET /s3/files/x: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	// Without Files there is no delete route.
	ts = s3Server(t, false, nil)
	if w, _ := doAs(ts, aliceToken, "DELETE", "/s3/files/u-1?key=x", "", nil); w.Code != http.StatusNotFound {
		t.Errorf("delete without Files: %d", w.Code)
	}
	// A preflight of the signature request is answered for the page.
	r := httptest.NewRequest("OPTIONS", "/s3/sign?v4=true", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
}

func TestNewS3Options(t *testing.T) {
	base := s3Server(t, false, nil).opts
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no signer", func(o *Options) { s := *o.S3; s.Signer = nil; o.S3 = &s }, "server: S3.Signer is required"},
		{"staging bucket differs", func(o *Options) { s := *o.S3; s.Staging.Container = "other"; o.S3 = &s }, `server: S3.Staging is bucket "other", the signer's is "stage"`},
		{"no lifetime", func(o *Options) { s := *o.S3; s.Lifetime = 0; o.S3 = &s }, "server: S3.Lifetime must be positive, not 0s"},
		{"no size", func(o *Options) { s := *o.S3; s.DefaultMaxSize = 0; o.S3 = &s }, "server: S3.DefaultMaxSize must be positive, not 0"},
		{"half of Azure", func(o *Options) { o.Resolver = testOptions(t).Resolver }, "server: required options missing: Signer, Staging, Uploads"},
		{"neither", func(o *Options) { o.S3 = nil }, "server: required options missing: Resolver, Signer, Staging, Uploads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.change(&o)
			if s, err := New(o); err == nil || err.Error() != tc.want {
				t.Errorf("New = %v, %v; want %q", s, err, tc.want)
			}
		})
	}
}

// FuzzS3SuccessForm: whatever the body, the S3 upload-success parser
// names only a final blob of the caller's, in a bucket the rules name.
func FuzzS3SuccessForm(f *testing.F) {
	ts := s3Server(f, false, nil)
	f.Add("key=" + url.QueryEscape(aliceUpload) + "&bucket=stage&uuid=u&name=a.txt&etag=x")
	f.Add("key=" + url.QueryEscape(bobUpload))
	f.Add("key=YWxpY2U/uploads/a/../b&key=x")
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		form, err := ts.s3SuccessForm("t", authz.User{ID: "alice"}, v)
		if err != nil {
			return
		}
		if form.blob.Container != "uploads" && form.blob.Container != "shared" {
			t.Fatalf("container %q", form.blob.Container)
		}
		if staged, err := (staging.Area{Container: "stage"}).Ref("alice", form.blob); err != nil || string(staged.Name) != v.Get("key") {
			t.Fatalf("key %q names %v, not alice's", v.Get("key"), form.blob)
		}
	})
}
