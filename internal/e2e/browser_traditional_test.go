package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	azstore "github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/traditional"
)

// The Fine Uploader traditional browser tests run the real fine-uploader
// 5.16.2 traditional build (the package's fine-uploader/ directory) in
// Chromium against "blobvalet dev", through the demo page with
// ?client=traditional, and check what ends up in storage. The dev stack's
// upload hook (devUploadHook) lets a test see, fail or hold each part of
// its own file, by file name.

// tradHooks holds each test's hook by the file name it watches.
var tradHooks sync.Map

// devUploadHook is the dev stack's upload hook: the hook of the test that
// watches the part's file, if any.
func devUploadHook(ctx context.Context, p traditional.Part) error {
	if h, ok := tradHooks.Load(p.FileName); ok {
		return h.(app.UploadHook)(ctx, p)
	}
	return nil
}

// partLog records the parts of one file that reach storage's door, and
// lets the test fail or hold them.
type partLog struct {
	mu    sync.Mutex
	parts []traditional.Part
	// decide, if set, is asked about each part (with its count of
	// arrivals so far, this one included).
	decide func(ctx context.Context, p traditional.Part, n int) error
}

// watchParts logs the parts of the test's file name.
func watchParts(t *testing.T, name string) *partLog {
	l := &partLog{}
	tradHooks.Store(name, app.UploadHook(func(ctx context.Context, p traditional.Part) error {
		l.mu.Lock()
		l.parts = append(l.parts, p)
		n := 0
		for _, q := range l.parts {
			if q.Index == p.Index {
				n++
			}
		}
		decide := l.decide
		l.mu.Unlock()
		if decide != nil {
			return decide(ctx, p, n)
		}
		return nil
	}))
	t.Cleanup(func() { tradHooks.Delete(name) })
	return l
}

func (l *partLog) set(decide func(ctx context.Context, p traditional.Part, n int) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.decide = decide
}

func (l *partLog) all() []traditional.Part {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]traditional.Part(nil), l.parts...)
}

// count returns how often part i arrived.
func (l *partLog) count(i int) int {
	n := 0
	for _, p := range l.all() {
		if p.Index == i {
			n++
		}
	}
	return n
}

// openTraditional opens the demo page with Fine Uploader traditional.
func openTraditional(t *testing.T, query url.Values) *page {
	t.Helper()
	if query == nil {
		query = url.Values{}
	}
	query.Set("client", "traditional")
	p := openTab(t, 3*time.Minute)
	p.run(chromedp.Navigate(p.env.dev.URL + "/?" + query.Encode()))
	p.waitJS(`typeof window.demoUploader === "object"`)
	t.Cleanup(func() {
		if t.Failed() {
			var evs string
			chromedp.Run(p.ctx, chromedp.Evaluate(`JSON.stringify(window.demoEvents)`, &evs))
			t.Logf("page events: %s", evs)
		}
	})
	return p
}

// tradResult is the answer the page got for a verified file.
type tradResult struct {
	Success     bool   `json:"success"`
	Blob        string `json:"blob"`
	ContentType string `json:"contentType"`
	EventID     string `json:"eventId"`
	Error       string `json:"error"`
}

// complete waits for the file to end and wants it verified.
func (p *page) complete() (demoEvent, tradResult) {
	p.t.Helper()
	ev := p.waitEvent("complete", "failed")
	var res tradResult
	json.Unmarshal(ev.Detail, &res)
	if ev.Type != "complete" || !res.Success {
		p.t.Fatalf("upload failed: %s", ev.Detail)
	}
	return ev, res
}

