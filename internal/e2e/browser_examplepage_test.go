package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/web"
)

// TestExamplePageUpload serves examples/page/index.html as a deployer
// would (with Fine Uploader's files from the npm package beside it),
// changing only its settings block, runs "blobvalet serve" with
// examples/page/blobvalet.yaml pointed at Azurite, applies storage CORS with
// "blobvalet cors apply", uploads a picture and a chunked file in Chromium,
// and checks what is in storage.
func TestExamplePageUpload(t *testing.T) {
	needBrowser(t)
	az := azuritetest.Start(t, "uploads", "incoming")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vendor, err := web.InstallVendor(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fuDir := filepath.Join(vendor[web.FineUploader], "azure.fine-uploader")

	html, err := os.ReadFile("../../examples/page/index.html")
	if err != nil {
		t.Fatal(err)
	}
	const token = "alice-page-token-0123456789"
	pageMux := http.NewServeMux()
	pageSrv := httptest.NewServer(pageMux)
	defer pageSrv.Close()

	// blobvalet, configured by the example file with only the deployment's
	// own values changed.
	api, admin := freeAddr(t), freeAddr(t)
	cfgPath := examplePageConfig(t, "../../examples/page/blobvalet.yaml", map[string]any{
		"listen":       api,
		"admin_listen": admin,
		"shutdown":     map[string]any{"drain": "100ms"},
		"cors_origins": []string{pageSrv.URL},
	}, map[string]any{
		"account":  az.Account(),
		"endpoint": az.Endpoint(),
	})
	t.Setenv("BLOBVALET_STORAGE_KEY", az.Key())
	t.Setenv("ALICE_TOKEN", token)
	var corsOut bytes.Buffer
	if code := run(ctx, []string{"cors", "apply", "--config", cfgPath, "--origin", pageSrv.URL}, &corsOut, &corsOut); code != 0 {
		t.Fatalf("blobvalet cors apply: exit %d\n%s", code, corsOut.String())
	}
	serveLog := &syncBuffer{}
	served := make(chan int, 1)
	go func() { served <- run(ctx, []string{"serve", "--config", cfgPath}, io.Discard, serveLog) }()
	defer func() {
		cancel()
		<-served
	}()
	waitReady(t, "http://"+admin, served, serveLog)

	settings := fmt.Sprintf(`const settings = {
  blobvalet: %q,
  container: %q,
  user: "alice",
  token: %q,
};`, "http://"+api, az.Endpoint()+"/uploads", token)
	pageMux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(replaceSettings(t, html, settings))
	})
	pageMux.Handle("/fine-uploader/", http.StripPrefix("/fine-uploader/", http.FileServer(http.Dir(fuDir))))

	p := openTab(t, 2*time.Minute)
	p.run(chromedp.Navigate(pageSrv.URL + "/"))
	p.waitJS(`typeof uploader === "object" && document.querySelector(".qq-upload-button-selector input[type=file]") !== null`)
	var missing bool
	p.run(chromedp.Evaluate(`!document.getElementById("settings-missing").hidden`, &missing))
	if missing {
		t.Fatal("the page says its settings are missing")
	}

	pic := testPNG(t)
	big := bytes.Repeat([]byte("blobvalet example page line\n"), 6_000_000/28+1)[:6_000_000]
	p.choose(writeFile(t, "pic.png", pic), writeFile(t, "big.txt", big))
	p.waitJS(`document.querySelectorAll(".qq-upload-success, .qq-upload-fail").length === 2`)
	var failed string
	p.run(chromedp.Evaluate(`Array.from(document.querySelectorAll(".qq-upload-fail")).map(li => li.textContent.replace(/\s+/g, " ")).join(" | ")`, &failed))
	if failed != "" {
		t.Fatalf("uploads failed in the page: %s\nblobvalet:\n%s", failed, serveLog.String())
	}
	client := az.Client().NewContainerClient("uploads")
	for id, want := range [][]byte{pic, big} {
		var name string
		p.run(chromedp.Evaluate(fmt.Sprintf(`uploader.getBlobName(%d)`, id), &name))
		if !strings.HasPrefix(name, "users/alice/") {
			t.Errorf("file %d went to %q, not users/alice/", id, name)
			continue
		}
		resp, err := client.NewBlobClient(name).DownloadStream(context.Background(), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("%s: stored %d bytes that differ from the %d uploaded (%v)", name, len(got), len(want), err)
		}
	}
	if !strings.Contains(serveLog.String(), "users/alice/") {
		t.Error("blobvalet logged no decision for the uploads")
	}
}

// examplePageConfig writes the example configuration at example with the
// top-level and storage fields given replaced, and returns its path.
func examplePageConfig(t *testing.T, example string, top, storage map[string]any) string {
	t.Helper()
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range top {
		doc[k] = v
	}
	st := doc["storage"].(map[string]any)
	for k, v := range storage {
		st[k] = v
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "blobvalet.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceSettings swaps an example page's settings block, between its two
// marker comments, for settings.
func replaceSettings(t *testing.T, html []byte, settings string) []byte {
	const begin, end = "// ---- Settings: change these for your deployment ----\n", "// ---- End of settings ----"
	i, j := bytes.Index(html, []byte(begin)), bytes.Index(html, []byte(end))
	if i < 0 || j < i {
		t.Error("the example page lost its settings markers")
		return html
	}
	return bytes.Join([][]byte{html[:i+len(begin)], []byte(settings + "\n"), html[j:]}, nil)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady waits until the blobvalet whose admin listener is at base
// answers /readyz.
func waitReady(t *testing.T, base string, exited <-chan int, log *syncBuffer) {
	t.Helper()
	eventually(t, 30*time.Second, "blobvalet serve to be ready", func() bool {
		select {
		case code := <-exited:
			t.Fatalf("blobvalet serve exited %d:\n%s", code, log.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
