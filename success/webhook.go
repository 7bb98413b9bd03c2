package success

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/blobvalet/blobvalet/events"
)

// SignatureHeader carries a webhook event's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
const SignatureHeader = events.SignatureHeader

// EventIDHeader carries the event's id, also in the body, so that a
// receiver can drop a duplicate before it parses the body.
const EventIDHeader = events.EventIDHeader

// Event tells the application that a verified file has arrived at its
// final name. ID is the same every time the same upload is announced:
// delivery is at least once, and receivers drop duplicates by ID.
type Event struct {
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

// SignWebhook returns the signature header value for body sent at t, as
// the events deliverer signs it.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	return events.Sign(secret, t, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a signature header against body, as a receiver does: the
// HMAC must match and the timestamp be within tolerance of now.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
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
