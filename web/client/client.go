// Package client serves blobvalet's own browser client: the Uppy plugin
// (uppy-blobvalet.js) and the protocol module it imports relatively. Every
// blobvalet serves them at /client/, so that a page loads the client that
// matches its server.
package client

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/gorilla/mux"
)

// The modules; the tests next to them are not served.
//
//go:embed uppy-blobvalet.js protocol.js
var clientFiles embed.FS

// clientFile is one served module, with its ETag computed once.
type clientFile struct {
	body []byte
	etag string
}

// clientModules are the files under /client/, by name.
var clientModules = func() map[string]clientFile {
	m := map[string]clientFile{}
	entries, _ := fs.ReadDir(clientFiles, ".")
	for _, e := range entries {
		body, _ := fs.ReadFile(clientFiles, e.Name())
		sum := sha256.Sum256(body)
		m[e.Name()] = clientFile{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
	}
	return m
}()

// Routes registers GET /client/uppy-blobvalet.js (the Uppy plugin) and the
// module it imports.
func Routes(r *mux.Router) {
	r.HandleFunc("/client/{file}", serveClient).Methods(http.MethodGet, http.MethodHead).Name("client")
}

// serveClient answers with an ETag of the content. The URL carries no
// version, so browsers revalidate on every use (no-cache) and get 304 while
// the file is unchanged: a new blobvalet reaches pages at once, and the
// plugin and the module it imports never come from two versions.
func serveClient(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["file"]
	f, ok := clientModules[name]
	if !ok || path.Ext(name) != ".js" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304, and HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
