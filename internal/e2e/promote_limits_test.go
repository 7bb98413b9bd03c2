package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// TestPageBlobRefused: a staging blob declared as a sparse 256 MiB page
// blob, with one page that starts like a PNG, made with the uploader's own
// SAS, is refused under a rule without max_size, removed from staging and
// never copied.
func TestPageBlobRefused(t *testing.T) {
	s := newStack(t, nil)
	name := "sparse.png"
	uri := s.mustSAS(t, aliceToken, "PUT", "shared", name)
	hdr := map[string]string{"x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": fmt.Sprint(256 << 20), "Content-Type": "image/png", "x-ms-version": "2021-12-02"}
	if code := browser(t, "PUT", uri, hdr, nil); code != 201 {
		t.Fatalf("Put Blob of a page blob with the upload SAS = %d", code)
	}
	page := append(append([]byte{}, pngBytes...), make([]byte, 512-len(pngBytes))...)
	if code := browser(t, "PUT", uri+"&comp=page", map[string]string{"x-ms-page-write": "update", "x-ms-range": "bytes=0-511", "x-ms-version": "2021-12-02"}, page); code != 201 {
		t.Fatalf("Put Page = %d", code)
	}
	code, ans := s.reportSuccess(t, aliceToken, "shared", name)
	if code != 422 || ans["preventRetry"] != true || !strings.Contains(fmt.Sprint(ans["error"]), "only block blobs") {
		t.Fatalf("success on a page blob: %d %v, want 422 preventRetry", code, ans)
	}
	if s.exists(t, "shared", name) {
		t.Fatal("the page blob was copied to its final name")
	}
	if s.exists(t, "incoming", staged("alice", "shared", name)) {
		t.Error("the refused page blob is left in staging")
	}
}

// TestDefaultMaxSize: a rule without max_size is held to
// success.default_max_size.
func TestDefaultMaxSize(t *testing.T) {
	s := newStack(t, func(c *Config) { c.Success = &Success{DefaultMaxSize: "1KiB"} })
	s.uploadAsBrowser(t, aliceToken, "shared", "big.txt", "text/plain", bytes.Repeat([]byte("a"), 1025))
	code, ans := s.reportSuccess(t, aliceToken, "shared", "big.txt")
	if code != 422 || ans["preventRetry"] != true || !strings.Contains(fmt.Sprint(ans["error"]), "the limit is 1 KiB") {
		t.Fatalf("over the default limit: %d %v, want 422", code, ans)
	}
	if s.exists(t, "shared", "big.txt") || s.exists(t, "incoming", staged("alice", "shared", "big.txt")) {
		t.Fatal("the upload over the default limit was kept")
	}
	s.uploadAsBrowser(t, aliceToken, "shared", "small.txt", "text/plain", bytes.Repeat([]byte("a"), 1024))
	if code, ans := s.reportSuccess(t, aliceToken, "shared", "small.txt"); code != 200 {
		t.Fatalf("at the default limit: %d %v", code, ans)
	}
}

// TestTakenNameNotCopiedTo: under overwrite: false, a second upload to a
// name that exists is refused without a block staged on the final blob.
func TestTakenNameNotCopiedTo(t *testing.T) {
	s := newStack(t, nil)
	name := "users/alice/once.txt"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "text/plain", []byte("first"))
	if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
		t.Fatalf("first: %d %v", code, ans)
	}
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "text/plain", []byte("second"))
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 409 || ans["preventRetry"] != true || !strings.Contains(fmt.Sprint(ans["error"]), "already exists and may not be replaced") {
		t.Fatalf("second: %d %v, want 409 taken", code, ans)
	}
	bl, err := s.az.Client().NewContainerClient("uploads").NewBlockBlobClient(name).GetBlockList(context.Background(), blockblob.BlockListTypeAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bl.UncommittedBlocks) != 0 {
		t.Errorf("%d uncommitted blocks staged on the existing final blob, want none", len(bl.UncommittedBlocks))
	}
	if got, err := s.download(t, "uploads", name); err != nil || string(got) != "first" {
		t.Fatalf("the first file changed: %q, %v", got, err)
	}
}
