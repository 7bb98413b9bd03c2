package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/internal/app"
)

// staged returns user's staging blob name for container/name.
func staged(user, container, name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(user)) + "/" + container + "/" + name
}

func (s *stack) blobURI(container, name string) string {
	return s.az.Endpoint() + "/" + container + "/" + name
}

// signature asks /sas exactly as Fine Uploader does and returns the status
// and body.
func (s *stack) signature(t testing.TB, token, method, bloburi string) (int, string) {
	t.Helper()
	q := "bloburi=" + strings.ReplaceAll(url.QueryEscape(bloburi), "%20", "+") + "&_method=" + method + "&qqtimestamp=1700000000000"
	hdr := map[string]string{"Accept": "application/json"}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	code, body := s.send(t, "GET", "/sas?"+q, nil, hdr)
	return code, string(body)
}

func (s *stack) mustSAS(t testing.TB, token, method, container, name string) string {
	t.Helper()
	code, body := s.signature(t, token, method, s.blobURI(container, name))
	if code != 200 {
		t.Fatalf("/sas %s %s/%s = %d %q", method, container, name, code, body)
	}
	return body
}

// browser sends a request to Azure the way Fine Uploader's XHR does: no
// x-ms-version, the SAS URI as given plus what the client appends.
func browser(t *testing.T, method, uri string, headers map[string]string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, uri, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func putBlobHeaders(contentType, filename string) map[string]string {
	return map[string]string{
		"x-ms-blob-type":       "BlockBlob",
		"Content-Type":         contentType,
		"x-ms-meta-qqfilename": url.PathEscape(filename),
	}
}

func (s *stack) download(t *testing.T, container, name string) ([]byte, error) {
	t.Helper()
	resp, err := s.az.Client().NewContainerClient(container).NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func TestSASAgainstAzurite(t *testing.T) {
	s := newStack(t, nil)

	t.Run("an upload goes to the uploader's staging blob", func(t *testing.T) {
		name := "users/alice/a b#c?d%e+ü.txt"
		uri := s.mustSAS(t, aliceToken, "PUT", "uploads", name)
		if !strings.HasPrefix(uri, s.az.Endpoint()+"/incoming/") {
			t.Fatalf("PUT SAS %q is not in the staging container", uri[:strings.Index(uri, "?")])
		}
		if code := browser(t, "PUT", uri, putBlobHeaders("text/plain", "a b#c?d%e+ü.txt"), []byte("hello")); code != 201 {
			t.Fatalf("Put Blob = %d", code)
		}
		if got, err := s.download(t, "incoming", staged("alice", "uploads", name)); err != nil || string(got) != "hello" {
			t.Fatalf("staged %q, %v", got, err)
		}
		if s.exists(t, "uploads", name) {
			t.Fatal("an unverified upload is at its final name")
		}
		if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
			t.Fatalf("success: %d %v", code, ans)
		}
		got, err := s.download(t, "uploads", name)
		if err != nil || string(got) != "hello" {
			t.Fatalf("final blob %q, %v", got, err)
		}
		props, err := s.az.Client().NewContainerClient("uploads").NewBlobClient(name).GetProperties(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if *props.ContentType != "text/plain; charset=utf-8" || *props.ContentDisposition != "inline" {
			t.Errorf("content type %q, disposition %q", *props.ContentType, *props.ContentDisposition)
		}
		if s.exists(t, "incoming", staged("alice", "uploads", name)) {
			t.Error("staging blob left after promotion")
		}
	})

	t.Run("chunked upload where overwrite is allowed", func(t *testing.T) {
		name := "big/file.bin"
		want := s.chunked(t, aliceToken, "shared", name, 2, "application/octet-stream")
		if s.exists(t, "shared", name) {
			t.Fatal("an unverified upload is at its final name")
		}
		if code, ans := s.reportSuccess(t, aliceToken, "shared", name); code != 200 {
			t.Fatalf("success: %d %v", code, ans)
		}
		if got, err := s.download(t, "shared", name); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("final blob differs: %d bytes, %v", len(got), err)
		}
		// Again over it: the rule allows replacing.
		want = s.chunked(t, aliceToken, "shared", name, 3, "application/octet-stream")
		if code, ans := s.reportSuccess(t, aliceToken, "shared", name); code != 200 {
			t.Fatalf("second success: %d %v", code, ans)
		}
		if got, err := s.download(t, "shared", name); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("replaced blob differs: %d bytes, %v", len(got), err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		name := "users/alice/gone.txt"
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "text/plain", []byte("x"))
		if code, ans := s.reportSuccess(t, aliceToken, "uploads", name); code != 200 {
			t.Fatalf("success: %d %v", code, ans)
		}
		uri := s.mustSAS(t, aliceToken, "DELETE", "uploads", name)
		if !strings.HasPrefix(uri, s.az.Endpoint()+"/uploads/") {
			t.Fatalf("DELETE SAS %q is not for the final name", uri[:strings.Index(uri, "?")])
		}
		if code := browser(t, "DELETE", uri, nil, nil); code != 202 {
			t.Fatalf("Delete Blob = %d", code)
		}
		if s.exists(t, "uploads", name) {
			t.Fatal("blob still there")
		}
	})

	t.Run("cancel clean-up removes the upload, never the verified file", func(t *testing.T) {
		name := "reports/q3.bin"
		want := s.chunked(t, aliceToken, "shared", name, 1, "application/octet-stream")
		if code, ans := s.reportSuccess(t, aliceToken, "shared", name); code != 200 {
			t.Fatalf("success: %d %v", code, ans)
		}
		// A second upload to the name starts, sends a block, is cancelled.
		uri := s.mustSAS(t, aliceToken, "PUT", "shared", name)
		if code := browser(t, "PUT", uri+"&comp=block&blockid=MDAwMDA%3D", nil, []byte("partial")); code != 201 {
			t.Fatalf("Put Block = %d", code)
		}
		del := s.mustSAS(t, aliceToken, "DELETE", "shared", name) // staff-drop has no DELETE
		if !strings.HasPrefix(del, s.az.Endpoint()+"/incoming/") {
			t.Fatalf("cancel clean-up SAS %q is not for the staging blob", del[:strings.Index(del, "?")])
		}
		if code := browser(t, "DELETE", del, nil, nil); code != 202 {
			t.Fatalf("Delete Blob = %d", code)
		}
		if got, err := s.download(t, "shared", name); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("the verified file was touched: %d bytes, %v", len(got), err)
		}
		if code, _ := s.signature(t, aliceToken, "DELETE", s.blobURI("shared", name)); code != 403 {
			t.Errorf("DELETE with no upload in progress and no DELETE rule = %d, want 403", code)
		}
	})

	t.Run("a SAS is good for its blob and operation only", func(t *testing.T) {
		if code, body := s.signature(t, aliceToken, "PUT", s.blobURI("uploads", "users/bob/x.txt")); code != 403 || strings.Contains(body, "sig=") {
			t.Fatalf("/sas for bob's folder = %d %q", code, body)
		}
		uri := s.mustSAS(t, aliceToken, "PUT", "uploads", "users/alice/mine.txt")
		for _, moved := range []string{
			strings.Replace(uri, "users/alice/mine.txt", "users/bob/mine.txt", 1),
			strings.Replace(uri, staged("alice", "uploads", ""), staged("bob", "uploads", ""), 1),
			strings.Replace(uri, "/incoming/"+staged("alice", "uploads", "users/alice/mine.txt"), "/uploads/users/alice/mine.txt", 1),
		} {
			if code := browser(t, "PUT", moved, putBlobHeaders("text/plain", "mine.txt"), []byte("x")); code != 403 {
				t.Errorf("alice's SAS used on another blob = %d, want 403", code)
			}
		}
		if code := browser(t, "GET", uri, nil, nil); code != 403 {
			t.Errorf("reading with a PUT SAS = %d, want 403", code)
		}
		if code := browser(t, "DELETE", uri, nil, nil); code != 403 {
			t.Errorf("deleting with a PUT SAS = %d, want 403", code)
		}
		if s.exists(t, "uploads", "users/bob/mine.txt") || s.exists(t, "uploads", "users/alice/mine.txt") {
			t.Errorf("a final blob was written with a PUT SAS")
		}
	})

	t.Run("an expired SAS is refused", func(t *testing.T) {
		s.clockShift.Store(int64(-time.Hour))
		defer s.clockShift.Store(0)
		uri := s.mustSAS(t, aliceToken, "PUT", "uploads", "users/alice/late.txt")
		if code := browser(t, "PUT", uri, putBlobHeaders("text/plain", "late.txt"), []byte("x")); code != 403 {
			t.Errorf("expired SAS = %d, want 403", code)
		}
	})

	t.Run("a name too long to stage", func(t *testing.T) {
		name := "users/alice/" + strings.Repeat("x", 1000)
		if code, body := s.signature(t, aliceToken, "PUT", s.blobURI("uploads", name)); code != 400 || !strings.Contains(body, "too long to stage") {
			t.Fatalf("/sas = %d %q, want 400 saying why", code, body)
		}
	})
}

