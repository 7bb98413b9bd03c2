package s3sign_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/s3sign"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// FuzzParseREST feeds the REST parser and checker anything: they never
// panic, every error is an *errs.Error of a 4xx kind, and what is accepted
// is one of Fine Uploader's four requests for a key of the bucket.
func FuzzParseREST(f *testing.F) {
	for _, s := range []string{capturedInitiate, capturedPart, capturedComplete, capturedAbort, capturedV2, "", "AWS4-HMAC-SHA256\n"} {
		f.Add(s)
	}
	s := newSigner(f, capturedAt)
	f.Fuzz(func(t *testing.T, str string) {
		r, err := s3sign.ParseREST(str)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		c, err := s.CheckREST(r)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		switch c.Op {
		case s3sign.Initiate, s3sign.Part, s3sign.Complete, s3sign.Abort:
		default:
			t.Fatalf("accepted op %v", c.Op)
		}
		if c.Key == "" || len(c.Key) > s3sign.MaxKeyLength {
			t.Fatalf("accepted key %q", c.Key)
		}
		if len(s.SignREST(c)) != 64 {
			t.Fatal("signature is not 64 hex digits")
		}
	})
}

// FuzzParseSignRequest feeds the signature request parser (policy or REST)
// anything: it never panics, errors are 4xx *errs.Error values, and a
// policy accepted is signed with the rule's range.
func FuzzParseSignRequest(f *testing.F) {
	f.Add([]byte(capturedPolicy))
	f.Add([]byte(`{"headers":"` + jsonEscape(capturedPart) + `"}`))
	f.Add([]byte(`{"expiration":"x","conditions":[["content-length-range","0","10"],["starts-with","$key",""],["eq","$bucket","bv-stage"]]}`))
	f.Add([]byte(`{"headers":1}`))
	s := newSigner(f, capturedAt)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := s3sign.ParseSignRequest(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if (req.REST == nil) == (req.Policy == nil) {
			t.Fatalf("parsed %+v", req)
		}
		if req.Policy == nil {
			return
		}
		c, err := s.CheckPolicy(*req.Policy)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if c.Key == "" {
			t.Fatal("accepted a policy without a key")
		}
		if _, err := s.SignPolicy(c, 10, time.Minute); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParsePresign feeds Uppy's presign request parser anything.
func FuzzParsePresign(f *testing.F) {
	for _, b := range []string{
		`{"method":"PUT","key":"users/alice/small.txt"}`,
		`{"method":"PUT","key":"k","uploadId":"2e5cc9f4","partNumber":1}`,
		`{"method":"GET","key":"k","uploadId":"2e5cc9f4"}`,
		`{"method":"DELETE","key":"k"}`,
	} {
		f.Add([]byte(b))
	}
	s := newSigner(f, capturedAt)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, op, err := s3sign.ParsePresign(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if _, err := s.Presign(op, r.Key, r.UploadID, r.PartNumber, time.Minute); err != nil {
			t.Fatalf("parsed %+v (%v) but cannot presign it: %v", r, op, err)
		}
	})
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if k := errs.KindOf(err); k != errs.Invalid && k != errs.Forbidden {
		t.Fatalf("error of kind %v: %v", k, err)
	}
}

func jsonEscape(s string) string {
	b := []byte(fmt.Sprintf("%q", s))
	return string(b[1 : len(b)-1])
}
