package web

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// installedPackage makes a directory laid out as an installed npm package
// holding one file.
func installedPackage(t *testing.T, file, content string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// addFile adds a file to an installed package's directory.
func addFile(t *testing.T, dir, file, content string) {
	t.Helper()
	path := filepath.Join(dir, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVendorFromEnvironment serves Fine Uploader and Uppy from the
// directories the environment names, with no npm to install them from.
func TestVendorFromEnvironment(t *testing.T) {
	fu := installedPackage(t, "azure.fine-uploader/azure.fine-uploader.min.js", "/* fine uploader */")
	addFile(t, fu, "fine-uploader/fine-uploader.min.js", "/* traditional */")
	addFile(t, fu, "s3.fine-uploader/s3.fine-uploader.min.js", "/* s3 */")
	uppy := installedPackage(t, "dist/uppy.min.mjs", "/* uppy */")
	t.Setenv(FineUploaderDirEnv, fu)
	t.Setenv(UppyDirEnv, uppy)
	t.Setenv("PATH", t.TempDir())
	t.Setenv("BLOBVALET_CACHE_DIR", t.TempDir())
	v, err := InstallVendor(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	Routes(Demo{}, v)(r)
	for path, want := range map[string]string{
		"/vendor/fine-uploader/azure.fine-uploader.min.js":       "/* fine uploader */",
		"/vendor/uppy/uppy.min.mjs":                              "/* uppy */",
		"/vendor/fine-uploader-traditional/fine-uploader.min.js": "/* traditional */",
		"/vendor/fine-uploader-s3/s3.fine-uploader.min.js":       "/* s3 */",
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if body, _ := io.ReadAll(w.Body); w.Code != 200 || string(body) != want {
			t.Errorf("GET %s: %d %q, want %q", path, w.Code, body, want)
		}
	}
}

func TestVendorFromEnvironmentChecked(t *testing.T) {
	fu := installedPackage(t, "azure.fine-uploader/azure.fine-uploader.min.js", "x")
	addFile(t, fu, "fine-uploader/fine-uploader.min.js", "x")
	addFile(t, fu, "s3.fine-uploader/s3.fine-uploader.min.js", "x")
	t.Setenv(FineUploaderDirEnv, fu)
	wrong := installedPackage(t, "uppy.min.mjs", "x") // dist/ missing
	t.Setenv(UppyDirEnv, wrong)
	_, err := InstallVendor(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "the directory in BLOBVALET_UPPY_DIR: "+wrong+" has no dist/uppy.min.mjs: want the directory of an installed uppy package") {
		t.Errorf("error %v", err)
	}
}

func TestVendorWithoutNPMNamesTheOverride(t *testing.T) {
	t.Setenv(FineUploaderDirEnv, "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("BLOBVALET_CACHE_DIR", t.TempDir())
	_, err := InstallVendor(context.Background(), nil)
	if err == nil || err.Error() != "npm not found: install Node.js 20+ and npm, or set BLOBVALET_FINE_UPLOADER_DIR to the directory of an installed fine-uploader@5.16.2 package" {
		t.Errorf("error %v", err)
	}
}
