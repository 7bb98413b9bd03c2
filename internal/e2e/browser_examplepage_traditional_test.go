package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/chromedp/chromedp"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/web"
)

// TestExamplePageTraditional serves examples/page-traditional/index.html as
// a deployer would (with the npm package's fine-uploader/ directory beside
// it), changing only its settings block, runs "blobvalet serve" with the
// example's blobvalet.yaml pointed at Azurite (no storage CORS: the browser
// never talks to storage), uploads a picture and a chunked file in
// Chromium, and checks that both are at their final names, bytes exact,
// with nothing left in staging.
func TestExamplePageTraditional(t *testing.T) {
	needBrowser(t)
	az := azuritetest.Start(t, "uploads", "incoming")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vendor, err := web.InstallVendor(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fuDir := filepath.Join(vendor[web.FineUploader], "fine-uploader")

	html, err := os.ReadFile("../../examples/page-traditional/index.html")
	if err != nil {
		t.Fatal(err)
	}
	const token = "alice-page-token-0123456789"
	pageMux := http.NewServeMux()
	pageSrv := httptest.NewServer(pageMux)
	defer pageSrv.Close()

	api, admin := freeAddr(t), freeAddr(t)
	cfgPath := examplePageConfig(t, "../../examples/page-traditional/blobvalet.yaml", map[string]any{
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
	serveLog := &syncBuffer{}
	served := make(chan int, 1)
	go func() { served <- run(ctx, []string{"serve", "--config", cfgPath}, io.Discard, serveLog) }()
	stop := sync.OnceFunc(func() {
		cancel()
		<-served
	})
	defer stop()
	waitReady(t, "http://"+admin, served, serveLog)

	settings := fmt.Sprintf(`const settings = {
  blobvalet: %q,
  user: "alice",
  token: %q,
};`, "http://"+api, token)
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

	// 20 MB in the page's 8 MB parts: three chunks, sent at once.
	pic := testPNG(t)
	big := bytes.Repeat([]byte("blobvalet traditional example line\n"), 20_000_000/35+1)[:20_000_000]
	p.choose(writeFile(t, "pic.png", pic), writeFile(t, "big.txt", big))
	p.waitJS(`document.querySelectorAll(".qq-upload-success, .qq-upload-fail").length === 2`)
	var failed string
	p.run(chromedp.Evaluate(`Array.from(document.querySelectorAll(".qq-upload-fail")).map(li => li.textContent.replace(/\s+/g, " ")).join(" | ")`, &failed))
	if failed != "" {
		t.Fatalf("uploads failed in the page: %s\nblobvalet:\n%s", failed, serveLog.String())
	}
	uploads := az.Client().NewContainerClient("uploads")
	for id, f := range []struct {
		ext  string
		want []byte
	}{{".png", pic}, {".txt", big}} {
		var uuid string
		p.run(chromedp.Evaluate(fmt.Sprintf(`uploader.getUuid(%d)`, id), &uuid))
		name := "users/alice/" + uuid + f.ext
		resp, err := uploads.NewBlobClient(name).DownloadStream(context.Background(), nil)
		if err != nil {
			t.Fatalf("%s: %v\nblobvalet:\n%s", name, err, serveLog.String())
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || sha256.Sum256(got) != sha256.Sum256(f.want) {
			t.Errorf("%s: stored %d bytes that differ from the %d uploaded (%v)", name, len(got), len(f.want), err)
		}
	}
	pager := az.Client().NewContainerClient("incoming").NewListBlobsFlatPager(&container.ListBlobsFlatOptions{})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			t.Errorf("left in staging after the uploads were promoted: %s", *b.Name)
		}
	}
	// The big file went in three parts, completed by /upload/done (the
	// log is complete once serve has stopped).
	stop()
	if !strings.Contains(serveLog.String(), `"msg":"upload-done"`) || !strings.Contains(serveLog.String(), `"parts":3,"size":20000000`) {
		t.Errorf("blobvalet logged no 3-part upload completed by /upload/done:\n%s", serveLog.String())
	}
}
