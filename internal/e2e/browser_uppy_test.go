package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The Uppy browser tests run the real Uppy (the uppy package's bundle from
// npm, with its Dashboard) and blobvalet's plugin in Chromium against
// "blobvalet dev", on the demo page switched to Uppy, and check storage.

// uppyPage is one browser tab on the demo page with the Uppy client.
type uppyPage struct {
	*page
	blocks *blockLog
}

// blockLog records the blocks storage accepted from the page (Put Block
// answered 201), by blob path and block id. Uploads go to the uploader's
// staging blob, which is gone once the upload is verified, so the page's own
// requests are where the blocks can be counted.
type blockLog struct {
	mu     sync.Mutex
	stored map[string]map[string]bool
}

func (b *blockLog) listen(ev any) {
	r, ok := ev.(*network.EventResponseReceived)
	if !ok || r.Response.Status != 201 || !strings.Contains(r.Response.URL, "comp=block&") {
		return
	}
	u, err := url.Parse(r.Response.URL)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stored[u.Path] == nil {
		b.stored[u.Path] = map[string]bool{}
	}
	b.stored[u.Path][u.Query().Get("blockid")] = true
}

// storedBlocks counts the distinct blocks stored for user's upload to
// container/name.
func (p uppyPage) storedBlocks(user, container, name string) int {
	p.blocks.mu.Lock()
	defer p.blocks.mu.Unlock()
	return len(p.blocks.stored["/"+p.env.dev.Storage.Account()+"/incoming/"+staged(user, container, name)])
}

func openUppy(t *testing.T, query url.Values) uppyPage {
	t.Helper()
	p := uppyPage{page: openTab(t, 3*time.Minute), blocks: &blockLog{stored: map[string]map[string]bool{}}}
	chromedp.ListenTarget(p.ctx, p.blocks.listen)
	p.run(network.Enable())
	if query == nil {
		query = url.Values{}
	}
	query.Set("client", "uppy")
	p.run(chromedp.Navigate(p.env.dev.URL + "/?" + query.Encode()))
	p.waitJS(`typeof window.demoUppy === "object"`)
	return p
}

type uppyEvent struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Detail json.RawMessage `json:"detail"`
}

func (p uppyPage) events() []uppyEvent {
	p.t.Helper()
	var evs []uppyEvent
	p.eventsIn("uppyEvents", &evs)
	return evs
}

// waitEvent waits for an event of one of the types and returns the first.
func (p uppyPage) waitEvent(types ...string) uppyEvent {
	p.t.Helper()
	var ev uppyEvent
	p.waitEventIn("uppyEvents", &ev, types...)
	return ev
}

// choose puts files into the Dashboard's file input, as picking them does.
func (p uppyPage) choose(paths ...string) {
	p.t.Helper()
	p.run(chromedp.SetUploadFiles(`#uppy input.uppy-Dashboard-input[name="files[]"]`, paths, chromedp.ByQuery))
}

