package success

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// SignatureHeader carries a webhook event's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
const SignatureHeader = "Blobvalet-Signature"

// EventIDHeader carries the event's id, also in the body, so that a
// receiver can drop a duplicate before it parses the body.
const EventIDHeader = "Blobvalet-Event-Id"

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

// Notifier posts signed events to a webhook.
type Notifier struct {
	URL     string
	Secret  []byte
	Timeout time.Duration
	Client  *http.Client
	Now     func() time.Time
}

// Notify posts ev and succeeds only on a 2xx answer. Delivery is at least
// once: a retried success request posts the same event again, with the same
// ID. A redirect is an error: the signed body goes to the configured URL
// and nowhere else.
func (n *Notifier) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, SignWebhook(n.Secret, n.Now(), body))
	req.Header.Set(EventIDHeader, ev.ID)
	client := n.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: answered %d", resp.StatusCode)
	}
	return nil
}

// noRedirects is the webhook's default client: it answers a redirect with
// the redirect itself, which Notify counts as a failure.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// SignWebhook returns the signature header value for body sent at t.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
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
