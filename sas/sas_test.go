package sas

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

const testKey = azurite.WellKnownKey

func newSigner(t testing.TB, endpoint string, allowHTTP bool) *SharedKeySigner {
	t.Helper()
	r, err := blobref.NewResolver(endpoint, []string{"uploads"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSharedKeySigner(r, "acct", testKey, allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSign(t *testing.T) {
	s := newSigner(t, "https://acct.blob.core.windows.net", false)
	expiry := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	uri, err := s.Sign(blobref.Ref{Container: "uploads", Name: "users/alice/a b#c?d%e+ü.txt"}, blobstore.Upload, expiry)
	if err != nil {
		t.Fatal(err)
	}
	base, query, ok := strings.Cut(uri, "?")
	if !ok {
		t.Fatalf("no query in %q", uri)
	}
	if want := "https://acct.blob.core.windows.net/uploads/users/alice/a%20b%23c%3Fd%25e+%C3%BC.txt"; base != want {
		t.Errorf("base = %q, want %q", base, want)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"sr": "b", "sp": "w", "spr": "https", "se": "2030-01-02T03:04:05Z", "st": ""} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if q.Get("sig") == "" || q.Get("sv") == "" {
		t.Errorf("missing sig or sv in %q", query)
	}
	// Fine Uploader appends "&comp=block&blockid=…": the URI must end in the query.
	if strings.HasSuffix(uri, "&") || strings.Contains(base, "#") {
		t.Errorf("uri %q cannot take appended parameters", uri)
	}
}

func TestSignHTTPOnlyWhenAllowed(t *testing.T) {
	uri, err := newSigner(t, "http://127.0.0.1:10000/acct", true).Sign(blobref.Ref{Container: "uploads", Name: "x"}, blobstore.Delete, time.Now().Add(time.Minute))
	if err != nil || !strings.Contains(uri, "spr=https%2Chttp") {
		t.Errorf("uri %q, err %v: want spr=https,http", uri, err)
	}
}
