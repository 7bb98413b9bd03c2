package s3sign_test

import (
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/s3sign"
)

const (
	testKey    = "AKIAEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// newSigner returns a signer for bucket bv-stage at localhost:8333, as in
// the captured requests, whose clock is at.
func newSigner(t testing.TB, at time.Time, edit ...func(*s3sign.Config)) *s3sign.Signer {
	t.Helper()
	c := s3sign.Config{
		AccessKeyID: testKey, SecretAccessKey: testSecret, Region: "us-east-1",
		Bucket: "bv-stage", Endpoint: "http://localhost:8333", ACL: s3sign.ACLPrivate,
	}
	for _, e := range edit {
		e(&c)
	}
	s, err := s3sign.New(c, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	return s
}
