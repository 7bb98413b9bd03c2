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
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gorilla/mux"

	"github.com/blobvalet/blobvalet/azurite"
)

// FineUploader and Uppy are the pinned npm packages the page uses.
const (
	FineUploader = "fine-uploader@5.16.2"
	Uppy         = "uppy@6.0.1"
)

//go:embed static
var static embed.FS

// vendored are the files the page takes from each npm package: the URL
// path they are served under, and their directory in the installed package.
var vendored = []struct{ spec, url, dir, check string }{
	{FineUploader, "/vendor/fine-uploader/", "node_modules/fine-uploader/azure.fine-uploader", "azure.fine-uploader.min.js"},
	// Uppy's ES module bundle, which an import map names as @uppy/core.
	{Uppy, "/vendor/uppy/", "node_modules/uppy/dist", "uppy.min.mjs"},
}

// InstallVendor installs the pinned fine-uploader and uppy from npm into the
// cache, once each, and returns the directory that holds both installs, for
// Routes.
func InstallVendor(ctx context.Context) (string, error) {
	root := ""
	for _, v := range vendored {
		dir, err := azurite.NPMInstall(ctx, v.spec)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(filepath.Join(dir, v.dir, v.check)); err != nil {
			return "", fmt.Errorf("npm package %s: %w", v.spec, err)
		}
		if root == "" {
			root = filepath.Dir(dir)
		} else if filepath.Dir(dir) != root {
			return "", fmt.Errorf("npm packages installed into %s and %s, not one directory", root, filepath.Dir(dir))
		}
	}
	return root, nil
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
// Fine Uploader and Uppy files in vendorDir (from InstallVendor).
func Routes(demo Demo, vendorDir string) func(*mux.Router) {
	return func(r *mux.Router) {
		sub, _ := fs.Sub(static, "static")
		files := http.FileServer(http.FS(sub))
		r.Handle("/", files).Methods(http.MethodGet, http.MethodHead).Name("demo-page")
		r.PathPrefix("/demo/").Handler(http.StripPrefix("/demo/", files)).Methods(http.MethodGet, http.MethodHead).Name("demo-files")
		r.HandleFunc("/demo.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_ = json.NewEncoder(w).Encode(demo) // the page is gone if this fails
		}).Methods(http.MethodGet).Name("demo-settings")
		for _, v := range vendored {
			dir := filepath.Join(vendorDir, v.spec, v.dir)
			r.PathPrefix(v.url).Handler(http.StripPrefix(v.url, http.FileServer(http.Dir(dir)))).
				Methods(http.MethodGet, http.MethodHead).Name("vendor")
		}
	}
}
