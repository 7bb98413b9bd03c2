// Package webhook is what an application's webhook receives from
// blobvalet: the Payload of a verified upload, posted as JSON, and its
// signature, which Sign makes and Verify checks as a receiver does.
//
// The signature header is "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">", keyed by the webhook's secret: the timestamp inside the
// signed bytes lets a receiver refuse a replayed delivery.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a delivery's signature (see the package doc).
const SignatureHeader = "Blobvalet-Signature"

// EventIDHeader carries the event's id, also in the body, so that a
// receiver can drop a duplicate before it parses the body.
const EventIDHeader = "Blobvalet-Event-Id"

// Payload tells the application that a verified file has arrived at its
// final name: the body of the webhook's POST. ID is the same every time the
// same upload is announced: delivery is at least once, and receivers drop
// duplicates by ID.
type Payload struct {
	ID          string            `json:"id"`
	User        string            `json:"user"`
	Container   string            `json:"container"`
	Blob        string            `json:"blob"`
	Name        string            `json:"name"`
	UUID        string            `json:"uuid"`
	Size        int64             `json:"size"`
	ContentType string            `json:"contentType"`
	ETag        string            `json:"etag"`
	Params      map[string]string `json:"params"`
	VerifiedAt  string            `json:"verifiedAt"`
}

// Sign returns the signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

// mac is the hex HMAC-SHA256 of "<ts>.<body>".
func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body, as a receiver does: the
// HMAC must match and the timestamp be within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("malformed %s header", SignatureHeader)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp is %v away from now", d)
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}
