package success

import (
	"bytes"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobstore"
)

func TestVerifyRefusesATypeThatIsNotOne(t *testing.T) {
	c := authz.Constraints{ContentTypes: []string{"image/*"}}
	for _, ct := range []string{"image/x-foo, text/html", "image/png,text/html", "image", "image/x{a}", "image/png; a=b, text/html"} {
		_, v := Verify(c, "a.png", blobstore.Props{Size: 3, ContentType: ct}, []byte{0, 1, 2})
		if v == nil || v.Check != "content_type" || !strings.Contains(v.Message, "not one media type") {
			t.Errorf("%q: %+v, want content_type refused", ct, v)
		}
		// Without a content_types constraint too: the type would be stored.
		if _, v := Verify(authz.Constraints{}, "a.png", blobstore.Props{Size: 3, ContentType: ct}, []byte{0, 1, 2}); v == nil || v.Check != "content_type" {
			t.Errorf("%q without content_types: %+v, want content_type refused", ct, v)
		}
	}
	got, v := Verify(c, "a.png", blobstore.Props{Size: 3, ContentType: "Image/X-New; q=1"}, []byte{0, 1, 2})
	if v != nil || got.ContentType != "image/x-new" {
		t.Errorf("a well-formed type with a parameter: %+v %+v", got, v)
	}
}

func TestVerifyFindsMarkupPastTheFirst512Bytes(t *testing.T) {
	c := authz.Constraints{ContentTypes: []string{"image/*", "text/plain"}}
	text := bytes.Repeat([]byte("plain words. "), 600/13+1)
	head := append(text, "<html><script>alert(1)</script></html>"...)
	if _, v := Verify(c, "a.jpg", blobstore.Props{Size: int64(len(head)), ContentType: "image/jpeg"}, head); v == nil || !strings.Contains(v.Message, "file content is text/html") {
		t.Fatalf("HTML after 600 bytes of text: %+v", v)
	}
	far := append(bytes.Repeat([]byte("plain words. "), 7000/13), "<script>"...)
	if len(far) > sniffLen {
		t.Fatalf("test content of %d bytes is longer than what is read", len(far))
	}
	if _, v := Verify(c, "a.jpg", blobstore.Props{Size: int64(len(far)), ContentType: "image/jpeg"}, far); v == nil {
		t.Fatal("script at 7000 bytes passed")
	}
}