// blobOf returns the name the page gave the blob of file id.
func (p uppyPage) blobOf(id string) string {
	p.t.Helper()
	var name string
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.uppyBlobNames[%q]`, id), &name))
	if name == "" {
		p.t.Fatalf("no blob name for file %s", id)
	}
	return name
}

// shownError waits until the Dashboard shows msg as file id's error.
func (p uppyPage) shownError(id, msg string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`(() => { const b = document.querySelector('#uppy_%s .uppy-Dashboard-Item-errorDetails');
		return !!b && b.getAttribute('aria-label').includes(%q); })()`, cssEscape(id), msg))
}

func cssEscape(id string) string {
	return strings.NewReplacer("/", `\\/`, ".", `\\.`, " ", `\\ `).Replace(id)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func TestUppyUploadImage(t *testing.T) {
	p := openUppy(t, nil)
	data := testPNG(t)
	p.choose(writeFile(t, "pic.png", data))
	ev := p.waitEvent("success", "error")
	if ev.Type != "success" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	name := p.blobOf(ev.ID)
	p.storedPNG(name, data)
	var resp struct {
		UploadURL    string `json:"uploadURL"`
		ThumbnailURL string `json:"thumbnailUrl"`
	}
	json.Unmarshal(ev.Detail, &resp)
	if want := p.env.dev.Storage.Endpoint() + "/uploads/" + name; resp.UploadURL != want {
		t.Errorf("uploadURL %q, want %q", resp.UploadURL, want)
	}
	if resp.ThumbnailURL == "" {
		t.Fatal("no thumbnailUrl in the answer")
	}
	// The server's thumbnail becomes the file's preview in the Dashboard, and it loads.
	p.waitJS(fmt.Sprintf(`(() => { const img = document.querySelector('#uppy_%s img.uppy-Dashboard-Item-previewImg');
		return window.demoUppy.getFile(%q).preview === %q && img && img.src === %q && img.complete && img.naturalWidth > 0; })()`,
		cssEscape(ev.ID), ev.ID, resp.ThumbnailURL, resp.ThumbnailURL))
}

func TestUppyChunkedUpload20MB(t *testing.T) {
	// The demo's uploads rule caps files at 10 MiB: alice (staff) may drop
	// anything into the shared container.
	p := openUppy(t, url.Values{"container": {"shared"}, "folder": {"big/"}})
	data := randomBytes(20_000_000, 20)
	p.choose(writeFile(t, "big.bin", data))
	start := time.Now()
	ev := p.waitEvent("success", "error")
	if ev.Type != "success" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	t.Logf("20 MB upload with verification took %v", time.Since(start).Round(time.Millisecond))
	name := p.blobOf(ev.ID)
	if !strings.HasPrefix(name, "big/") {
		t.Errorf("blob name %q", name)
	}
	if n := p.storedBlocks("alice", "shared", name); n != 5 {
		t.Errorf("%d blocks stored, want 5 (4 MiB blocks)", n)
	}
	got, err := p.downloadFrom("shared", name)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("SHA-256 of the committed blob differs (%d bytes)", len(got))
	}
	// Uppy counts it done.
	p.waitJS(fmt.Sprintf(`window.demoUppy.getFile(%q).progress.uploadComplete === true`, ev.ID))
}

func TestUppyBobCannotWriteIntoAlicesFolder(t *testing.T) {
	p := openUppy(t, url.Values{"user": {"bob"}, "folder": {"users/alice/"}})
	p.choose(writeFile(t, "intrude.txt", []byte("bob was here")))
	ev := p.waitEvent("error", "success")
	if ev.Type != "error" {
		t.Fatalf("bob's upload into alice's folder succeeded: %s", ev.Detail)
	}
	name := p.blobOf(ev.ID)
	if !strings.HasPrefix(name, "users/alice/") {
		t.Fatalf("the page named the blob %q", name)
	}
	p.shownError(ev.ID, "not allowed to upload to "+p.env.dev.Storage.Endpoint()+"/uploads/"+name+" (403)")
	if !p.gone(name) {
		t.Fatal("bob's blob was written under users/alice/")
	}
}

func TestUppyRejectedFile(t *testing.T) {
	p := openUppy(t, nil)
	p.choose(writeFile(t, "evil.jpg", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")))
	ev := p.waitEvent("error", "success")
	if ev.Type != "error" {
		t.Fatalf("HTML named .jpg was accepted: %s", ev.Detail)
	}
	const msg = "file content is text/html, not an allowed type"
	p.shownError(ev.ID, msg)
	if name := p.blobOf(ev.ID); !p.gone(name) {
		t.Fatalf("rejected blob %q is still there", name)
	}
}

func TestUppyCancelMidUpload(t *testing.T) {
	p := openUppy(t, nil)
	// Slow the tab's uploads so that the cancel lands mid-file.
	p.run(network.Enable(), network.EmulateNetworkConditions(false, 0, -1, 2<<20))
	data := bytes.Repeat([]byte("cancel me\n"), 950_000)
	p.choose(writeFile(t, "cancel.txt", data))
	id := p.waitEvent("added").ID
	name := p.blobOf(id)
	// Wait until storage holds a block of the file, then cancel everything.
	eventually(t, 30*time.Second, "a block in storage", func() bool { return p.uncommittedBlocks(name) > 0 })
	p.run(chromedp.Evaluate(`window.demoUppy.cancelAll()`, nil))
	p.waitEvent("removed")
	for _, e := range p.events() {
		if e.Type == "success" {
			t.Fatal("the upload completed before the cancel")
		}
	}
	// The plugin cleans up with a DELETE SAS: the stored blocks go too.
	eventually(t, 20*time.Second, "no uncommitted blocks of "+name+" left after cancel", func() bool { return p.uncommittedBlocks(name) == 0 })
	// Give a request that was still on its way time to land.
	time.Sleep(time.Second)
	if !p.gone(name) {
		t.Fatalf("a committed blob %q remains after cancel", name)
	}
}

// uncommittedBlocks counts the blocks stored for alice's upload to a name
// in uploads and not committed; 0 when there is no such upload.
func (p uppyPage) uncommittedBlocks(name string) int {
	p.t.Helper()
	bl, err := p.env.dev.Storage.Client().NewContainerClient("incoming").NewBlockBlobClient(staged("alice", "uploads", name)).
		GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return 0
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return len(bl.UncommittedBlocks)
}

func TestUppyRetriesAFailedBlock(t *testing.T) {
	p := openUppy(t, nil)
	// Fail the first Put Block of block 1 as a network failure would.
	var failed atomic.Int32
	chromedp.ListenTarget(p.ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			ctx := chromedp.FromContext(p.ctx)
			exec := cdp.WithExecutor(p.ctx, ctx.Target)
			if strings.Contains(e.Request.URL, "comp=block&blockid=MDAwMDE") && failed.Add(1) == 1 {
				fetch.FailRequest(e.RequestID, network.ErrorReasonConnectionReset).Do(exec)
				return
			}
			fetch.ContinueRequest(e.RequestID).Do(exec)
		}()
	})
	p.run(fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*comp=block*", RequestStage: fetch.RequestStageRequest}}))
	data := bytes.Repeat([]byte("blobvalet retry test line\n"), 9_000_000/26+1)[:9_000_000]
	p.choose(writeFile(t, "retry.txt", data))
	ev := p.waitEvent("success", "error")
	if ev.Type != "success" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	if n := failed.Load(); n < 2 {
		t.Fatalf("block 1 went %d times; the test wants it failed once and sent again", n)
	}
	name := p.blobOf(ev.ID)
	if n := p.storedBlocks("alice", "uploads", name); n != 3 {
		t.Errorf("%d blocks stored, want 3", n)
	}
	got, err := p.download(name)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("SHA-256 of the committed blob differs (%d bytes)", len(got))
	}
}

// TestUppyXHRUploadAlternative runs docs/clients/uppy.md's plugin-less setup (Uppy's
// own XHRUpload with a SAS from blobvalet as its endpoint) in the page.
func TestUppyXHRUploadAlternative(t *testing.T) {
	p := openUppy(t, nil)
	var token string
	p.run(chromedp.Evaluate(`document.getElementById("user").value`, &token))
	token = p.env.dev.Tokens[token]
	container := p.env.dev.Storage.Endpoint() + "/uploads"
	script := fmt.Sprintf(`(async () => {
		const { Uppy, XHRUpload } = await import('@uppy/core')
		const container = %q, token = %q, user = 'alice'
		const ext = (name) => (name.lastIndexOf('.') > 0 ? name.slice(name.lastIndexOf('.')) : '')
		const uppy = new Uppy()
		  .use(XHRUpload, {
		    endpoint: async (file) => {
		      const blob = 'users/' + user + '/' + crypto.randomUUID() + ext(file.name)
		      uppy.setFileMeta(file.id, { blob })
		      const res = await fetch('/sas?bloburi=' + encodeURIComponent(container + '/' + blob) + '&_method=PUT',
		        { headers: { Authorization: 'Bearer ' + token } })
		      if (!res.ok) throw new Error('blobvalet refused (' + res.status + '): ' + await res.text())
		      return res.text()
		    },
		    method: 'PUT',
		    formData: false,
		    headers: (file) => ({ 'x-ms-blob-type': 'BlockBlob', 'x-ms-meta-qqfilename': encodeURIComponent(file.name) }),
		    getResponseData: () => ({}),
		  })
		let verified
		uppy.on('upload-success', (file) => {
		  verified = fetch('/success', {
		    method: 'POST',
		    headers: { Authorization: 'Bearer ' + token },
		    body: new URLSearchParams({ blob: file.meta.blob, uuid: file.id, name: file.name, container }),
		  }).then((res) => res.json())
		})
		uppy.addFile({ name: 'plain ü.txt', type: 'text/plain', data: new Blob(['no plugin needed'], { type: 'text/plain' }) })
		const result = await uppy.upload()
		if (result.failed.length) return 'failed: ' + result.failed[0].error
		const answer = await verified
		if (!answer.success) return 'refused: ' + answer.error
		return container + '/' + answer.blob
	})()`, container, token)
	var uploadURL string
	p.run(chromedp.Evaluate(script, &uploadURL, func(ep *runtime.EvaluateParams) *runtime.EvaluateParams { return ep.WithAwaitPromise(true) }))
	name, ok := strings.CutPrefix(uploadURL, container+"/")
	if !ok {
		t.Fatalf("upload result %q", uploadURL)
	}
	got, err := p.download(name)
	if err != nil || string(got) != "no plugin needed" {
		t.Fatalf("blob %q: %q, %v", name, got, err)
	}
	if ct, md := storedBlob(t, p.env.dev.Storage.Client(), "uploads", name); ct != "text/plain; charset=utf-8" || md["blobvalet_owner"] != "alice" || md["qqfilename"] != url.PathEscape("plain ü.txt") {
		t.Errorf("content type %q, metadata %v", ct, md)
	}
}

func TestUppyPauseResumeKeepsStoredBlocks(t *testing.T) {
	p := openUppy(t, nil)
	var mu sync.Mutex
	sent := map[string]int{} // Put Block requests by block id
	chromedp.ListenTarget(p.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request.Method == "PUT" {
			if _, id, ok := strings.Cut(e.Request.URL, "comp=block&blockid="); ok {
				mu.Lock()
				sent[id]++
				mu.Unlock()
			}
		}
	})
	p.run(network.Enable(), network.EmulateNetworkConditions(false, 0, -1, 2<<20))
	data := bytes.Repeat([]byte("pause and resume\n"), 9_500_000/17)
	p.choose(writeFile(t, "pause.txt", data))
	id := p.waitEvent("added").ID
	name := p.blobOf(id)
	eventually(t, 30*time.Second, "a block in storage", func() bool { return p.uncommittedBlocks(name) > 0 })
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoUppy.pauseResume(%q)`, id), nil))
	bl, err := p.env.dev.Storage.Client().NewContainerClient("incoming").NewBlockBlobClient(staged("alice", "uploads", name)).
		GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	p.run(network.EmulateNetworkConditions(false, 0, -1, -1))
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoUppy.pauseResume(%q)`, id), nil))
	ev := p.waitEvent("success", "error")
	if ev.Type != "success" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	got, err := p.download(name)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("stored blob differs (%d bytes, %v)", len(got), err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bl.UncommittedBlocks {
		if n := sent[url.QueryEscape(*b.Name)]; n != 1 {
			t.Errorf("block %s, stored before the pause, was sent %d times", *b.Name, n)
		}
	}
	total := 0
	for _, n := range sent {
		total += n
	}
	if total <= 3 {
		t.Errorf("%d Put Block requests for 3 blocks: the pause stopped nothing in flight", total)
	}
	t.Logf("%d blocks stored before the pause; Put Block requests by id: %v", len(bl.UncommittedBlocks), sent)
}
