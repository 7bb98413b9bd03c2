package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	azstore "github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/staging"
)

// The Fine Uploader browser tests run the real Fine Uploader Azure in
// Chromium against "blobvalet dev" (see browser_test.go), and check what
// ends up in storage.

// openDemo opens the demo page with Fine Uploader.
func openDemo(t *testing.T, query url.Values) *page {
	t.Helper()
	p := openTab(t, 2*time.Minute)
	p.run(chromedp.Navigate(p.env.dev.URL + "/?" + query.Encode()))
	p.waitJS(`typeof window.demoUploader === "object"`)
	return p
}

type demoEvent struct {
	Type   string          `json:"type"`
	ID     int             `json:"id"`
	Detail json.RawMessage `json:"detail"`
}

func (p *page) events() []demoEvent {
	p.t.Helper()
	var evs []demoEvent
	p.eventsIn("demoEvents", &evs)
	return evs
}

// waitEvent waits for an event of one of the types and returns it.
func (p *page) waitEvent(types ...string) demoEvent {
	p.t.Helper()
	var ev demoEvent
	p.waitEventIn("demoEvents", &ev, types...)
	return ev
}

// choose puts files into Fine Uploader's file input, as picking them does.
func (p *page) choose(paths ...string) {
	p.t.Helper()
	p.run(chromedp.SetUploadFiles(`.qq-upload-button-selector input[type=file]`, paths, chromedp.ByQuery))
}

// blobOf returns the name of the blob file id was uploaded to.
func (p *page) blobOf(id int) string {
	p.t.Helper()
	var name string
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoUploader.getBlobName(%d)`, id), &name))
	return name
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
	p.storedPNG(name, data)
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
	sw := &staging.Sweeper{Container: "incoming", Store: azstore.Store{Client: p.env.dev.Storage.Client()}, Log: zap.NewNop()}
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
