package events_test

import (
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/success"
)

// TestSignIsTheWebhookFormat: receivers verify queued deliveries exactly as
// they verify the signature they know.
func TestSignIsTheWebhookFormat(t *testing.T) {
	secret, body, at := []byte("0123456789abcdef"), []byte(`{"id":"e1"}`), time.Unix(1_800_000_000, 0)
	got := events.Sign(secret, at, body)
	if want := success.SignWebhook(secret, at, body); got != want {
		t.Fatalf("Sign = %q, the webhook's signature is %q", got, want)
	}
	if err := success.VerifyWebhook(secret, got, body, at, time.Minute); err != nil {
		t.Fatal(err)
	}
	if events.SignatureHeader != success.SignatureHeader || events.EventIDHeader != success.EventIDHeader {
		t.Fatal("header names differ")
	}
}