// chunked uploads n blocks of 1000 bytes to name as Fine Uploader does,
// with a fresh SAS for every request, and returns the bytes.
func (s *stack) chunked(t *testing.T, token, container, name string, n int, contentType string) []byte {
	t.Helper()
	var blocks []string
	var want []byte
	for i := range n {
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%05d", i))
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 1000)
		if !strings.HasPrefix(contentType, "text/") {
			chunk[0] = 0 // binary
		}
		uri := s.mustSAS(t, token, "PUT", container, name)
		if code := browser(t, "PUT", uri+"&comp=block&blockid="+url.QueryEscape(id), nil, chunk); code != 201 {
			t.Fatalf("Put Block %d = %d", i, code)
		}
		blocks = append(blocks, id)
		want = append(want, chunk...)
	}
	uri := s.mustSAS(t, token, "PUT", container, name)
	list := "<BlockList><Latest>" + strings.Join(blocks, "</Latest><Latest>") + "</Latest></BlockList>"
	hdr := map[string]string{"Content-Type": "text/plain", "x-ms-blob-content-type": contentType, "x-ms-meta-qqfilename": url.PathEscape(name[strings.LastIndex(name, "/")+1:])}
	if code := browser(t, "PUT", uri+"&comp=blocklist", hdr, []byte(list)); code != 201 {
		t.Fatalf("Put Block List = %d", code)
	}
	return want
}

