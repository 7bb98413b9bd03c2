package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/traditional"
)

// The traditional endpoint's tests over HTTP, as Fine Uploader's
// requests look on the wire (../shared/PROTOCOL-traditional.md §1), on
// Azurite: what the browser tests check with the real client, plus what
// a browser cannot easily send.

// tradStack starts blobvalet with the upload endpoint on, uploads going to
// users/{user}/{uuid}{ext} in uploads, and hook as its test hook.
func tradStack(t testing.TB, edit func(*Config), hook app.UploadHook) *stack {
	t.Helper()
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	c := testConfig(az)
	c.Upload = &Upload{Enabled: true, Container: "uploads", MaxChunk: "2MiB"}
	if edit != nil {
		edit(&c)
	}
	return startStack(t, az, c, app.Options{UploadHook: hook})
}

// tradFile is one file as Fine Uploader sends it.
type tradFile struct {
	uuid, name string
	data       []byte
	partSize   int
	params     map[string]string
}

func newTradFile(name string, data []byte, partSize int) tradFile {
	return tradFile{uuid: newUUID(), name: name, data: data, partSize: partSize}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (f tradFile) parts() int { return (len(f.data) + f.partSize - 1) / f.partSize }

// chunkFields are part i's fields, in Fine Uploader's order.
func (f tradFile) chunkFields(i int, resume bool) [][2]string {
	var kv [][2]string
	for k, v := range f.params {
		kv = append(kv, [2]string{k, v})
	}
	end := min(len(f.data), (i+1)*f.partSize)
	kv = append(kv,
		[2]string{"qqpartindex", strconv.Itoa(i)}, [2]string{"qqpartbyteoffset", strconv.Itoa(i * f.partSize)},
		[2]string{"qqchunksize", strconv.Itoa(end - i*f.partSize)}, [2]string{"qqtotalparts", strconv.Itoa(f.parts())},
		[2]string{"qqtotalfilesize", strconv.Itoa(len(f.data))}, [2]string{"qqfilename", f.name})
	if resume {
		kv = append(kv, [2]string{"qqresume", "true"})
	}
	return append(kv, [2]string{"qquuid", f.uuid})
}

// multipartBody writes fields and then the file part.
func multipartBody(t *testing.T, fields [][2]string, fileName, fileType string, data []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, kv := range fields {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="qqfile"; filename=%q`, fileName))
	h.Set("Content-Type", fileType)
	pw, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(data)
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// tradAnswer is what blobvalet answers Fine Uploader.
type tradAnswer struct {
	Status       int
	Success      bool   `json:"success"`
	Error        string `json:"error"`
	PreventRetry bool   `json:"preventRetry"`
	Reset        bool   `json:"reset"`
	Blob         string `json:"blob"`
	ContentType  string `json:"contentType"`
	EventID      string `json:"eventId"`
	RetryAfter   string
}

func (s *stack) tradSend(t *testing.T, token, method, target, contentType string, body []byte) tradAnswer {
	t.Helper()
	r, err := http.NewRequest(method, s.url+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := tradAnswer{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %v", method, target, resp.StatusCode, err)
	}
	return a
}

// sendChunk sends part i of f as a multipart chunk.
func (s *stack) sendChunk(t *testing.T, token string, f tradFile, i int, resume bool) tradAnswer {
	t.Helper()
	end := min(len(f.data), (i+1)*f.partSize)
	ct, body := multipartBody(t, f.chunkFields(i, resume), "blob", "application/octet-stream", f.data[i*f.partSize:end])
	return s.tradSend(t, token, http.MethodPost, "/upload", ct, body)
}

// sendDone sends chunking.success for f.
func (s *stack) sendDone(t *testing.T, token string, f tradFile) tradAnswer {
	t.Helper()
	v := url.Values{"qquuid": {f.uuid}, "qqfilename": {f.name}, "qqtotalfilesize": {strconv.Itoa(len(f.data))}, "qqtotalparts": {strconv.Itoa(f.parts())}}
	return s.tradSend(t, token, http.MethodPost, "/upload/done", "application/x-www-form-urlencoded", []byte(v.Encode()))
}

// sendWhole sends f in one multipart request.
func (s *stack) sendWhole(t *testing.T, token string, f tradFile, fileType string) tradAnswer {
	t.Helper()
	fields := [][2]string{{"qquuid", f.uuid}, {"qqfilename", f.name}, {"qqtotalfilesize", strconv.Itoa(len(f.data))}}
	ct, body := multipartBody(t, fields, f.name, fileType, f.data)
	return s.tradSend(t, token, http.MethodPost, "/upload", ct, body)
}

// stored reads a blob, failing the test if it cannot.
func (s *stack) stored(t *testing.T, container, name string) []byte {
	t.Helper()
	data, err := s.download(t, container, name)
	if err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	return data
}

// stagedBlocks lists the blocks of user's staging blob for uploads/name.
func (s *stack) stagedBlocks(t *testing.T, user, name string) (blockblob.GetBlockListResponse, bool) {
	t.Helper()
	resp, err := s.az.Client().NewContainerClient("incoming").NewBlockBlobClient(staged(user, "uploads", name)).GetBlockList(context.Background(), blockblob.BlockListTypeAll, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return resp, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp, true
}

func text(n int) []byte {
	line := []byte("blobvalet traditional upload, streamed into staging\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

func TestTraditionalWholeFile(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("Cat Photo.PNG", testPNG(t), 0)
	a := s.sendWhole(t, aliceToken, f, "image/png")
	want := "users/alice/" + f.uuid + ".png"
	if a.Status != 200 || !a.Success || a.Blob != want || a.ContentType != "image/png" || a.EventID == "" {
		t.Fatalf("tradAnswer %+v", a)
	}
	if !bytes.Equal(s.stored(t, "uploads", want), f.data) {
		t.Fatal("stored bytes differ")
	}
	ct, md := storedBlob(t, s.az.Client(), "uploads", want)
	if ct != "image/png" || md["qquuid"] != f.uuid || md["qqfilename"] != url.PathEscape(f.name) || md["blobvalet_owner"] != "alice" {
		t.Errorf("type %q, metadata %v", ct, md)
	}
	if _, ok := s.stagedBlocks(t, "alice", want); ok {
		t.Error("staging blob left behind")
	}
}

func TestTraditionalChunkedOutOfOrderAndRepeated(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("notes.txt", text(900_000), 400_000)
	// Concurrent chunks arrive in any order, and an aborted one again.
	for _, i := range []int{2, 1, 0, 1} {
		if a := s.sendChunk(t, aliceToken, f, i, false); a.Status != 200 || !a.Success {
			t.Fatalf("part %d: %+v", i, a)
		}
	}
	name := "users/alice/" + f.uuid + ".txt"
	bl, ok := s.stagedBlocks(t, "alice", name)
	if !ok || len(bl.UncommittedBlocks) != 3 {
		t.Fatalf("staged blocks: %d (%v), want 3", len(bl.UncommittedBlocks), ok)
	}
	a := s.sendDone(t, aliceToken, f)
	if a.Status != 200 || !a.Success || a.Blob != name {
		t.Fatalf("done: %+v", a)
	}
	if sha256.Sum256(s.stored(t, "uploads", name)) != sha256.Sum256(f.data) {
		t.Fatal("SHA-256 differs")
	}
	if _, ok := s.stagedBlocks(t, "alice", name); ok {
		t.Error("staging blob left behind")
	}
	// A repeat (a retry, a proxy) gets the same tradAnswer from the stamp.
	b := s.sendDone(t, aliceToken, f)
	if b.Status != 200 || b.EventID != a.EventID {
		t.Fatalf("repeated done: %+v, first %+v", b, a)
	}
}

func TestTraditionalResetAtDone(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("notes.txt", text(900_000), 400_000)
	for _, i := range []int{0, 2} {
		s.sendChunk(t, aliceToken, f, i, false)
	}
	a := s.sendDone(t, aliceToken, f)
	if a.Status != http.StatusConflict || !a.Reset || !strings.Contains(a.Error, "part 1 is missing") {
		t.Fatalf("done with part 1 missing: %+v", a)
	}
	if s.exists(t, "uploads", "users/alice/"+f.uuid+".txt") {
		t.Fatal("a final blob without all its parts")
	}
	// Nothing at all: reset too, for a uuid never seen.
	g := newTradFile("ghost.txt", text(10), 5)
	if a := s.sendDone(t, aliceToken, g); a.Status != http.StatusNotFound || !a.Reset {
		t.Fatalf("done of nothing: %+v", a)
	}
}

func TestTraditionalResume(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("notes.txt", text(900_000), 400_000)
	s.sendChunk(t, aliceToken, f, 0, false)
	for _, i := range []int{2, 1} {
		if a := s.sendChunk(t, aliceToken, f, i, true); a.Status != 200 {
			t.Fatalf("resumed part %d: %+v", i, a)
		}
	}
	if a := s.sendDone(t, aliceToken, f); a.Status != 200 {
		t.Fatalf("done: %+v", a)
	}
	// A resume whose earlier parts are gone (swept): its parts are taken,
	// and done answers reset, so the client starts over from part 0.
	g := newTradFile("swept.txt", text(900_000), 400_000)
	for _, i := range []int{2, 1} {
		if a := s.sendChunk(t, aliceToken, g, i, true); a.Status != 200 {
			t.Fatalf("resumed part %d: %+v", i, a)
		}
	}
	if a := s.sendDone(t, aliceToken, g); a.Status != http.StatusConflict || !a.Reset || !strings.Contains(a.Error, "part 0 is missing") {
		t.Fatalf("done after the sweep: %+v", a)
	}
}

func TestTraditionalBodyNotAsAnnounced(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("notes.txt", text(300_000), 100_000)
	name := "users/alice/" + f.uuid + ".txt"
	for _, tc := range []struct {
		name string
		data []byte
	}{{"long", text(100_001)}, {"short", text(99_999)}} {
		ct, body := multipartBody(t, f.chunkFields(0, false), "blob", "application/octet-stream", tc.data)
		if a := s.tradSend(t, aliceToken, http.MethodPost, "/upload", ct, body); a.Status != http.StatusBadRequest || a.Success {
			t.Errorf("%s part: %+v", tc.name, a)
		}
		if bl, ok := s.stagedBlocks(t, "alice", name); ok && len(bl.UncommittedBlocks) > 0 {
			t.Fatalf("a %s part became a block", tc.name)
		}
	}
}

func TestTraditionalRawBody(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("raw ü.txt", text(250_000), 100_000)
	for i := range f.parts() {
		q := url.Values{}
		for _, kv := range f.chunkFields(i, false) {
			q.Add(kv[0], kv[1])
		}
		q.Set("qqfile", f.name)
		end := min(len(f.data), (i+1)*f.partSize)
		enc := strings.ReplaceAll(q.Encode(), "%20", "+")
		if a := s.tradSend(t, aliceToken, http.MethodPost, "/upload?"+enc, "application/octet-stream", f.data[i*f.partSize:end]); a.Status != 200 {
			t.Fatalf("raw part %d: %+v", i, a)
		}
	}
	if a := s.sendDone(t, aliceToken, f); a.Status != 200 {
		t.Fatalf("done: %+v", a)
	}
	if !bytes.Equal(s.stored(t, "uploads", "users/alice/"+f.uuid+".txt"), f.data) {
		t.Fatal("bytes differ")
	}
	// A whole file, raw: the size from Content-Length, the type from X-Mime-Type.
	g := newTradFile("pic.png", testPNG(t), 0)
	r, _ := http.NewRequest(http.MethodPost, s.url+"/upload?qquuid="+g.uuid+"&qqfilename=pic.png&qqfile=pic.png", bytes.NewReader(g.data))
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("X-Mime-Type", "image/png")
	resp, err := s.client.Do(r)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("raw whole file: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if ct, _ := storedBlob(t, s.az.Client(), "uploads", "users/alice/"+g.uuid+".png"); ct != "image/png" {
		t.Errorf("type %q", ct)
	}
}

func TestTraditionalRejected(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("cat.jpg", []byte("<!doctype html><html><script>alert(1)</script></html>"), 0)
	a := s.sendWhole(t, aliceToken, f, "image/jpeg")
	if a.Status != http.StatusUnprocessableEntity || !a.PreventRetry || a.Error == "" {
		t.Fatalf("tradAnswer %+v", a)
	}
	if s.exists(t, "uploads", "users/alice/"+f.uuid+".jpg") {
		t.Fatal("a rejected file reached its final name")
	}
}

func TestTraditionalDelete(t *testing.T) {
	s := tradStack(t, nil, nil)
	f := newTradFile("note.txt", []byte("delete me"), 0)
	if a := s.sendWhole(t, aliceToken, f, "text/plain"); a.Status != 200 {
		t.Fatalf("upload: %+v", a)
	}
	name := "users/alice/" + f.uuid + ".txt"
	if a := s.tradSend(t, bobToken, http.MethodDelete, "/upload/"+f.uuid, "", nil); a.Status != http.StatusNotFound {
		t.Fatalf("bob's delete of alice's file: %+v", a)
	}
	if !s.exists(t, "uploads", name) {
		t.Fatal("bob deleted alice's file")
	}
	if a := s.tradSend(t, aliceToken, http.MethodDelete, "/upload/"+f.uuid, "", nil); a.Status != 200 {
		t.Fatalf("delete: %+v", a)
	}
	if s.exists(t, "uploads", name) {
		t.Fatal("still there after delete")
	}
	// deleteFile.method POST, for a second file.
	g := newTradFile("note2.txt", []byte("delete me too"), 0)
	s.sendWhole(t, aliceToken, g, "text/plain")
	body := "qquuid=" + g.uuid + "&_method=DELETE"
	if a := s.tradSend(t, aliceToken, http.MethodPost, "/upload", "application/x-www-form-urlencoded", []byte(body)); a.Status != 200 || s.exists(t, "uploads", "users/alice/"+g.uuid+".txt") {
		t.Fatalf("POST delete: %+v", a)
	}
	if a := s.tradSend(t, aliceToken, http.MethodDelete, "/upload/not-a-uuid", "", nil); a.Status < 400 {
		t.Fatalf("bad uuid: %+v", a)
	}
}

func TestTraditionalLimits(t *testing.T) {
	hold := make(chan struct{})
	var held atomic.Int32
	s := tradStack(t, func(c *Config) { c.Upload.PerUser = 1 }, func(ctx context.Context, p traditional.Part) error {
		if p.FileName == "hold.txt" {
			held.Add(1)
			select {
			case <-hold:
			case <-ctx.Done():
			}
		}
		return nil
	})
	f := newTradFile("big.txt", text(3<<20), 3<<20)
	a := s.sendChunk(t, aliceToken, f, 0, false)
	if a.Status != http.StatusRequestEntityTooLarge || !a.PreventRetry || !strings.Contains(a.Error, "partSize") {
		t.Fatalf("chunk over max_chunk: %+v", a)
	}
	g := newTradFile("many.txt", text(50_001), 1)
	if a := s.sendChunk(t, aliceToken, g, 0, false); a.Status != http.StatusRequestEntityTooLarge || !strings.Contains(a.Error, "50000") {
		t.Fatalf("50,001 parts: %+v", a)
	}
	big := newTradFile("big.txt", text(2<<20), 0)
	if a := s.sendWhole(t, aliceToken, big, "text/plain"); a.Status != http.StatusRequestEntityTooLarge || !a.PreventRetry {
		t.Fatalf("over the rule's max_size: %+v", a)
	}
	for _, name := range []string{"many.txt", "big.txt"} {
		if bl, ok := s.stagedBlocks(t, "alice", "users/alice/"+g.uuid+".txt"); ok {
			t.Fatalf("%s stored %d blocks", name, len(bl.UncommittedBlocks))
		}
	}
	// One of alice's chunks in flight: her next one waits its turn; bob's goes.
	h := newTradFile("hold.txt", text(10), 10)
	done := make(chan tradAnswer)
	go func() { done <- s.sendChunk(t, aliceToken, h, 0, false) }()
	for held.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if a := s.sendChunk(t, aliceToken, newTradFile("next.txt", text(10), 10), 0, false); a.Status != http.StatusTooManyRequests || a.RetryAfter == "" {
		t.Fatalf("second chunk in flight: %+v", a)
	}
	if a := s.sendChunk(t, bobToken, newTradFile("bob.txt", text(10), 10), 0, false); a.Status != 200 {
		t.Fatalf("bob's chunk: %+v", a)
	}
	close(hold)
	if a := <-done; a.Status != 200 {
		t.Fatalf("held chunk: %+v", a)
	}
}
