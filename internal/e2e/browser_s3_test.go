package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
	"github.com/blobvalet/blobvalet/staging"
)

// The S3 browser tests run the real Fine Uploader S3 (signature v4, with
// a virtual-hosted endpoint) and Uppy's AWS S3 uploader in Chromium
// against "blobvalet dev --storage s3" (versitygw, which checks every
// signature and policy), and check what ends up in the staging and final
// buckets.

var (
	s3BrowserOnce sync.Once
	s3BrowserEnvV *browserEnv
	s3BrowserErr  error
)

// needS3Browser starts, once for the whole package, the dev stack on S3
// and the shared Chromium. Without Chromium or versitygw the test skips,
// except in CI.
func needS3Browser(t *testing.T) *browserEnv {
	t.Helper()
	chromium := needChromium(t)
	s3emutest.Require(t)
	s3BrowserOnce.Do(func() {
		browser, err := startChromium(chromium)
		if err != nil {
			s3BrowserErr = err
			return
		}
		ctx, stop := context.WithCancel(context.Background())
		dev, err := app.StartDev(ctx, app.DevOptions{Listen: "127.0.0.1:0", Log: io.Discard, Storage: app.StorageS3})
		if err != nil {
			stop()
			s3BrowserErr = err
			return
		}
		s3BrowserEnvV = &browserEnv{dev: dev, stopDev: stop, browser: browser}
	})
	if s3BrowserErr != nil {
		t.Fatal(s3BrowserErr)
	}
	return s3BrowserEnvV
}

// s3Page is a tab on the S3 demo page.
type s3Page struct{ *page }

// openS3 opens the S3 demo page with the query (client=uppy-s3 for Uppy).
func openS3(t *testing.T, query url.Values) s3Page {
	t.Helper()
	env := needS3Browser(t)
	ctx, cancel := chromedp.NewContext(env.browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	p := s3Page{&page{t: t, ctx: ctx, env: env}}
	p.run(chromedp.Navigate(env.dev.URL + "/?" + query.Encode()))
	p.waitJS(`typeof window.demoUploader === "object" || typeof window.demoUppy === "object"`)
	return p
}

// s3Event is an entry of the page's event log; ID is a Fine Uploader id
// (a number) or an Uppy file id (a string).
type s3Event struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id"`
	Detail json.RawMessage `json:"detail"`
}

func (p s3Page) waitEvent(types ...string) s3Event {
	p.t.Helper()
	var ev s3Event
	p.waitEventIn("demoEvents", &ev, types...)
	return ev
}

func (p s3Page) events() []s3Event {
	p.t.Helper()
	var evs []s3Event
	p.eventsIn("demoEvents", &evs)
	return evs
}

// chooseFU puts files into Fine Uploader's file input.
func (p s3Page) chooseFU(paths ...string) {
	p.t.Helper()
	p.run(chromedp.SetUploadFiles(`.qq-upload-button-selector input[type=file]`, paths, chromedp.ByQuery))
}

// chooseUppy puts files into Uppy's Dashboard file input.
func (p s3Page) chooseUppy(paths ...string) {
	p.t.Helper()
	p.run(chromedp.SetUploadFiles(`#uppy input.uppy-Dashboard-input[name="files[]"]`, paths, chromedp.ByQuery))
}

