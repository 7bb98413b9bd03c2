package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/internal/app"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// refusedUpload uploads body as alice's users/alice/<name> with the extra
// headers and expects /success to refuse it with 422 naming want, and
// nothing left in staging or at the final name.
func (s *stack) refusedUpload(t *testing.T, name, contentType string, headers map[string]string, body []byte, want string) {
	t.Helper()
	name = "users/alice/" + name
	hdr := putBlobHeaders(contentType, name[strings.LastIndex(name, "/")+1:])
	for k, v := range headers {
		hdr[k] = v
	}
	if code := browser(t, "PUT", s.mustSAS(t, aliceToken, "PUT", "uploads", name), hdr, body); code != 201 {
		t.Fatalf("Put Blob = %d", code)
	}
	code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
	if code != 422 || ans["preventRetry"] != true || !strings.Contains(ans["error"].(string), want) {
		t.Fatalf("answer %d %v, want 422 %q", code, ans, want)
	}
	if s.exists(t, "uploads", name) || s.exists(t, "incoming", staged("alice", "uploads", name)) {
		t.Fatal("refused upload not removed")
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestContentEncodingRefused: a blob stored with Content-Encoding: gzip is
// refused, whatever its bytes are, instead of being inflated on the way to
// the check (gzip of a PNG passed as a PNG) or failing to inflate (503
// forever).
func TestContentEncodingRefused(t *testing.T) {
	s := newStack(t, nil)
	gz := map[string]string{"x-ms-blob-content-encoding": "gzip"}
	t.Run("gzip of a PNG", func(t *testing.T) {
		s.refusedUpload(t, "packed.png", "image/png", gz, gzipped(t, pngBytes), `Content-Encoding (this one has "gzip")`)
	})
	t.Run("not gzip, labelled gzip", func(t *testing.T) {
		s.refusedUpload(t, "liar.png", "image/png", gz, pngBytes, `Content-Encoding (this one has "gzip")`)
	})
}

// TestDeclaredTypeIsOneMediaType: "image/x-foo, text/html" is not one
// media type (a browser reads it as text/html), so it does not pass
// image/*, and is not stored.
func TestDeclaredTypeIsOneMediaType(t *testing.T) {
	s := newStack(t, nil)
	s.refusedUpload(t, "list.png", "image/x-foo, text/html", nil, []byte{0, 1, 2, 3}, "is not one media type")
	s.refusedUpload(t, "brace.png", "image/x{foo}", nil, []byte{0, 1, 2, 3}, "is not one media type")
}

// refusableTransport sends requests on to storage, and once refuse is set,
// with a signature that does not match, so that storage itself answers 403
// as it does to a rotated key.
type refusableTransport struct{ refuse *atomic.Bool }

func (f refusableTransport) Do(r *http.Request) (*http.Response, error) {
	if f.refuse.Load() && r.Header.Get("Authorization") != "" {
		r.Header.Set("Authorization", "SharedKey "+azurite.WellKnownAccount+":"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32)))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestStorageRefusalReported: when storage refuses blobvalet's key, the
// caller is not told that storage is not answering, and the log and
// /readyz say 403 with storage's error code.
func TestStorageRefusalReported(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	var refuse atomic.Bool
	var logs syncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
	s := startStack(t, az, testConfig(az), app.Options{Log: log, Client: &service.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: refusableTransport{&refuse},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}})
	name := "users/alice/rotated.png"
	s.uploadAsBrowser(t, aliceToken, "uploads", name, "image/png", pngBytes) // the SAS was signed before the key changed
	refuse.Store(true)

	t.Run("upload success", func(t *testing.T) {
		code, ans := s.reportSuccess(t, aliceToken, "uploads", name)
		msg, _ := ans["error"].(string)
		if code != 503 || strings.Contains(msg, "not answering") || ans["preventRetry"] != nil {
			t.Errorf("answer %d %v, want a retryable 503 that does not blame the network", code, ans)
		}
		out := logs.String()
		if !strings.Contains(out, `"storage_status":403`) || !strings.Contains(out, `"storage_code":"Authorization`) ||
			!strings.Contains(out, "storage refused blobvalet's credentials: 403 Authorization") {
			t.Errorf("log does not say storage refused the key with 403 and its code:\n%s", out)
		}
		if strings.Contains(out, az.Key()) || strings.Contains(out, "sig=") {
			t.Error("the log holds a key or a signature")
		}
	})

	t.Run("readiness", func(t *testing.T) {
		s.app.Refresh(context.Background())
		p := readinessPart(s.app, "verifying")
		if p == nil || !strings.Contains(p.Problem, "storage refused blobvalet's credentials: 403 Authorization") || strings.Contains(p.Problem, "\n") {
			t.Errorf("readiness says %+v, want the refusal with 403 and its code, in one line", p)
		}
	})
}
