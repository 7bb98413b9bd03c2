package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/staging"
)

// The browser tests run the real Fine Uploader Azure in a real Chromium
// against "blobvalet dev" (Azurite, the service and the demo page), and
// check what ends up in storage.

var (
	browserOnce sync.Once
	browserEnvV *browserEnv
	browserErr  error
)

type browserEnv struct {
	dev       *app.Dev
	stopDev   context.CancelFunc
	browser   context.Context
	stopChrom context.CancelFunc
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

// needBrowser starts, once for the whole package, the dev stack and a
// headless Chromium. Without Chromium the test skips, except in CI.
func needBrowser(t *testing.T) *browserEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Chromium and Azurite: skipped under -short")
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
	browserOnce.Do(func() {
		ctx, stop := context.WithCancel(context.Background())
		dev, err := app.StartDev(ctx, app.DevOptions{Listen: "127.0.0.1:0", Log: io.Discard})
		if err != nil {
			stop()
			browserErr = err
			return
		}
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
			stop()
			browserErr = fmt.Errorf("start chromium: %w", err)
			return
		}
		browserEnvV = &browserEnv{dev: dev, stopDev: stop, browser: browser, stopChrom: func() {
			stopBrowser()
			stopAlloc()
			os.RemoveAll(userData)
		}}
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

func openDemo(t *testing.T, query url.Values) *page {
	t.Helper()
	env := needBrowser(t)
	ctx, cancel := chromedp.NewContext(env.browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	p := &page{t: t, ctx: ctx, env: env}
	p.run(chromedp.Navigate(env.dev.URL + "/?" + query.Encode()))
	p.waitJS(`typeof window.demoUploader === "object"`)
	return p
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

type demoEvent struct {
	Type   string          `json:"type"`
	ID     int             `json:"id"`
	Detail json.RawMessage `json:"detail"`
}

func (p *page) events() []demoEvent {
	p.t.Helper()
	var raw string
	p.run(chromedp.Evaluate(`JSON.stringify(window.demoEvents)`, &raw))
	var evs []demoEvent
	json.Unmarshal([]byte(raw), &evs)
	return evs
}

// waitEvent waits for an event of one of the types and returns it.
func (p *page) waitEvent(types ...string) demoEvent {
	p.t.Helper()
	cond := make([]string, len(types))
	for i, ty := range types {
		cond[i] = fmt.Sprintf("e.type === %q", ty)
	}
	p.waitJS(`window.demoEvents.some(e => ` + strings.Join(cond, " || ") + `)`)
	for _, e := range p.events() {
		for _, ty := range types {
			if e.Type == ty {
				return e
			}
		}
	}
	p.t.Fatal("event vanished")
	return demoEvent{}
}

// choose puts files into Fine Uploader's file input, as picking them does.
func (p *page) choose(paths ...string) {
	p.t.Helper()
	p.run(chromedp.SetUploadFiles(`.qq-upload-button-selector input[type=file]`, paths, chromedp.ByQuery))
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

// blobOf returns the name of the blob file id was uploaded to.
func (p *page) blobOf(id int) string {
	p.t.Helper()
	var name string
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoUploader.getBlobName(%d)`, id), &name))
	return name
}

func (p *page) download(name string) ([]byte, error) {
	resp, err := p.env.dev.Storage.Client().NewContainerClient("uploads").NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
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
	busy, err := staging.Area{Client: p.env.dev.Storage.Client().NewContainerClient("incoming")}.InProgress(context.Background(), ref)
	if err != nil {
		p.t.Fatal(err)
	}
	return busy
}

func TestBrowserUploadPNG(t *testing.T) {
	p := openDemo(t, nil)
	data := testPNG(t)
	p.choose(writeFile(t, "pic.png", data))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	name := p.blobOf(ev.ID)
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
	var resp struct {
		ThumbnailURL string `json:"thumbnailUrl"`
	}
	json.Unmarshal(ev.Detail, &resp)
	if resp.ThumbnailURL == "" {
		t.Fatal("no thumbnailUrl in the answer")
	}
	// The page shows the server's thumbnail, and it loads.
	p.waitJS(fmt.Sprintf(`(() => { const img = document.querySelector('.qq-file-id-%d img.qq-thumbnail-selector');
		return img && img.src === %q && img.complete && img.naturalWidth === 64; })()`, ev.ID, resp.ThumbnailURL))
}

func TestBrowserChunkedUpload(t *testing.T) {
	p := openDemo(t, nil)
	data := bytes.Repeat([]byte("blobvalet chunked upload test line\n"), 10_000_000/35+1)[:10_000_000]
	p.choose(writeFile(t, "big.txt", data))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	chunks := 0
	for _, e := range p.events() {
		if e.Type == "chunk" && e.ID == ev.ID {
			chunks++
		}
	}
	if chunks != 3 {
		t.Errorf("%d chunks, want 3 (4,000,000-byte blocks)", chunks)
	}
	got, err := p.download(p.blobOf(ev.ID))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("SHA-256 of the committed blob differs (%d bytes)", len(got))
	}
}

func TestBrowserDelete(t *testing.T) {
	p := openDemo(t, nil)
	p.choose(writeFile(t, "note.txt", []byte("delete me")))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	name := p.blobOf(ev.ID)
	if p.gone(name) {
		t.Fatal("blob missing before delete")
	}
	p.run(chromedp.Click(fmt.Sprintf(`.qq-file-id-%d .qq-upload-delete-selector`, ev.ID), chromedp.ByQuery))
	if d := p.waitEvent("deleted", "deleteFailed"); d.Type != "deleted" {
		t.Fatal("delete failed in the page")
	}
	if !p.gone(name) {
		t.Fatal("blob still there after delete")
	}
}

func TestBrowserCancelChunked(t *testing.T) {
	p := openDemo(t, nil)
	// Slow the tab's uploads so that the cancel lands mid-file.
	p.run(network.Enable(), network.EmulateNetworkConditions(false, 0, -1, 4<<20))
	data := bytes.Repeat([]byte("x"), 24_000_000)
	p.choose(writeFile(t, "cancel.txt", data))
	ev := p.waitEvent("chunk")
	name := p.blobOf(ev.ID)
	p.run(chromedp.Click(fmt.Sprintf(`.qq-file-id-%d .qq-upload-cancel-selector`, ev.ID), chromedp.ByQuery))
	p.waitEvent("cancel")
	for _, e := range p.events() {
		if e.Type == "complete" {
			t.Fatal("the upload completed before the cancel")
		}
	}
	if !p.gone(name) {
		t.Fatalf("a committed blob %q remains after cancel", name)
	}
	// Fine Uploader's clean-up DELETE removes the blocks it had sent.
	p.waitJS(`new Promise(r => setTimeout(() => r(true), 500))`)
	if p.staged("alice", name) {
		t.Fatalf("the cancelled upload's blocks remain in staging")
	}
}

// TestBrowserPageWithoutSuccess: a page that never calls /success leaves
// nothing at the final name, and the sweeper removes what it uploaded.
func TestBrowserPageWithoutSuccess(t *testing.T) {
	p := openDemo(t, url.Values{"success": {"off"}})
	p.choose(writeFile(t, "unverified.png", testPNG(t)))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	name := p.blobOf(ev.ID)
	if !p.gone(name) {
		t.Fatalf("an upload that was never verified is at its final name %q", name)
	}
	if !p.staged("alice", name) {
		t.Fatal("the upload is not in staging")
	}
	sw := &staging.Sweeper{Client: p.env.dev.Storage.Client().NewContainerClient("incoming"), Log: zap.NewNop()}
	if _, err := sw.Sweep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if p.staged("alice", name) || !p.gone(name) {
		t.Fatal("the unverified upload survived the sweep")
	}
}

func TestBrowserBobCannotWriteIntoAlicesFolder(t *testing.T) {
	p := openDemo(t, url.Values{"user": {"bob"}, "folder": {"users/alice/"}})
	p.choose(writeFile(t, "intrude.txt", []byte("bob was here")))
	ev := p.waitEvent("failed", "complete")
	if ev.Type != "failed" {
		t.Fatalf("bob's upload into alice's folder succeeded: %s", ev.Detail)
	}
	name := p.blobOf(ev.ID)
	if !strings.HasPrefix(name, "users/alice/") {
		t.Fatalf("the page named the blob %q", name)
	}
	p.waitJS(fmt.Sprintf(`document.querySelector('.qq-file-id-%d').classList.contains('qq-upload-fail')`, ev.ID))
	if !p.gone(name) {
		t.Fatal("bob's blob was written under users/alice/")
	}
}

func TestBrowserRejectedFile(t *testing.T) {
	p := openDemo(t, nil)
	p.choose(writeFile(t, "evil.jpg", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")))
	ev := p.waitEvent("failed", "complete")
	if ev.Type != "failed" {
		t.Fatalf("HTML named .jpg was accepted: %s", ev.Detail)
	}
	const msg = "file content is text/html, not an allowed type"
	p.waitJS(fmt.Sprintf(`document.querySelector('.qq-file-id-%d .qq-upload-status-text-selector').textContent.includes(%q)`, ev.ID, msg))
	if name := p.blobOf(ev.ID); !p.gone(name) {
		t.Fatalf("rejected blob %q is still there", name)
	}
}

func TestBrowserRawFileName(t *testing.T) {
	p := openDemo(t, url.Values{"names": {"original"}})
	const file = "a b#c%d ü.txt"
	p.choose(writeFile(t, file, []byte("odd name")))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	got, err := p.download("users/alice/" + file)
	if err != nil || string(got) != "odd name" {
		t.Fatalf("no blob under exactly users/alice/%s: %v", file, err)
	}
}

// TestDemoScreenshot renders the demo page after an upload; with
// BLOBVALET_SCREENSHOT=path it writes the PNG there (docs/demo.png in the
// README is made this way).
func TestDemoScreenshot(t *testing.T) {
	p := openDemo(t, nil)
	p.choose(writeFile(t, "sunset.png", testPNG(t)), writeFile(t, "notes.txt", []byte("hello")), writeFile(t, "page.jpg", []byte("<html><script></script></html>")))
	p.waitJS(`window.demoEvents.filter(e => e.type === "complete" || e.type === "failed").length === 3`)
	p.waitJS(`Array.from(document.querySelectorAll('img.qq-thumbnail-selector')).every(i => i.complete)`)
	// The rejected file's card shows the whole message, clear of its close
	// button.
	var card struct {
		Text              string
		Clipped, Overlaps bool
	}
	p.run(chromedp.Evaluate(`(() => {
		const li = document.querySelector('li.qq-upload-fail');
		const status = li.querySelector('.qq-upload-status-text');
		const range = document.createRange();
		range.selectNodeContents(status);
		const text = range.getBoundingClientRect(), x = li.querySelector('.qq-upload-cancel').getBoundingClientRect();
		return {
			text: status.textContent,
			clipped: status.scrollHeight > status.clientHeight || status.scrollWidth > status.clientWidth || text.bottom > li.getBoundingClientRect().bottom,
			overlaps: Array.from(range.getClientRects()).some(r => r.left < x.right && r.right > x.left && r.top < x.bottom && r.bottom > x.top),
		};
	})()`, &card))
	if !strings.Contains(card.Text, "not an allowed type") || card.Clipped || card.Overlaps {
		t.Errorf("rejected card: %+v; want the whole message, clear of the close button", card)
	}
	var shot []byte
	p.run(chromedp.CaptureScreenshot(&shot))
	if len(shot) == 0 {
		t.Fatal("empty screenshot")
	}
	if out := os.Getenv("BLOBVALET_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