// nameOf returns the final name the page gave the file of the event.
func (p s3Page) nameOf(ev s3Event) string {
	p.t.Helper()
	var name string
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoNames[%s]`, ev.ID), &name))
	if !strings.HasPrefix(name, "users/alice/") {
		p.t.Fatalf("the page named the file %q", name)
	}
	return name
}

func (p s3Page) store() s3.Store { return s3.Store{Client: p.env.dev.S3.Client()} }

// object reads an object of a bucket of the dev stack; nil, false when it
// is not there.
func (p s3Page) object(bucket, key string) ([]byte, bool) {
	p.t.Helper()
	out, err := p.env.dev.S3.Client().GetObject(context.Background(), &s3sdk.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if errors.Is(s3.Wrap(err), blobstore.ErrNotFound) {
			return nil, false
		}
		p.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return b, true
}

// final reads alice's file at its final name in uploads.
func (p s3Page) final(name string) ([]byte, bool) { return p.object("uploads", name) }

// stagedS3 reports whether alice's staging object or incomplete multipart
// upload for the final name exists.
func (p s3Page) stagedS3(name string) bool {
	p.t.Helper()
	ref := blobref.Ref{Container: "incoming", Name: blobref.Name(staged("alice", "uploads", name))}
	busy, err := p.store().InProgress(context.Background(), ref)
	if err != nil {
		p.t.Fatal(err)
	}
	if busy {
		return true
	}
	_, there := p.object("incoming", string(ref.Name))
	return there
}

// exact fails unless the final object holds data, and nothing of it is
// left in staging.
func (p s3Page) exact(name string, data []byte) {
	p.t.Helper()
	got, ok := p.final(name)
	if !ok {
		p.t.Fatalf("nothing at the final name %q", name)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		p.t.Fatalf("the final object differs: %d bytes, want %d", len(got), len(data))
	}
	if p.stagedS3(name) {
		p.t.Errorf("the staging copy of %q remains after /success", name)
	}
}

// textOf returns n bytes of plain text.
func textOf(n int) []byte {
	return bytes.Repeat([]byte("blobvalet s3 browser test line\n"), n/31+1)[:n]
}

// chunks counts the chunk events of the file of ev.
func (p s3Page) chunks(ev s3Event) int {
	n := 0
	for _, e := range p.events() {
		if e.Type == "chunk" && bytes.Equal(e.ID, ev.ID) {
			n++
		}
	}
	return n
}

func TestBrowserS3FineUploaderSimple(t *testing.T) {
	p := openS3(t, nil)
	data := textOf(3000)
	p.chooseFU(writeFile(t, "note.txt", data))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	if n := p.chunks(ev); n != 0 {
		t.Errorf("%d chunks for a 3,000-byte file, want a simple POST", n)
	}
	p.exact(p.nameOf(ev), data)
}

func TestBrowserS3FineUploaderChunked(t *testing.T) {
	p := openS3(t, nil)
	data := textOf(7 << 20)
	p.chooseFU(writeFile(t, "big.txt", data))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	if n := p.chunks(ev); n != 2 {
		t.Errorf("%d chunks, want 2 (5 MiB parts)", n)
	}
	p.exact(p.nameOf(ev), data)
}

// uppyUpload uploads a file of data through Uppy and returns the events of
// the page, with the final name, once /success has answered.
func uppyUpload(t *testing.T, query url.Values, file string, data []byte) (s3Page, s3Event, string) {
	t.Helper()
	if query == nil {
		query = url.Values{}
	}
	query.Set("client", "uppy-s3")
	p := openS3(t, query)
	p.chooseUppy(writeFile(t, file, data))
	added := p.waitEvent("added")
	name := p.nameOf(added)
	ev := p.waitEvent("complete", "failed", "error")
	return p, ev, name
}

// signed lists the methods Uppy had signed, with "+id" for requests of a
// multipart upload.
func (p s3Page) signed() []string {
	var l []string
	for _, e := range p.events() {
		if e.Type != "sign" {
			continue
		}
		var d struct {
			Method   string `json:"method"`
			UploadID bool   `json:"uploadId"`
		}
		json.Unmarshal(e.Detail, &d)
		if d.UploadID {
			d.Method += "+id"
		}
		l = append(l, d.Method)
	}
	return l
}

func TestBrowserS3UppySmallPut(t *testing.T) {
	data := textOf(5000)
	p, ev, name := uppyUpload(t, nil, "small.txt", data)
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s %s", ev.Type, ev.Detail)
	}
	if got := strings.Join(p.signed(), ","); got != "PUT" {
		t.Errorf("signed %s, want one PUT", got)
	}
	p.exact(name, data)
}

func TestBrowserS3UppyMultipart(t *testing.T) {
	data := textOf(6<<20 + 12345)
	p, ev, name := uppyUpload(t, nil, "big.txt", data)
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s %s", ev.Type, ev.Detail)
	}
	if got := strings.Join(p.signed(), ","); got != "POST,PUT+id,PUT+id,POST+id" {
		t.Errorf("signed %s, want create, two parts, complete", got)
	}
	p.exact(name, data)
}

// TestBrowserS3WithoutSuccess: pages that never call /success leave their
// uploads in staging, nothing at the final name; /success then promotes
// them.
func TestBrowserS3WithoutSuccess(t *testing.T) {
	data := textOf(4000)
	t.Run("fine-uploader", func(t *testing.T) {
		p := openS3(t, url.Values{"success": {"off"}})
		p.chooseFU(writeFile(t, "unverified.txt", data))
		ev := p.waitEvent("complete", "failed")
		if ev.Type != "complete" {
			t.Fatalf("upload failed: %s", ev.Detail)
		}
		name := p.nameOf(ev)
		p.unverified(name, data)
	})
	t.Run("uppy", func(t *testing.T) {
		q := url.Values{"success": {"off"}, "client": {"uppy-s3"}}
		p := openS3(t, q)
		p.chooseUppy(writeFile(t, "unverified.txt", data))
		name := p.nameOf(p.waitEvent("added"))
		if ev := p.waitEvent("uploaded", "error"); ev.Type != "uploaded" {
			t.Fatalf("upload failed: %s", ev.Detail)
		}
		p.unverified(name, data)
	})
}

// unverified checks that name is staged and not final, then has /success
// verify it as a page would.
func (p s3Page) unverified(name string, data []byte) {
	t := p.t
	t.Helper()
	if _, there := p.final(name); there {
		t.Fatalf("an upload never verified is at its final name %q", name)
	}
	if !p.stagedS3(name) {
		t.Fatalf("the upload of %q is not in staging", name)
	}
	body, _ := json.Marshal(map[string]string{"key": staged("alice", "uploads", name)})
	req, _ := http.NewRequest("POST", p.env.dev.URL+"/success", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.env.dev.Tokens["alice"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/success = %d", resp.StatusCode)
	}
	p.exact(name, data)
}

const htmlAsJPEG = "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"

// TestBrowserS3Rejected: HTML named .jpg is refused at /success, removed
// from staging, and the page shows why.
func TestBrowserS3Rejected(t *testing.T) {
	const msg = "file content is text/html, not an allowed type"
	t.Run("fine-uploader", func(t *testing.T) {
		p := openS3(t, nil)
		p.chooseFU(writeFile(t, "evil.jpg", []byte(htmlAsJPEG)))
		ev := p.waitEvent("complete", "failed")
		if ev.Type != "failed" {
			t.Fatalf("HTML named .jpg was accepted: %s", ev.Detail)
		}
		p.waitJS(fmt.Sprintf(`document.querySelector('.qq-file-id-%s .qq-upload-status-text-selector').textContent.includes(%q)`, ev.ID, msg))
		p.rejected(p.nameOf(ev))
	})
	t.Run("uppy", func(t *testing.T) {
		p, ev, name := uppyUpload(t, nil, "evil.jpg", []byte(htmlAsJPEG))
		if ev.Type != "failed" {
			t.Fatalf("HTML named .jpg was accepted: %s %s", ev.Type, ev.Detail)
		}
		p.waitJS(fmt.Sprintf(`document.querySelector('#uppy .uppy-Informer') !== null && document.querySelector('#uppy .uppy-Informer').textContent.includes(%q)`, msg))
		p.rejected(name)
	})
}

func (p s3Page) rejected(name string) {
	p.t.Helper()
	if _, there := p.final(name); there {
		p.t.Fatalf("the rejected file is at its final name %q", name)
	}
	if p.stagedS3(name) {
		p.t.Fatalf("the rejected file %q remains in staging", name)
	}
}

// TestBrowserS3NoOverwrite: with overwrite: false, a second upload to a
// taken name is refused and the first file stays.
func TestBrowserS3NoOverwrite(t *testing.T) {
	file := fmt.Sprintf("taken-%d.txt", time.Now().UnixNano())
	first, second := []byte("the first file\n"), []byte("the second file\n")
	q := url.Values{"names": {"original"}}
	t.Run("fine-uploader", func(t *testing.T) {
		p := openS3(t, q)
		p.chooseFU(writeFile(t, file, first))
		if ev := p.waitEvent("complete", "failed"); ev.Type != "complete" {
			t.Fatalf("first upload failed: %s", ev.Detail)
		}
		p2 := openS3(t, q)
		p2.chooseFU(writeFile(t, file, second))
		ev := p2.waitEvent("complete", "failed")
		if ev.Type != "failed" {
			t.Fatalf("the second upload to a taken name was accepted: %s", ev.Detail)
		}
		p2.exact("users/alice/"+file, first)
	})
	t.Run("uppy", func(t *testing.T) {
		file := "uppy-" + file
		p, ev, name := uppyUpload(t, url.Values{"names": {"original"}}, file, first)
		if ev.Type != "complete" {
			t.Fatalf("first upload failed: %s", ev.Detail)
		}
		_, ev, _ = uppyUpload(t, url.Values{"names": {"original"}}, file, second)
		if ev.Type == "complete" {
			t.Fatalf("the second upload to a taken name was accepted: %s", ev.Detail)
		}
		p.exact(name, first)
	})
}

// TestBrowserS3Delete: Fine Uploader S3's delete removes alice's file
// (server-side: the page never deletes at storage); bob's delete of it is
// refused.
func TestBrowserS3Delete(t *testing.T) {
	p := openS3(t, nil)
	p.chooseFU(writeFile(t, "note.txt", []byte("delete me")))
	ev := p.waitEvent("complete", "failed")
	if ev.Type != "complete" {
		t.Fatalf("upload failed: %s", ev.Detail)
	}
	name := p.nameOf(ev)
	var uuid string
	p.run(chromedp.Evaluate(fmt.Sprintf(`window.demoUploader.getUuid(%s)`, ev.ID), &uuid))

	// bob sends what alice's page sends, with his token: not his upload;
	// then his own staging key for her file: no rule lets him.
	for _, c := range []struct {
		key, why string
		status   int
	}{
		{staged("alice", "uploads", name), "no upload of yours has this key", http.StatusNotFound},
		{staged("bob", "uploads", name), "you may not delete " + name, http.StatusForbidden},
	} {
		q := url.Values{"key": {c.key}, "bucket": {"incoming"}}
		req, _ := http.NewRequest("DELETE", p.env.dev.URL+"/s3/files/"+uuid+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+p.env.dev.Tokens["bob"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.why) {
			t.Errorf("bob's delete with key %s = %d %s, want %d %q", c.key, resp.StatusCode, body, c.status, c.why)
		}
	}
	if _, there := p.final(name); !there {
		t.Fatal("alice's file is gone after bob's deletes")
	}

	p.run(chromedp.Click(fmt.Sprintf(`.qq-file-id-%s .qq-upload-delete-selector`, ev.ID), chromedp.ByQuery))
	if d := p.waitEvent("deleted", "deleteFailed"); d.Type != "deleted" {
		t.Fatalf("delete failed in the page: %s", d.Detail)
	}
	if _, there := p.final(name); there {
		t.Fatal("the file is still there after delete")
	}
}

// TestBrowserS3SweeperAbortsMultipart: a chunked Fine Uploader upload
// cancelled mid-file (without resume, Fine Uploader sends no abort) leaves
// an incomplete multipart upload in staging; the sweeper aborts it.
func TestBrowserS3SweeperAbortsMultipart(t *testing.T) {
	p := openS3(t, nil)
	// Slow the tab's uploads so that the cancel lands mid-file.
	p.run(network.Enable(), network.EmulateNetworkConditions(false, 0, -1, 2<<20))
	p.chooseFU(writeFile(t, "abandoned.txt", textOf(9<<20)))
	ev := p.waitEvent("chunk")
	name := p.nameOf(ev)
	p.run(chromedp.Click(fmt.Sprintf(`.qq-file-id-%s .qq-upload-cancel-selector`, ev.ID), chromedp.ByQuery))
	p.waitEvent("cancel")
	for _, e := range p.events() {
		if e.Type == "complete" {
			t.Fatal("the upload completed before the cancel")
		}
	}
	if !p.stagedS3(name) {
		t.Fatal("no incomplete multipart upload in staging after the cancel")
	}
	sw := &staging.Sweeper{Container: "incoming", Store: p.store(), Log: zap.NewNop()}
	rep, err := sw.Sweep(context.Background(), 0)
	if err != nil || rep.Removed < 1 {
		t.Fatalf("sweep: %+v, %v; want the upload removed", rep, err)
	}
	if p.stagedS3(name) {
		t.Fatal("the abandoned multipart upload survived the sweep")
	}
	if _, there := p.final(name); there {
		t.Fatal("the abandoned upload is at its final name")
	}
}

// TestBrowserS3SignerOnlyWritesStaging: the key dev signs the browsers'
// requests with may only write objects in the staging bucket, so that a
// signature blobvalet should never have made (docs/storage-s3.md) still
// cannot read staging, copy a final file out, or rewrite the bucket's CORS.
func TestBrowserS3SignerOnlyWritesStaging(t *testing.T) {
	env := needS3Browser(t)
	ctx := context.Background()
	root := env.dev.S3.Client()
	if _, err := root.PutObject(ctx, &s3sdk.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("users/bob/private.txt"), Body: strings.NewReader("bob's")}); err != nil {
		t.Fatal(err)
	}
	k := env.dev.Cfg.Storage.S3Signer()
	signer := env.dev.S3.NewClient(k.AccessKeyID, k.SecretAccessKey)
	if _, err := signer.PutObject(ctx, &s3sdk.PutObjectInput{Bucket: aws.String("incoming"), Key: aws.String("x/signer.txt"), Body: strings.NewReader("ok")}); err != nil {
		t.Fatalf("the signer cannot write staging: %v", err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(s3.Wrap(err), blobstore.ErrRefused) {
			t.Errorf("the signer's %s: %v, want refused", what, err)
		}
	}
	_, err := signer.GetObject(ctx, &s3sdk.GetObjectInput{Bucket: aws.String("incoming"), Key: aws.String("x/signer.txt")})
	refused("read in staging", err)
	_, err = signer.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String("incoming"), Key: aws.String("x/signer.txt")})
	refused("delete in staging", err)
	_, err = signer.GetObject(ctx, &s3sdk.GetObjectInput{Bucket: aws.String("uploads"), Key: aws.String("users/bob/private.txt")})
	refused("read of a final file", err)
	_, err = signer.CopyObject(ctx, &s3sdk.CopyObjectInput{Bucket: aws.String("incoming"), Key: aws.String("x/copy.txt"), CopySource: aws.String("uploads/users/bob/private.txt")})
	refused("copy out of the final bucket", err)
	_, err = signer.PutBucketCors(ctx, &s3sdk.PutBucketCorsInput{Bucket: aws.String("incoming"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}}},
	}})
	refused("CORS rewrite", err)
	root.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String("incoming"), Key: aws.String("x/signer.txt")})
}
