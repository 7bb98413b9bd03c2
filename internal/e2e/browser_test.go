package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/chromedp/chromedp"

	"github.com/blobvalet/blobvalet/blobref"
	azstore "github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/internal/app"
)

// The browser tests drive real clients in a real Chromium against
// "blobvalet dev" (Azurite, the service and the demo page), and check what
// ends up in storage: Fine Uploader Azure (browser_fineuploader_test.go),
// Uppy with blobvalet's plugin (browser_uppy_test.go) and the example page
// served as a deployer would (browser_examplepage_test.go). This file holds
// what they share: the dev stack and Chromium, started once for the
// package, and the browser tab.

var (
	browserOnce sync.Once
	browserEnvV *browserEnv
	browserErr  error
)

type browserEnv struct {
	dev     *app.Dev
	stopDev context.CancelFunc
	browser context.Context
}

func chromiumPath() string {
	for _, p := range []string{os.Getenv("BLOBVALET_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// needChromium skips or fails t as the browser tests do when Chromium (or
// npm, for the vendored clients) is missing, and returns Chromium's path.
func needChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Chromium and a storage emulator: skipped under -short")
	}
	chromium := chromiumPath()
	if chromium == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is required in CI: apt-get install chromium")
		}
		t.Skip("Chromium not found: install it (apt-get install chromium) or set BLOBVALET_CHROMIUM to run the browser tests")
	}
	if _, err := exec.LookPath("npm"); err != nil && os.Getenv("AZURITE_BIN") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is required in CI (Azurite, fine-uploader)")
		}
		t.Skip("npm not found: install Node.js and npm to run the browser tests")
	}
	return chromium
}

var (
	chromeOnce sync.Once
	chromeCtx  context.Context
	chromeStop context.CancelFunc = func() {}
	chromeErr  error
)

// startChromium starts, once for the whole package, the headless Chromium
// every browser test opens its tabs in.
func startChromium(chromium string) (context.Context, error) {
	chromeOnce.Do(func() {
		userData, _ := os.MkdirTemp("", "blobvalet-chromium-")
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(chromium),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(userData),
			chromedp.WindowSize(1100, 760),
		}
		alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		browser, stopBrowser := chromedp.NewContext(alloc)
		if err := chromedp.Run(browser); err != nil {
			stopBrowser()
			stopAlloc()
			chromeErr = fmt.Errorf("start chromium: %w", err)
			return
		}
		chromeCtx = browser
		chromeStop = func() {
			stopBrowser()
			stopAlloc()
			os.RemoveAll(userData)
		}
	})
	return chromeCtx, chromeErr
}

// needBrowser starts, once for the whole package, the dev stack and a
// headless Chromium. Without Chromium the test skips, except in CI.
func needBrowser(t *testing.T) *browserEnv {
	t.Helper()
	chromium := needChromium(t)
	browserOnce.Do(func() {
		browser, err := startChromium(chromium)
		if err != nil {
			browserErr = err
			return
		}
		ctx, stop := context.WithCancel(context.Background())
		dev, err := app.StartDev(ctx, app.DevOptions{Listen: "127.0.0.1:0", Log: io.Discard, UploadHook: devUploadHook})
		if err != nil {
			stop()
			browserErr = err
			return
		}
		browserEnvV = &browserEnv{dev: dev, stopDev: stop, browser: browser}
	})
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	return browserEnvV
}

// page is one browser tab on the demo page.
type page struct {
	t   *testing.T
	ctx context.Context
	env *browserEnv
}

// openTab opens a browser tab for the test, closed when it ends, that
// gives up after timeout.
func openTab(t *testing.T, timeout time.Duration) *page {
	t.Helper()
	env := needBrowser(t)
	ctx, cancel := chromedp.NewContext(env.browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	return &page{t: t, ctx: ctx, env: env}
}

func (p *page) run(actions ...chromedp.Action) {
	p.t.Helper()
	if err := chromedp.Run(p.ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// waitJS polls a JavaScript expression until it is true.
func (p *page) waitJS(expr string) {
	p.t.Helper()
	p.run(chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)))
}

// eventsIn decodes the page's event log, the array window[log], into evs.
func (p *page) eventsIn(log string, evs any) {
	p.t.Helper()
	var raw string
	p.run(chromedp.Evaluate(`JSON.stringify(window.`+log+`)`, &raw))
	if err := json.Unmarshal([]byte(raw), evs); err != nil {
		p.t.Fatal(err)
	}
}

// waitEventIn waits until the page's event log, the array window[log],
// holds an event of one of the types, and decodes the first into ev.
func (p *page) waitEventIn(log string, ev any, types ...string) {
	p.t.Helper()
	cond := make([]string, len(types))
	for i, ty := range types {
		cond[i] = fmt.Sprintf("e.type === %q", ty)
	}
	match := `e => ` + strings.Join(cond, " || ")
	p.waitJS(`window.` + log + `.some(` + match + `)`)
	var raw string
	p.run(chromedp.Evaluate(`JSON.stringify(window.`+log+`.find(`+match+`))`, &raw))
	if err := json.Unmarshal([]byte(raw), ev); err != nil {
		p.t.Fatal(err)
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// downloadFrom reads a blob from the dev stack's storage.
func (p *page) downloadFrom(container, name string) ([]byte, error) {
	resp, err := p.env.dev.Storage.Client().NewContainerClient(container).NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// download reads a blob of the uploads container.
func (p *page) download(name string) ([]byte, error) {
	return p.downloadFrom("uploads", name)
}

// storedPNG checks that alice's pic.png, uploaded from the page, is
// stored under her folder as name with the bytes, type and metadata of
// data.
func (p *page) storedPNG(name string, data []byte) {
	t := p.t
	t.Helper()
	if !strings.HasPrefix(name, "users/alice/") || !strings.HasSuffix(name, ".png") {
		t.Errorf("blob name %q", name)
	}
	got, err := p.download(name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored blob differs (%d bytes, %v)", len(got), err)
	}
	if ct, md := storedBlob(t, p.env.dev.Storage.Client(), "uploads", name); ct != "image/png" || md["qqfilename"] != "pic.png" || md["blobvalet_owner"] != "alice" {
		t.Errorf("content type %q, metadata %v", ct, md)
	}
}

func (p *page) gone(name string) bool {
	_, err := p.env.dev.Storage.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
	return bloberror.HasCode(err, bloberror.BlobNotFound)
}

// staged reports whether user's staging blob for the final name exists,
// committed or not.
func (p *page) staged(user, name string) bool {
	p.t.Helper()
	ref := blobref.Ref{Container: "incoming", Name: blobref.Name(staged(user, "uploads", name))}
	busy, err := azstore.Store{Client: p.env.dev.Storage.Client()}.InProgress(context.Background(), ref)
	if err != nil {
		p.t.Fatal(err)
	}
	return busy
}
