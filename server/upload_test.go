package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/success"
	"github.com/blobvalet/blobvalet/traditional"
)

// fakeTraditional answers as its function fields say and records the parts.
type fakeTraditional struct {
	upload   func(p traditional.Part, body []byte) (*success.Result, error)
	complete func(d traditional.Done) (success.Result, error)
	del      func(u traditional.UUID) error
	take     error
	parts    []traditional.Part
}

func (f *fakeTraditional) Take(string) (func(), error) {
	if f.take != nil {
		return nil, f.take
	}
	return func() {}, nil
}
func (f *fakeTraditional) ChunkLimit() int64 { return 1 << 20 }
func (f *fakeTraditional) Upload(_ context.Context, _ authz.User, p traditional.Part, body io.Reader) (*success.Result, error) {
	f.parts = append(f.parts, p)
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return f.upload(p, data)
}
func (f *fakeTraditional) Complete(_ context.Context, _ authz.User, d traditional.Done) (success.Result, error) {
	return f.complete(d)
}
func (f *fakeTraditional) Delete(_ context.Context, _ authz.User, u traditional.UUID, _ map[string]string) error {
	return f.del(u)
}

const uuid1 = "0b472b64-1f67-4a58-add2-09137b37f3e4"

func uploadServer(t *testing.T, f *fakeTraditional) *testServer {
	t.Helper()
	ts := newTestServer(t)
	o := ts.opts
	o.Traditional = f
	o.Metrics = nil
	ts.Server = mustNew(t, o)
	return ts
}

// chunkBody is a chunk as Fine Uploader sends it: fields, then the file.
func chunkBody(t testing.TB, fields [][2]string, data []byte) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, kv := range fields {
		w.WriteField(kv[0], kv[1])
	}
	fw, _ := w.CreateFormFile("qqfile", "blob")
	fw.Write(data)
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

var chunkFields = [][2]string{
	{"album", "summer"}, {"qqpartindex", "0"}, {"qqpartbyteoffset", "0"}, {"qqchunksize", "4"}, {"qqtotalparts", "2"},
	{"qqtotalfilesize", "7"}, {"qqfilename", "a.txt"}, {"qquuid", uuid1},
}

func do(ts *testServer, method, target, contentType string, body []byte, hdr map[string]string) (*httptest.ResponseRecorder, map[string]any) {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, r)
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return w, m
}

func TestUploadAnswers(t *testing.T) {
	resetErr := errs.E("t", errs.Conflict, "the earlier parts of this upload are gone; starting over")
	resetErr.Reset = true
	rejected := errs.E("t", errs.Rejected, "file type text/html is not allowed")
	rejected.PreventRetry = true
	for _, tc := range []struct {
		name   string
		fields [][2]string
		data   string
		result *success.Result
		err    error
		take   error
		status int
		want   map[string]any
	}{
		{"chunk stored", chunkFields, "abcd", nil, nil, nil, 200, map[string]any{"success": true}},
		{"whole file verified", [][2]string{{"qquuid", uuid1}, {"qqfilename", "a.png"}, {"qqtotalfilesize", "4"}}, "\x89PNG",
			&success.Result{Blob: "users/alice/x.png", ContentType: "image/png", ThumbnailURL: "https://t/x"}, nil, nil, 200,
			map[string]any{"success": true, "blob": "users/alice/x.png", "thumbnailUrl": "https://t/x"}},
		{"reset", chunkFields, "abcd", nil, resetErr, nil, 409, map[string]any{"success": false, "reset": true}},
		{"rejected", chunkFields, "abcd", nil, rejected, nil, 422, map[string]any{"success": false, "preventRetry": true, "error": "file type text/html is not allowed"}},
		{"busy", chunkFields, "abcd", nil, nil, errs.E("t", errs.Busy, "busy"), 503, map[string]any{"success": false}},
		{"per user", chunkFields, "abcd", nil, nil, errs.E("t", errs.TooManyRequests, "too many"), 429, map[string]any{"success": false}},
		{"file before its fields", [][2]string{{"qquuid", uuid1}}, "abcd", nil, nil, nil, 400, map[string]any{"success": false, "preventRetry": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTraditional{take: tc.take, upload: func(p traditional.Part, body []byte) (*success.Result, error) {
				if string(body) != tc.data {
					t.Errorf("body %q", body)
				}
				return tc.result, tc.err
			}}
			ts := uploadServer(t, f)
			ct, body := chunkBody(t, tc.fields, []byte(tc.data))
			w, m := do(ts, "POST", "/upload", ct, body, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			for k, v := range tc.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, m[k], v, w.Body)
				}
			}
			if w.Code >= 500 || w.Code == 429 {
				if w.Header().Get("Retry-After") == "" {
					t.Error("no Retry-After")
				}
			}
		})
	}
}

