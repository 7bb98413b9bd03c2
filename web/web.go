// Package web is blobvalet's browser side. Every blobvalet serves the Uppy
// plugin (client/uppy-blobvalet.js, the reference client of the protocol) at
// /client/. blobvalet dev also serves a demo page: Fine Uploader Azure,
// Fine Uploader traditional (through blobvalet's /upload) or Uppy, from npm
// packages installed on first use, wired to blobvalet's endpoints and the
// local emulator; on S3 (dev --storage s3), Fine Uploader S3 or Uppy's AWS
// S3 uploader.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// Environment variables naming installed package directories (the ones
// holding each package's package.json), used instead of installing from
// npm, for machines without the network.
const (
	FineUploaderDirEnv = "BLOBVALET_FINE_UPLOADER_DIR"
	UppyDirEnv         = "BLOBVALET_UPPY_DIR"
)

// vendored are the files the page takes from each npm package: the
// variable that may name an installed copy, the URL path the files are
// served under, the package's name, the files' directory in the package,
// and one file that must be there.
var vendored = []struct{ spec, env, url, name, dir, check string }{
	{FineUploader, FineUploaderDirEnv, "/vendor/fine-uploader/", "fine-uploader", "azure.fine-uploader", "azure.fine-uploader.min.js"},
	// The same package's traditional build, which sends files to
	// blobvalet's /upload.
	{FineUploader, FineUploaderDirEnv, "/vendor/fine-uploader-traditional/", "fine-uploader", "fine-uploader", "fine-uploader.min.js"},
	// The same package's S3 build, for blobvalet dev --storage s3.
	{FineUploader, FineUploaderDirEnv, "/vendor/fine-uploader-s3/", "fine-uploader", "s3.fine-uploader", "s3.fine-uploader.min.js"},
	// Uppy's ES module bundle, which an import map names as @uppy/core; it
	// holds @uppy/aws-s3 too (AwsS3, in signRequest mode).
	{Uppy, UppyDirEnv, "/vendor/uppy/", "uppy", "dist", "uppy.min.mjs"},
}

// Vendor maps each package spec (FineUploader, Uppy) to the directory of
// the installed package, the one holding its package.json.
type Vendor map[string]string

// InstallVendor finds fine-uploader and uppy for Routes: in the directories
// named by FineUploaderDirEnv and UppyDirEnv if set, otherwise installed
// from npm into the cache, once each. progress, if not nil, is told of an
// install.
func InstallVendor(ctx context.Context, progress io.Writer) (Vendor, error) {
	found := Vendor{}
	for _, v := range vendored {
		dir := os.Getenv(v.env)
		source := "the directory in " + v.env
		if dir == "" {
			installed, err := azurite.NPMInstall(ctx, v.spec, progress)
			if errors.Is(err, azurite.ErrNoNPM) {
				return nil, fmt.Errorf("npm not found: install Node.js 20+ and npm, or set %s to the directory of an installed %s package", v.env, v.spec)
			}
			if err != nil {
				return nil, err
			}
			dir, source = filepath.Join(installed, "node_modules", v.name), "npm package "+v.spec
		}
		if _, err := os.Stat(filepath.Join(dir, v.dir, v.check)); err != nil {
			return nil, fmt.Errorf("%s: %s has no %s: want the directory of an installed %s package, the one holding its package.json", source, dir, filepath.Join(v.dir, v.check), v.name)
		}
		found[v.spec] = dir
	}
	return found, nil
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
	// S3 is set when the demo runs on S3 storage: the page at / is then
	// Fine Uploader S3 and Uppy's AWS S3 uploader (s3.html).
	S3 *S3Demo `json:"s3,omitempty"`
}

// S3Demo is what the S3 page needs to know about the staging bucket,
// where its uploads land until blobvalet has verified them.
type S3Demo struct {
	// Endpoint is the staging bucket's virtual-hosted URL, Fine Uploader
	// S3's request.endpoint: its signature v4 chunking works only there.
	Endpoint string `json:"endpoint"`
	// Bucket is the staging bucket (objectProperties.bucket).
	Bucket string `json:"bucket"`
	// Region is the region requests are signed for.
	Region string `json:"region"`
	// AccessKey is the id of blobvalet's signing key, never its secret.
	AccessKey string `json:"accessKey"`
	// ACL is the canned ACL every upload must carry.
	ACL string `json:"acl"`
	// FinalBucket is the bucket the rules name, where verified files go.
	FinalBucket string `json:"finalBucket"`
}

// Routes returns a function that registers the page, its settings and the
// Fine Uploader and Uppy files (from InstallVendor).
func Routes(demo Demo, vendor Vendor) func(*mux.Router) {
	return func(r *mux.Router) {
		sub, _ := fs.Sub(static, "static")
		files := http.FileServer(http.FS(sub))
		page := http.Handler(files)
		if demo.S3 != nil {
			page = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, sub, "s3.html") })
		}
		r.Handle("/", page).Methods(http.MethodGet, http.MethodHead).Name("demo-page")
		r.PathPrefix("/demo/").Handler(http.StripPrefix("/demo/", files)).Methods(http.MethodGet, http.MethodHead).Name("demo-files")
		r.HandleFunc("/demo.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_ = json.NewEncoder(w).Encode(demo) // the page is gone if this fails
		}).Methods(http.MethodGet).Name("demo-settings")
		for _, v := range vendored {
			dir := filepath.Join(vendor[v.spec], v.dir)
			r.PathPrefix(v.url).Handler(http.StripPrefix(v.url, http.FileServer(http.Dir(dir)))).
				Methods(http.MethodGet, http.MethodHead).Name("vendor")
		}
	}
}
