package webhook

import (
	"strings"
	"testing"
	"time"
)

// TestSignIsTheWireFormat pins the signature's bytes: receivers in the
// field verify exactly this (the HMAC can be checked with
// `openssl dgst -sha256 -hmac 0123456789abcdef`).
func TestSignIsTheWireFormat(t *testing.T) {
	secret, body, at := []byte("0123456789abcdef"), []byte(`{"id":"e1","blob":"users/alice/x.jpg"}`), time.Unix(1_800_000_000, 0)
	const want = "t=1800000000,v1=e1edc166a9b0d7dc6dbce37f60293ac7cede033083ef5a958278b2b63d4d2bab"
	if got := Sign(secret, at, body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if SignatureHeader != "Blobvalet-Signature" || EventIDHeader != "Blobvalet-Event-Id" {
		t.Fatal("header names changed")
	}
}

func TestSignVerify(t *testing.T) {
	secret := []byte("s3cret-s3cret-s3cret")
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"blob":"x"}`)
	h := Sign(secret, now, body)
	if !strings.HasPrefix(h, "t=1900000000,v1=") {
		t.Fatalf("header %q", h)
	}
	if err := Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other body":   Verify(secret, h, []byte(`{"blob":"y"}`), now, time.Minute),
		"other secret": Verify([]byte("other"), h, body, now, time.Minute),
		"too old":      Verify(secret, h, body, now.Add(time.Hour), 5*time.Minute),
		"malformed":    Verify(secret, "v1=abc", body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s verified", name)
		}
	}
}

// FuzzVerify feeds arbitrary signature headers to the receiver-side check:
// it must never panic, and it accepts only a header that carries the true
// HMAC of the body.
func FuzzVerify(f *testing.F) {
	secret := []byte("s3cret-s3cret-s3cret")
	now := time.Unix(1_900_000_000, 0)
	body := []byte("{}")
	f.Add(Sign(secret, now, body))
	f.Add("t=,v1=")
	f.Add("t=1900000000,v1=zz,v1=00")
	f.Fuzz(func(t *testing.T, header string) {
		if Verify(secret, header, body, now, time.Minute) != nil {
			return
		}
		ok := false
		for _, part := range strings.Split(header, ",") {
			if ts, found := strings.CutPrefix(part, "t="); found {
				ok = strings.Contains(header, "v1="+mac(secret, ts, body))
			}
		}
		if !ok {
			t.Fatalf("accepted %q", header)
		}
	})
}
