// Package web is blobvalet's browser side. Every blobvalet serves the Uppy
// plugin (client/uppy-blobvalet.js, the reference client of the protocol) at
// /client/. blobvalet dev also serves a demo page: Fine Uploader Azure or
// Uppy, from npm packages installed on first use, wired to blobvalet's
// endpoints and the local emulator.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gorilla/mux"

	"github.com/blobvalet/blobvalet/azurite"
)

// FineUploader is the pinned npm package the page uses.
const FineUploader = "fine-uploader@5.16.2"

//go:embed static
var static embed.FS

// InstallFineUploader installs the pinned fine-uploader from npm into the
// cache, once, and returns the directory of its Azure UI build.
func InstallFineUploader(ctx context.Context) (string, error) {
	dir, err := azurite.NPMInstall(ctx, FineUploader)
	if err != nil {
		return "", err
	}
	d := filepath.Join(dir, "node_modules", "fine-uploader", "azure.fine-uploader")
	if _, err := os.Stat(filepath.Join(d, "azure.fine-uploader.min.js")); err != nil {
		return "", err
	}
	return d, nil
}

// User is a demo user the page can act as.
type User struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// Demo is what the page needs to know.
type Demo struct {
	// ContainerURL is Fine Uploader's request.endpoint.
	ContainerURL string `json:"containerUrl"`
	// Users are the demo users with their tokens.
	Users []User `json:"users"`
}

// Routes returns a function that registers the page, its settings and the
// Fine Uploader files found in fuDir.
func Routes(demo Demo, fuDir string) func(*mux.Router) {
	return func(r *mux.Router) {
		sub, _ := fs.Sub(static, "static")
		files := http.FileServer(http.FS(sub))
		r.Handle("/", files).Methods(http.MethodGet, http.MethodHead).Name("demo-page")
		r.PathPrefix("/demo/").Handler(http.StripPrefix("/demo/", files)).Methods(http.MethodGet, http.MethodHead).Name("demo-files")
		r.HandleFunc("/demo.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			json.NewEncoder(w).Encode(demo)
		}).Methods(http.MethodGet).Name("demo-settings")
		r.PathPrefix("/vendor/fine-uploader/").Handler(http.StripPrefix("/vendor/fine-uploader/", http.FileServer(http.Dir(fuDir)))).
			Methods(http.MethodGet, http.MethodHead).Name("vendor")
	}
}