func (p *page) uuidOf(id int) string {
	p.t.Helper()
	var u string
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoUploader.getUuid(%d)`, id), &u))
	return u
}

// stagingBlocks returns user's staging blob's uncommitted blocks for
// container/name; nil when there is no staging blob.
func (p *page) stagingBlocks(user, container, name string) []*blockblob.Block {
	p.t.Helper()
	bb := p.env.dev.Storage.Client().NewContainerClient("incoming").NewBlockBlobClient(staged(user, container, name))
	resp, err := bb.GetBlockList(context.Background(), blockblob.BlockListTypeAll, nil)
	if err != nil {
		return nil
	}
	return resp.UncommittedBlocks
}

// sleep waits in the page, so that the page's timers run.
func (p *page) sleep(d time.Duration) {
	p.waitJS(fmt.Sprintf(`new Promise(r => setTimeout(() => r(true), %d))`, d.Milliseconds()))
}

func TestBrowserTraditionalSimple(t *testing.T) {
	p := openTraditional(t, nil)
	parts := watchParts(t, "pic.png")
	data := testPNG(t)
	p.choose(writeFile(t, "pic.png", data))
	ev, res := p.complete()
	want := "users/alice/" + p.uuidOf(ev.ID) + ".png"
	if res.Blob != want || res.ContentType != "image/png" {
		t.Fatalf("answer %+v, want blob %s", res, want)
	}
	p.storedPNG(want, data)
	if got := parts.all(); len(got) != 1 || got[0].Chunked {
		t.Fatalf("%d requests (%+v), want one whole-file request", len(got), got)
	}
	if p.stagingBlocks("alice", "uploads", want) != nil {
		t.Fatal("staging blob left behind")
	}
}

func TestBrowserTraditionalChunked20MB(t *testing.T) {
	// The demo's uploads rule caps files at 10 MiB: alice (staff) may drop
	// anything into the shared container.
	p := openTraditional(t, url.Values{"container": {"shared"}})
	parts := watchParts(t, "big.bin")
	data := randomBytes(20_000_000, 21)
	start := time.Now()
	p.choose(writeFile(t, "big.bin", data))
	ev, res := p.complete()
	t.Logf("20 MB through blobvalet, verified: %v", time.Since(start).Round(time.Millisecond))
	name := "users/alice/" + p.uuidOf(ev.ID) + ".bin"
	if res.Blob != name {
		t.Fatalf("blob %q, want %q", res.Blob, name)
	}
	got, err := p.downloadFrom("shared", name)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("SHA-256 of the promoted blob differs (%d bytes, %v)", len(got), err)
	}
	if p.stagingBlocks("alice", "shared", name) != nil {
		t.Fatal("staging blob left behind")
	}
	for i := range 5 {
		if parts.count(i) != 1 {
			t.Errorf("part %d arrived %d times", i, parts.count(i))
		}
	}
	// The event's id is the one stamped on the blob for the application.
	if _, md := storedBlob(t, p.env.dev.Storage.Client(), "shared", name); res.EventID == "" || md["blobvalet_event"] != res.EventID || md["qquuid"] != p.uuidOf(ev.ID) {
		t.Errorf("event %q, metadata %v", res.EventID, md)
	}
}

func TestBrowserTraditionalChunkRetried(t *testing.T) {
	p := openTraditional(t, url.Values{"partSize": {"1000000"}})
	parts := watchParts(t, "retry.txt")
	parts.set(func(_ context.Context, q traditional.Part, n int) error {
		if q.Index == 1 && n == 1 {
			return errs.E("test", errs.Unavailable, "storage hiccup")
		}
		return nil
	})
	data := bytes.Repeat([]byte("retry me once, then carry on\n"), 4_000_000/29+1)[:4_000_000]
	p.choose(writeFile(t, "retry.txt", data))
	ev, _ := p.complete()
	if parts.count(1) < 2 {
		t.Fatalf("part 1 arrived %d times, want a retry", parts.count(1))
	}
	got, err := p.download("users/alice/" + p.uuidOf(ev.ID) + ".txt")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored bytes differ (%d, %v)", len(got), err)
	}
}

func TestBrowserTraditionalResetAtDone(t *testing.T) {
	p := openTraditional(t, url.Values{"partSize": {"1000000"}})
	parts := watchParts(t, "reset.txt")
	data := bytes.Repeat([]byte("two parts, one lost\n"), 2_000_000/20)
	var name string
	var once sync.Once
	parts.set(func(_ context.Context, q traditional.Part, n int) error {
		if q.Index != 0 || n != 1 {
			return nil
		}
		// Part 1 is stored, then lost while part 0 arrives: committing
		// the staging blob empty discards its uncommitted blocks, and done
		// finds part 1 missing.
		once.Do(func() {
			name = "users/alice/" + q.UUID.String() + ".txt"
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if len(p.stagingBlocks("alice", "uploads", name)) > 0 {
					break
				}
			}
			bb := p.env.dev.Storage.Client().NewContainerClient("incoming").NewBlockBlobClient(staged("alice", "uploads", name))
			if _, err := bb.CommitBlockList(context.Background(), nil, nil); err != nil {
				t.Errorf("drop the staged blocks: %v", err)
			}
		})
		return nil
	})
	p.choose(writeFile(t, "reset.txt", data))
	ev, _ := p.complete()
	if parts.count(0) < 2 || parts.count(1) < 2 {
		t.Fatalf("parts sent %d and %d times; after reset both again", parts.count(0), parts.count(1))
	}
	got, err := p.download("users/alice/" + p.uuidOf(ev.ID) + ".txt")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored bytes differ (%d, %v)", len(got), err)
	}
}

func TestBrowserTraditionalRejected(t *testing.T) {
	p := openTraditional(t, nil)
	parts := watchParts(t, "evil.jpg")
	p.choose(writeFile(t, "evil.jpg", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")))
	ev := p.waitEvent("failed", "complete")
	if ev.Type != "failed" {
		t.Fatalf("HTML named .jpg was accepted: %s", ev.Detail)
	}
	const msg = "file content is text/html, not an allowed type"
	p.waitJS(fmt.Sprintf(`document.querySelector('.qq-file-id-%d .qq-upload-status-text-selector').textContent.includes(%q)`, ev.ID, msg))
	if name := "users/alice/" + p.uuidOf(ev.ID) + ".jpg"; !p.gone(name) {
		t.Fatalf("rejected blob %q is there", name)
	}
	p.sleep(2500 * time.Millisecond) // past the auto retry's delay
	if n := len(parts.all()); n != 1 {
		t.Fatalf("%d requests: a rejected file must not be retried", n)
	}
}

func TestBrowserTraditionalCancel(t *testing.T) {
	p := openTraditional(t, url.Values{"partSize": {"500000"}})
	parts := watchParts(t, "cancel.txt")
	release := make(chan struct{})
	parts.set(func(ctx context.Context, q traditional.Part, _ int) error {
		if q.Index >= 3 {
			select { // hold the later parts until the cancel
			case <-release:
			case <-ctx.Done():
			}
			return errs.E("test", errs.Unavailable, "held")
		}
		return nil
	})
	data := bytes.Repeat([]byte("cancel me\n"), 500_000)
	p.choose(writeFile(t, "cancel.txt", data))
	for deadline := time.Now().Add(60 * time.Second); parts.count(3)+parts.count(4)+parts.count(5) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the later parts never came")
		}
	}
	var id int
	p.run(chromedp.Evaluate(`window.demoEvents.find(e => e.type === "submitted").id`, &id))
	name := "users/alice/" + p.uuidOf(id) + ".txt"
	p.run(chromedp.Click(fmt.Sprintf(`.qq-file-id-%d .qq-upload-cancel-selector`, id), chromedp.ByQuery))
	p.waitEvent("cancel")
	close(release)
	before := len(parts.all())
	p.sleep(3 * time.Second)
	if n := len(parts.all()); n != before {
		t.Fatalf("%d requests after the cancel", n-before)
	}
	if !p.gone(name) {
		t.Fatal("a cancelled upload reached its final name")
	}
	if len(p.stagingBlocks("alice", "uploads", name)) == 0 {
		t.Fatal("no blocks in staging: the test did not cancel mid-file")
	}
	// Cancel tells the server nothing: the sweeper removes the blocks.
	sw := &staging.Sweeper{Container: "incoming", Store: azstore.Store{Client: p.env.dev.Storage.Client()}, Log: zap.NewNop()}
	if _, err := sw.Sweep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if p.stagingBlocks("alice", "uploads", name) != nil {
		t.Fatal("the cancelled upload's blocks survived the sweep")
	}
}

// fetchAs sends a request from the page as user, and returns the status.
func (p *page) fetchAs(user, method, path string) int {
	p.t.Helper()
	var status int
	p.run(chromedp.Evaluate(fmt.Sprintf(`fetch(%q, {method: %q, headers: {Authorization: "Bearer " + %q}}).then(r => r.status)`,
		path, method, p.env.dev.Tokens[user]), &status, func(ep *runtime.EvaluateParams) *runtime.EvaluateParams { return ep.WithAwaitPromise(true) }))
	return status
}

func TestBrowserTraditionalDelete(t *testing.T) {
	p := openTraditional(t, nil)
	p.choose(writeFile(t, "note.txt", []byte("delete me")))
	ev, res := p.complete()
	u := p.uuidOf(ev.ID)
	// Another user's delete of the same uuid: refused, nothing changed.
	if status := p.fetchAs("bob", "DELETE", "/upload/"+u); status != 404 {
		t.Fatalf("bob's delete: %d", status)
	}
	if p.gone(res.Blob) {
		t.Fatal("bob's delete removed alice's file")
	}
	p.run(chromedp.Click(fmt.Sprintf(`.qq-file-id-%d .qq-upload-delete-selector`, ev.ID), chromedp.ByQuery))
	if d := p.waitEvent("deleted", "deleteFailed"); d.Type != "deleted" {
		t.Fatal("delete failed in the page")
	}
	if !p.gone(res.Blob) {
		t.Fatal("blob still there after delete")
	}
}

// resumeRecord waits for Fine Uploader's resume record of a file.
func (p *page) resumeRecord(file string) {
	p.waitJS(fmt.Sprintf(`Object.keys(localStorage).some(k => k.startsWith("qqtraditionalresume5.0-" + %q))`, file))
}

// startHeld uploads a file in 1 MB parts with every part from held on
// held back, and waits until the earlier parts are stored and recorded
// for resume. It returns the uuid and the staging blob's final name.
func startHeld(t *testing.T, p *page, parts *partLog, path, file string, held int, release chan struct{}) (string, string) {
	t.Helper()
	parts.set(func(ctx context.Context, q traditional.Part, _ int) error {
		if q.Index >= held {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return errs.E("test", errs.Unavailable, "held")
		}
		return nil
	})
	p.choose(path)
	var u string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ps := parts.all(); len(ps) > 0 {
			u = ps[0].UUID.String()
			if len(p.stagingBlocks("alice", "uploads", "users/alice/"+u+".txt")) >= held && parts.count(held) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the first parts were not stored")
		}
	}
	p.resumeRecord(file)
	p.sleep(300 * time.Millisecond) // the last success's record
	return u, "users/alice/" + u + ".txt"
}

func TestBrowserTraditionalResumeAfterReload(t *testing.T) {
	p := openTraditional(t, url.Values{"partSize": {"1000000"}})
	const file = "resume.txt"
	parts := watchParts(t, file)
	data := bytes.Repeat([]byte("resumed across a reload\n"), 8_000_000/24)
	path := writeFile(t, file, data)
	release := make(chan struct{})
	u, name := startHeld(t, p, parts, path, file, 4, release)
	p.run(chromedp.Reload())
	p.waitJS(`typeof window.demoUploader === "object"`)
	close(release)
	first := len(parts.all())
	parts.set(nil)
	p.choose(path)
	_, res := p.complete()
	if res.Blob != name {
		t.Fatalf("blob %q, want %q (the same uuid)", res.Blob, name)
	}
	second := parts.all()[first:]
	if len(second) == 0 || second[0].UUID.String() != u || !second[0].Resume {
		t.Fatalf("first request after the reload: %+v; want uuid %s with qqresume", second, u)
	}
	for _, q := range second {
		if q.Index < 4 {
			t.Errorf("part %d sent again after the reload", q.Index)
		}
	}
	got, err := p.download(name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored bytes differ (%d, %v)", len(got), err)
	}
}

func TestBrowserTraditionalResumeAfterSweep(t *testing.T) {
	p := openTraditional(t, url.Values{"partSize": {"1000000"}})
	const file = "swept.txt"
	parts := watchParts(t, file)
	data := bytes.Repeat([]byte("resumed after the sweeper\n"), 6_000_000/26)
	path := writeFile(t, file, data)
	release := make(chan struct{})
	_, name := startHeld(t, p, parts, path, file, 3, release)
	p.run(chromedp.Reload())
	p.waitJS(`typeof window.demoUploader === "object"`)
	close(release)
	// Azurite 3.37 keeps a deleted blob's uncommitted blocks and lists them
	// again once a block is staged under the same name; Azure does not.
	// An empty commit discards them first, as the sweep's delete does on
	// Azure.
	bb := p.env.dev.Storage.Client().NewContainerClient("incoming").NewBlockBlobClient(staged("alice", "uploads", name))
	if _, err := bb.CommitBlockList(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	sw := &staging.Sweeper{Container: "incoming", Store: azstore.Store{Client: p.env.dev.Storage.Client()}, Log: zap.NewNop()}
	if _, err := sw.Sweep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if p.stagingBlocks("alice", "uploads", name) != nil {
		t.Fatal("the sweep left the blocks")
	}
	first := len(parts.all())
	parts.set(nil)
	p.choose(path)
	_, res := p.complete()
	if res.Blob != name {
		t.Fatalf("blob %q, want %q", res.Blob, name)
	}
	again := map[int]bool{}
	for _, q := range parts.all()[first:] {
		again[q.Index] = true
	}
	if !again[0] || !again[1] || !again[2] {
		t.Fatalf("after the reset parts %v were sent; want all from part 0", again)
	}
	got, err := p.download(name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored bytes differ (%d, %v)", len(got), err)
	}
}

func TestBrowserTraditionalRawBody(t *testing.T) {
	p := openTraditional(t, url.Values{"raw": {"on"}, "partSize": {"2000000"}})
	parts := watchParts(t, "raw body.txt")
	data := bytes.Repeat([]byte("raw body, params in the query\n"), 5_000_000/30)
	p.choose(writeFile(t, "raw body.txt", data))
	ev, _ := p.complete()
	if ps := parts.all(); len(ps) != 3 || ps[0].FileName != "raw body.txt" {
		t.Fatalf("parts %+v", ps)
	}
	got, err := p.download("users/alice/" + p.uuidOf(ev.ID) + ".txt")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored bytes differ (%d, %v)", len(got), err)
	}
}

func TestBrowserTraditionalLimits(t *testing.T) {
	// More parts than Azure commits: refused on the first part, not retried.
	p := openTraditional(t, url.Values{"partSize": {"1"}})
	p.choose(writeFile(t, "many.txt", bytes.Repeat([]byte("x"), 50_001)))
	ev := p.waitEvent("failed", "complete")
	if ev.Type != "failed" {
		t.Fatalf("50,001 parts accepted: %s", ev.Detail)
	}
	p.waitJS(fmt.Sprintf(`document.querySelector('.qq-file-id-%d .qq-upload-status-text-selector').textContent.includes("raise chunking.partSize")`, ev.ID))
	if bl := p.stagingBlocks("alice", "uploads", "users/alice/"+p.uuidOf(ev.ID)+".txt"); bl != nil {
		t.Fatalf("%d blocks stored for a refused file", len(bl))
	}
	// Larger than the rule's max_size: refused before a byte is stored.
	q := openTraditional(t, url.Values{"partSize": {"200000"}})
	q.choose(writeFile(t, "toolarge.txt", bytes.Repeat([]byte("y"), 11_000_000)))
	ev = q.waitEvent("failed", "complete")
	if ev.Type != "failed" {
		t.Fatalf("a file over max_size was accepted: %s", ev.Detail)
	}
	if bl := q.stagingBlocks("alice", "uploads", "users/alice/"+q.uuidOf(ev.ID)+".txt"); bl != nil {
		t.Fatalf("%d blocks stored for a file over max_size", len(bl))
	}
}