// TestStartRefusesBadStorage checks that a wrong setup stops the server at
// start with a message that says what to fix.
func TestStartRefusesBadStorage(t *testing.T) {
	az := azuritetest.Start(t, "uploads")
	wrongKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64))
	tests := []struct {
		name, key, want string
	}{
		{"wrong key", wrongKey, "refused the key"},
		{"missing container", az.Key(), `container "shared", named by a rule, does not exist`},
		{"missing staging container", az.Key(), `staging container "incoming" does not exist in storage account devstoreaccount1: create it without public access`},
		{"public staging container", az.Key(), `staging container "incoming" allows public access (blob): unverified uploads must never be readable; make it private`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			switch tt.name {
			case "missing staging container":
				if err := az.CreateContainers(context.Background(), "shared"); err != nil {
					t.Fatal(err)
				}
			case "public staging container":
				_, err := az.Client().CreateContainer(context.Background(), "incoming", &container.CreateOptions{Access: to.Ptr(container.PublicAccessTypeBlob)})
				if err != nil {
					t.Fatal(err)
				}
			}
			setSecrets(t, az)
			t.Setenv("TEST_STORAGE_KEY", tt.key)
			cfg, err := config.Load(writeConfig(t, testConfig(az)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = app.New(context.Background(), cfg, app.Options{Log: zap.NewNop()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error leaks the key")
			}
		})
	}
}

// TestServeCommand runs "blobvalet serve" as a user would, with a config
// file, and checks it answers and stops on cancel.
func TestServeCommand(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	c := testConfig(az)
	c.Listen, c.AdminListen, c.Shutdown = "127.0.0.1:0", "127.0.0.1:0", &Shutdown{Drain: Duration(100 * time.Millisecond)}
	path := writeConfig(t, c)
	setSecrets(t, az)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--config", path}, io.Discard, &stderr) }()
	eventually(t, 20*time.Second, "serve to listen", func() bool { return strings.Contains(stderr.String(), `"listening"`) })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	for _, secret := range []string{az.Key(), aliceToken, bobToken} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatal("log leaks a secret")
		}
	}
}
