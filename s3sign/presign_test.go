package s3sign_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/s3sign"
)

func TestParsePresign(t *testing.T) {
	for _, tc := range []struct {
		body string
		op   s3sign.Op
		kind errs.Kind // 0 with op set: accepted
	}{
		{`{"method":"PUT","key":"users/alice/small.txt"}`, s3sign.Put, 0},
		{`{"method":"POST","key":"users/alice/big.bin"}`, s3sign.Initiate, 0},
		{`{"method":"PUT","key":"k","uploadId":"2e5cc9f4","partNumber":1}`, s3sign.Part, 0},
		{`{"method":"POST","key":"k","uploadId":"2e5cc9f4"}`, s3sign.Complete, 0},
		{`{"method":"GET","key":"k","uploadId":"2e5cc9f4"}`, s3sign.ListParts, 0},
		{`{"method":"DELETE","key":"k","uploadId":"2e5cc9f4"}`, s3sign.Abort, 0},
		{`{"method":"PUT","key":"k","expiresIn":900}`, s3sign.Put, 0},
		{`{"method":"GET","key":"k"}`, 0, errs.Forbidden},
		{`{"method":"DELETE","key":"k"}`, 0, errs.Forbidden},
		{`{"method":"HEAD","key":"k","uploadId":"u"}`, 0, errs.Forbidden},
		{`{"method":"PUT","key":"k","partNumber":1}`, 0, errs.Forbidden},
		{`{"method":"PUT","key":"k","uploadId":"u"}`, 0, errs.Forbidden},
		{`{"method":"PUT","key":"k","uploadId":"u","partNumber":10001}`, 0, errs.Forbidden},
		{`{"method":"PUT","key":"k","uploadId":"u","partNumber":-1}`, 0, errs.Forbidden},
		{`{"method":"POST","key":"k","uploadId":"a b"}`, 0, errs.Forbidden},
		{`{"method":"PUT","key":""}`, 0, errs.Invalid},
		{`{"method":"PUT","key":"k","bucket":"other"}`, 0, errs.Invalid},
		{`{"method":"PUT","key":"k"} {}`, 0, errs.Invalid},
		{`[]`, 0, errs.Invalid},
	} {
		_, op, err := s3sign.ParsePresign([]byte(tc.body))
		switch {
		case tc.kind == 0 && (err != nil || op != tc.op):
			t.Errorf("%s: %v, %v; want %v", tc.body, op, err, tc.op)
		case tc.kind != 0 && (err == nil || errs.KindOf(err) != tc.kind):
			t.Errorf("%s: %v, %v; want %v", tc.body, op, err, tc.kind)
		}
	}
}

func TestPresignURL(t *testing.T) {
	at := time.Date(2026, 12, 5, 7, 2, 17, 0, time.UTC)
	s := newSigner(t, at, func(c *s3sign.Config) { c.PathStyle = true; c.Endpoint = "http://127.0.0.1:8333" })
	got, err := s.Presign(s3sign.Put, "staging/alice/users/alice/small.txt", "", 0, 300*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const want = "http://127.0.0.1:8333/bv-stage/staging/alice/users/alice/small.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261205%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261205T070217Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature="
	if !strings.HasPrefix(got, want) {
		t.Errorf("url\n%s\nwant\n%s…", got, want)
	}
	vs := newSigner(t, at)
	got, err = vs.Presign(s3sign.Part, "a/é b", "id+1", 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	if u.Host != "bv-stage.localhost:8333" || u.EscapedPath() != "/a/%C3%A9%20b" || u.Query().Get("partNumber") != "3" || u.Query().Get("uploadId") != "id+1" {
		t.Errorf("virtual-hosted url %s", got)
	}
	for _, bad := range []struct {
		op       s3sign.Op
		key, id  string
		part     int
		lifetime time.Duration
	}{
		{s3sign.Put, "", "", 0, time.Minute},
		{s3sign.Put, "k", "id", 0, time.Minute},
		{s3sign.Part, "k", "id", 0, time.Minute},
		{s3sign.Complete, "k", "", 0, time.Minute},
		{s3sign.Complete, "k", "id", 2, time.Minute},
		{s3sign.Put, "k", "", 0, 0},
		{s3sign.Put, "k", "", 0, 8 * 24 * time.Hour},
		{s3sign.Op(99), "k", "id", 0, time.Minute},
	} {
		if u, err := vs.Presign(bad.op, bad.key, bad.id, bad.part, bad.lifetime); err == nil {
			t.Errorf("Presign%+v = %s", bad, u)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	ok := s3sign.Config{AccessKeyID: "k", SecretAccessKey: "s", Region: "r", Bucket: "b", Endpoint: "https://s3.example.com", ACL: s3sign.ACLPrivate}
	now := func() time.Time { return time.Time{} }
	if _, err := s3sign.New(ok, now); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*s3sign.Config){
		"no secret":       func(c *s3sign.Config) { c.SecretAccessKey = "" },
		"no bucket":       func(c *s3sign.Config) { c.Bucket = "" },
		"endpoint path":   func(c *s3sign.Config) { c.Endpoint = "https://s3.example.com/x" },
		"endpoint ftp":    func(c *s3sign.Config) { c.Endpoint = "ftp://s3.example.com" },
		"public ACL":      func(c *s3sign.Config) { c.ACL = "public-read" },
		"slash in key":    func(c *s3sign.Config) { c.AccessKeyID = "a/b" },
		"negative skew":   func(c *s3sign.Config) { c.Skew = -time.Second },
		"slash in region": func(c *s3sign.Config) { c.Region = "a/b" },
	} {
		c := ok
		edit(&c)
		if _, err := s3sign.New(c, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := s3sign.New(ok, nil); err == nil {
		t.Error("no clock: accepted")
	}
}

// TestSecretStaysSecret makes sure that a signer printed any way shows no
// secret.
func TestSecretStaysSecret(t *testing.T) {
	s := newSigner(t, capturedAt)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := sprintf(f, s); strings.Contains(out, testSecret) {
			t.Errorf("%s prints the secret: %s", f, out)
		}
	}
}
