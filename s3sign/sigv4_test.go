package s3sign_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/blobvalet/blobvalet/s3sign"
)

// AWS's published signature version 4 examples.
func TestSigningKeyAWSExample(t *testing.T) {
	// "Examples of how to derive a signing key for Signature Version 4".
	k := s3sign.SigningKey([]byte("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "20120215", "us-east-1", "iam")
	if got, want := hex.EncodeToString(k), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; got != want {
		t.Errorf("signing key = %s, want %s", got, want)
	}
}

func TestSignatureS3GetObjectExample(t *testing.T) {
	// S3 API reference, "Signature calculations for the Authorization
	// header", example GET Object.
	const canonical = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\n" +
		"host;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	sts := s3sign.StringToSign(at, "20130524/us-east-1/s3/aws4_request", canonical)
	if want := "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"; sts != want {
		t.Fatalf("string to sign =\n%s\nwant\n%s", sts, want)
	}
	k := s3sign.SigningKey([]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "20130524", "us-east-1", "s3")
	if got, want := s3sign.Signature(k, sts), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"; got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}

func TestSignatureS3PresignedExample(t *testing.T) {
	// S3 API reference, "Authenticating Requests: Using Query Parameters",
	// example GET of a presigned URL valid for 86400 s.
	const canonical = "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	k := s3sign.SigningKey([]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "20130524", "us-east-1", "s3")
	if got, want := s3sign.Signature(k, s3sign.StringToSign(at, "20130524/us-east-1/s3/aws4_request", canonical)), "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"; got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}

// TestPresignMatchesSDK compares every presigned URL with the one
// aws-sdk-go-v2's signer makes of the same request.
func TestPresignMatchesSDK(t *testing.T) {
	at := time.Date(2026, 12, 5, 7, 2, 17, 0, time.UTC)
	const key = "YWxpY2U/uploads/a b/é (1)!*'~.bin"
	for _, pathStyle := range []bool{false, true} {
		s := newSigner(t, at, func(c *s3sign.Config) { c.PathStyle = pathStyle })
		for _, tc := range []struct {
			op       s3sign.Op
			uploadID string
			part     int
		}{
			{s3sign.Put, "", 0},
			{s3sign.Initiate, "", 0},
			{s3sign.Part, "2e5cc9f4+/=x", 7},
			{s3sign.Complete, "2e5cc9f4", 0},
			{s3sign.ListParts, "2e5cc9f4", 0},
			{s3sign.Abort, "2e5cc9f4", 0},
		} {
			got, err := s.Presign(tc.op, key, tc.uploadID, tc.part, 300*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			sig := q.Get("X-Amz-Signature")
			// The SDK signs the same request, from the URL without the
			// signature and the X-Amz-* it adds itself.
			for _, k := range []string{"X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders"} {
				q.Del(k)
			}
			u.RawQuery = q.Encode()
			method := map[s3sign.Op]string{s3sign.Put: "PUT", s3sign.Initiate: "POST", s3sign.Part: "PUT", s3sign.Complete: "POST", s3sign.ListParts: "GET", s3sign.Abort: "DELETE"}[tc.op]
			req, _ := http.NewRequest(method, u.String(), nil)
			signed, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).PresignHTTP(context.Background(),
				aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", at)
			if err != nil {
				t.Fatal(err)
			}
			su, _ := url.Parse(signed)
			if want := su.Query().Get("X-Amz-Signature"); sig != want {
				t.Errorf("path style %v, %s: signature %s, the SDK's %s\nours: %s\nSDK:  %s", pathStyle, tc.op, sig, want, got, signed)
			}
		}
	}
}
