// Package s3sign signs what browsers send to S3 for blobvalet, after
// checking it: Fine Uploader S3's POST policies and multipart REST requests
// (signature version 4), and presigned URLs for Uppy's signRequest. A
// signer that signs whatever it is shown hands out reads, deletes, copies
// out of final buckets and bucket CORS rewrites, so every request is parsed
// into a typed value and compared with the few shapes the two clients send;
// anything else is refused with a reason.
//
// The package does no I/O and decides nothing about users: it returns the
// staging key a request is for, and the caller checks that key against the
// user and the rules before it asks for the signature. Its clock is
// injected.
package s3sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Algorithm is the only signature algorithm blobvalet signs with.
const Algorithm = "AWS4-HMAC-SHA256"

// service is the AWS service name in every scope.
const service = "s3"

// The time formats of signature version 4: the request time and the day of
// the scope.
const (
	amzDateFormat = "20060102T150405Z"
	dayFormat     = "20060102"
)

// DefaultSkew is how far a request's x-amz-date may be from the signer's
// clock: Fine Uploader stamps the time when it asks for the signature.
const DefaultSkew = 5 * time.Minute

// MaxKeyLength is S3's limit on an object key, in bytes.
const MaxKeyLength = 1024

// EmptyPayloadHash is the SHA-256 of an empty body, the payload hash of the
// requests that carry none.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// The ACLs a bucket without public access takes: "private", or
// "bucket-owner-full-control" where the bucket has ACLs disabled (AWS's
// default for new buckets), which accepts no other.
const (
	ACLPrivate          = "private"
	ACLOwnerFullControl = "bucket-owner-full-control"
)

// Metadata limits: S3 keeps at most 2 KiB of user metadata; blobvalet's
// stamp needs room at promotion, so uploads may bring less.
const (
	MaxMetaName  = 128
	MaxMetaValue = 1024
	MaxMetaTotal = 1536
)

// Config is what a Signer signs for.
type Config struct {
	// AccessKeyID and SecretAccessKey are the signing identity: one that
	// can only write objects in the staging bucket.
	AccessKeyID, SecretAccessKey string
	// Region is the region every signature is scoped to.
	Region string
	// Bucket is the staging bucket, the only bucket signed for.
	Bucket string
	// Endpoint is the S3 service URL, scheme and host (with port), such
	// as https://s3.eu-west-1.amazonaws.com.
	Endpoint string
	// PathStyle makes presigned URLs address the bucket in the path
	// (https://endpoint/bucket/key) rather than in the host
	// (https://bucket.endpoint/key).
	PathStyle bool
	// Host is the staging bucket's virtual host, which Fine Uploader signs
	// its REST requests for; "" means Bucket + "." + the endpoint's host.
	Host string
	// ACL is the canned ACL uploads must ask for: ACLPrivate or
	// ACLOwnerFullControl.
	ACL string
	// Skew is how far x-amz-date may be from now; 0 means DefaultSkew.
	Skew time.Duration
}

// Signer checks and signs requests for one staging bucket.
type Signer struct {
	accessKey string
	secret    []byte
	region    string
	bucket    string
	scheme    string
	endpoint  string // host[:port] of Endpoint
	pathStyle bool
	host      string // lowercased virtual host of the bucket
	acl       string
	skew      time.Duration
	now       func() time.Time
}

// New returns a Signer for c with the clock now.
func New(c Config, now func() time.Time) (*Signer, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"AccessKeyID", c.AccessKeyID}, {"SecretAccessKey", c.SecretAccessKey},
		{"Region", c.Region}, {"Bucket", c.Bucket}, {"Endpoint", c.Endpoint},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("s3sign: %s required", strings.Join(missing, ", "))
	}
	if now == nil {
		return nil, errors.New("s3sign: a clock is required")
	}
	if strings.ContainsAny(c.AccessKeyID, "/ \t\r\n") || strings.ContainsAny(c.Region, "/ \t\r\n") {
		return nil, errors.New("s3sign: the access key id and the region may not hold a slash or a space")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("s3sign: endpoint %q is not of the form http(s)://host[:port]", c.Endpoint)
	}
	switch c.ACL {
	case ACLPrivate, ACLOwnerFullControl:
	default:
		return nil, fmt.Errorf("s3sign: ACL %q is not %s or %s", c.ACL, ACLPrivate, ACLOwnerFullControl)
	}
	if c.Skew < 0 {
		return nil, fmt.Errorf("s3sign: Skew must not be negative, not %v", c.Skew)
	}
	s := &Signer{
		accessKey: c.AccessKeyID,
		secret:    []byte(c.SecretAccessKey),
		region:    c.Region,
		bucket:    c.Bucket,
		scheme:    u.Scheme,
		endpoint:  strings.ToLower(u.Host),
		pathStyle: c.PathStyle,
		host:      strings.ToLower(c.Host),
		acl:       c.ACL,
		skew:      c.Skew,
		now:       now,
	}
	if s.host == "" {
		s.host = strings.ToLower(c.Bucket) + "." + s.endpoint
	}
	if s.skew == 0 {
		s.skew = DefaultSkew
	}
	return s, nil
}

// String names the signer by its access key id and bucket, never its
// secret, so that a signer in a log line or an error shows no secret.
func (s *Signer) String() string {
	return "s3sign.Signer{" + s.accessKey + " " + s.bucket + " " + s.region + "}"
}

// GoString is String, for %#v.
func (s *Signer) GoString() string { return s.String() }

// Bucket returns the staging bucket.
func (s *Signer) Bucket() string { return s.bucket }

// Host returns the staging bucket's virtual host, which Fine Uploader's
// endpoint must name.
func (s *Signer) Host() string { return s.host }

// SigningKey derives the signature version 4 key of secret for one day,
// region and service.
func SigningKey(secret []byte, day, region, service string) []byte {
	k := hmacSHA256(append([]byte("AWS4"), secret...), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// StringToSign returns the string that signature version 4 signs for a
// canonical request made at t within scope.
func StringToSign(t time.Time, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + t.UTC().Format(amzDateFormat) + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// Signature returns the hex signature of stringToSign with key.
func Signature(key []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// scope returns the credential scope of day.
func (s *Signer) scope(day string) string {
	return day + "/" + s.region + "/" + service + "/aws4_request"
}

// sign signs stringToSign with the key of day.
func (s *Signer) sign(day, stringToSign string) string {
	return Signature(SigningKey(s.secret, day, s.region, service), stringToSign)
}

// fresh checks that t is within the skew of now.
func (s *Signer) fresh(t time.Time) error {
	now := s.now()
	if d := t.Sub(now); d > s.skew || d < -s.skew {
		return fmt.Errorf("x-amz-date %s is more than %v from the server's time %s; check the computer's clock",
			t.UTC().Format(amzDateFormat), s.skew, now.UTC().Format(amzDateFormat))
	}
	return nil
}

// uriEncode escapes s as signature version 4 does: every byte but
// A-Z a-z 0-9 - . _ ~ as %XX, and "/" too unless keepSlash.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
