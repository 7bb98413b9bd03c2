package sas_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/sas"
)

// TestSharedKeySASAcceptedByAzurite uploads, as a browser does, with SAS
// URIs the signer made, including a name that every escaping rule touches,
// and reads the blob back.
func TestSharedKeySASAcceptedByAzurite(t *testing.T) {
	az := azuritetest.Start(t, "incoming")
	r, err := blobref.NewResolver(az.Endpoint(), []string{"incoming"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sas.NewSharedKeySigner(r, az.Account(), az.Key(), true)
	if err != nil {
		t.Fatal(err)
	}
	ref := blobref.Ref{Container: "incoming", Name: "users/alice/a b#c?d%e+ü;x,y=z&@$.txt"}
	put, err := s.Sign(ref, blobstore.Upload, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("uploaded with a SAS")
	req, _ := http.NewRequest(http.MethodPut, put, bytes.NewReader(body))
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	do(t, req, http.StatusCreated)

	get, err := s.Sign(ref, blobstore.Read, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, get, nil)
	if got := do(t, req, http.StatusOK); !bytes.Equal(got, body) {
		t.Errorf("read back %q, want %q", got, body)
	}

	// A SAS for another blob does not open this one.
	other, _ := s.Sign(blobref.Ref{Container: "incoming", Name: "users/alice/other"}, blobstore.Read, time.Now().Add(time.Minute))
	_, query, _ := strings.Cut(other, "?")
	base, _, _ := strings.Cut(get, "?")
	req, _ = http.NewRequest(http.MethodGet, base+"?"+query, nil)
	do(t, req, http.StatusForbidden)
}

// do sends req and returns the body, failing unless the status is want.
// The URL is not reported: it carries a signature.
func do(t *testing.T, req *http.Request, want int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s: %v", req.Method, strings.SplitN(err.Error(), "?", 2)[0])
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s: status %d, want %d: %.300s", req.Method, res.StatusCode, want, b)
	}
	return b
}
