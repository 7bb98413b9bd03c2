package client

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

func TestClientRoutes(t *testing.T) {
	r := mux.NewRouter()
	Routes(r)
	get := func(path string, header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}

	for _, name := range []string{"uppy-blobvalet.js", "protocol.js"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		w := get("/client/"+name, nil)
		if w.Code != http.StatusOK || w.Body.String() != string(want) {
			t.Fatalf("GET /client/%s = %d, %d bytes; want 200 and the file", name, w.Code, w.Body.Len())
		}
		h := w.Header()
		if ct := h.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if cc := h.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q", name, cc)
		}
		etag := h.Get("ETag")
		if len(etag) < 10 || !strings.HasPrefix(etag, `"`) {
			t.Fatalf("%s: ETag %q", name, etag)
		}

		// A browser that has this version gets 304 and no body.
		w = get("/client/"+name, http.Header{"If-None-Match": {etag}})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
			t.Errorf("revalidation of %s = %d with %d bytes, want 304", name, w.Code, w.Body.Len())
		}
		// An older version gets the file.
		if w = get("/client/"+name, http.Header{"If-None-Match": {`"old"`}}); w.Code != http.StatusOK {
			t.Errorf("stale revalidation of %s = %d, want 200", name, w.Code)
		}
	}
	if a, b := get("/client/uppy-blobvalet.js", nil).Header().Get("ETag"), get("/client/protocol.js", nil).Header().Get("ETag"); a == b {
		t.Error("two files with one ETag")
	}
	for _, path := range []string{"/client/protocol.test.mjs", "/client/nope.js", "/client/", "/client/../web.go"} {
		if w := get(path, nil); w.Code/100 == 2 {
			t.Errorf("GET %s = %d, want a failure", path, w.Code)
		}
	}
}