func TestUploadParsesFields(t *testing.T) {
	f := &fakeTraditional{upload: func(traditional.Part, []byte) (*success.Result, error) { return nil, nil }}
	ts := uploadServer(t, f)
	ct, body := chunkBody(t, chunkFields, []byte("abcd"))
	if w, _ := do(ts, "POST", "/upload", ct, body, nil); w.Code != 200 {
		t.Fatal(w.Body)
	}
	p := f.parts[0]
	if !p.Chunked || p.UUID.String() != uuid1 || p.Size != 4 || p.FileSize != 7 || p.Params["album"] != "summer" || p.ContentType != "" {
		t.Fatalf("%+v", p)
	}
	// Raw: the params in the query, the type in X-Mime-Type.
	q := "qquuid=" + uuid1 + "&qqfilename=a+%C3%BC.png&qqfile=a+%C3%BC.png"
	if w, _ := do(ts, "POST", "/upload?"+q, "application/octet-stream", []byte("\x89PNG"), map[string]string{"X-Mime-Type": "image/png"}); w.Code != 200 {
		t.Fatal(w.Body)
	}
	p = f.parts[1]
	if p.Chunked || p.FileName != "a ü.png" || p.Size != 4 || p.ContentType != "image/png" {
		t.Fatalf("%+v", p)
	}
	// Too many fields before the file: refused without reading on.
	var many [][2]string
	for i := range traditional.MaxFields + 1 {
		many = append(many, [2]string{fmt.Sprint("f", i), "x"})
	}
	ct, body = chunkBody(t, many, []byte("abcd"))
	if w, m := do(ts, "POST", "/upload", ct, body, nil); w.Code != 413 || m["preventRetry"] != true {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestUploadDoneAndDelete(t *testing.T) {
	var gotDone traditional.Done
	var deleted string
	f := &fakeTraditional{
		complete: func(d traditional.Done) (success.Result, error) {
			gotDone = d
			if d.FileName == "bad.jpg" {
				e := errs.E("t", errs.Rejected, "not a picture")
				e.PreventRetry = true
				return success.Result{}, e
			}
			return success.Result{Blob: "users/alice/x.txt"}, nil
		},
		del: func(u traditional.UUID) error {
			if u.String() != uuid1 {
				return errs.E("t", errs.NotFound, "no upload of yours has this uuid")
			}
			deleted = u.String()
			return nil
		},
	}
	ts := uploadServer(t, f)
	form := "album=summer&qquuid=" + uuid1 + "&qqfilename=c.txt&qqtotalfilesize=550000&qqtotalparts=6"
	if w, m := do(ts, "POST", "/upload/done", "application/x-www-form-urlencoded", []byte(form), nil); w.Code != 200 || m["blob"] != "users/alice/x.txt" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if gotDone.Total != 6 || gotDone.Params["album"] != "summer" {
		t.Fatalf("%+v", gotDone)
	}
	js := `{"qquuid":"` + uuid1 + `","qqfilename":"c.txt","qqtotalfilesize":150000,"qqtotalparts":2}`
	if w, _ := do(ts, "POST", "/upload/done", "application/json", []byte(js), nil); w.Code != 200 || gotDone.FileSize != 150000 {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	// Fine Uploader reads this answer by its status only: never 2xx for a failure.
	bad := strings.Replace(form, "c.txt", "bad.jpg", 1)
	if w, m := do(ts, "POST", "/upload/done", "application/x-www-form-urlencoded", []byte(bad), nil); w.Code != 422 || m["preventRetry"] != true {
		t.Fatalf("rejected: %d %s", w.Code, w.Body)
	}
	if w, _ := do(ts, "DELETE", "/upload/"+uuid1+"?album=summer", "", nil, nil); w.Code != 200 || deleted != uuid1 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if w, _ := do(ts, "DELETE", "/upload/5b3f0976-b4fe-4101-9386-8b3d46352a48", "", nil, nil); w.Code != 404 {
		t.Fatalf("delete of another: %d", w.Code)
	}
	if w, _ := do(ts, "DELETE", "/upload/x", "", nil, nil); w.Code != 400 {
		t.Fatalf("bad uuid: %d", w.Code)
	}
	deleted = ""
	if w, _ := do(ts, "POST", "/upload", "application/x-www-form-urlencoded", []byte("qquuid="+uuid1+"&_method=DELETE"), nil); w.Code != 200 || deleted != uuid1 {
		t.Fatalf("POST delete: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("DELETE", "/upload/"+uuid1, nil)
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("delete without credentials: %d", w.Code)
	}
}

func TestUploadCORS(t *testing.T) {
	ts := uploadServer(t, &fakeTraditional{})
	r := httptest.NewRequest("OPTIONS", "/upload/"+uuid1, nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "DELETE")
	r.Header.Set("Access-Control-Request-Headers", "authorization,cache-control,x-requested-with,x-mime-type")
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Allow-Headers")), "x-mime-type") {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

// TestUploadNeverBuffersForms keeps the calls that buffer a multipart body
// (in memory up to 32 MiB, then in temp files) out of the packages that
// take uploads: they read with a multipart reader and stream the file.
func TestUploadNeverBuffersForms(t *testing.T) {
	banned := map[string]bool{"ParseMultipartForm": true, "FormFile": true, "FormValue": true, "PostFormValue": true, "ParseForm": true, "ReadForm": true}
	for _, dir := range []string{".", "../traditional"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && banned[sel.Sel.Name] {
					t.Errorf("%s calls %s", path, sel.Sel.Name)
				}
				return true
			})
		}
	}
}

// FuzzReadFields feeds the multipart reader any body: it never panics,
// and stops at the file part with at most the allowed fields.
func FuzzReadFields(f *testing.F) {
	ct, body := chunkBody(f, chunkFields, []byte("abcd"))
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(boundary, body)
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"qqfile\"; filename=\"x\"\r\n\r\nabc\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		if boundary == "" {
			return
		}
		v, part, err := readFields(multipart.NewReader(bytes.NewReader(body), boundary), url.Values{})
		if err != nil {
			if k := errs.KindOf(err); k != errs.Invalid && k != errs.TooLarge {
				t.Fatalf("kind %v: %v", k, err)
			}
			return
		}
		if part == nil || part.FormName() != "qqfile" {
			t.Fatal("no file part")
		}
		n, total := 0, 0
		for k, vs := range v {
			n += len(vs)
			for _, s := range vs {
				total += len(k) + len(s)
			}
		}
		if n > traditional.MaxFields || total > traditional.MaxFieldBytes {
			t.Fatalf("%d fields, %d bytes", n, total)
		}
		io.Copy(io.Discard, part)
		if _, err := traditional.ParsePart(v, -1, 1<<20); err != nil && errs.KindOf(err) == errs.Internal {
			t.Fatal(err)
		}
	})
}

var _ http.Handler = (*Server)(nil)
