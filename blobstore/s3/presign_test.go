package s3_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReadURL: a presigned read URL gives the object's bytes, and nothing
// once changed.
func TestReadURL(t *testing.T) {
	f := start(t)
	f.put(in("users/a b.txt"), "hello")
	u, err := f.s.ReadURL(in("users/a b.txt"), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Amz-Expires=3600") || strings.Contains(u, f.emu.SecretKey()) {
		t.Errorf("URL %s", u)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(u); code != http.StatusOK || body != "hello" {
		t.Errorf("GET the read URL: %d %q", code, body)
	}
	if code, _ := get(strings.Replace(u, "a%20b.txt", "other.txt", 1)); code != http.StatusForbidden {
		t.Errorf("GET the read URL of another key: %d, want 403", code)
	}
	for _, d := range []time.Duration{0, 8 * 24 * time.Hour} {
		if _, err := f.s.ReadURL(in("a"), time.Now().Add(d)); err == nil {
			t.Errorf("ReadURL for %v: no error", d)
		}
	}
}
