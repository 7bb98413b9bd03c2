package s3sign_test

import (
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/s3sign"
)

// capturedAt is the time of the captured Fine Uploader requests.
var capturedAt = time.Date(2026, 12, 5, 7, 1, 54, 0, time.UTC)

const emptyHash = s3sign.EmptyPayloadHash

// The REST strings Fine Uploader 5.16.2 sent (PROTOCOL-s3.md §3.2), with
// the upload id written out.
const (
	capturedInitiate = "AWS4-HMAC-SHA256\n20261205T070154Z\n20261205/us-east-1/s3/aws4_request\nPOST\n/u/alice/cccce7a5-702c-4485-b428-d4115762e4a5-big.bin\nuploads=\nhost:bv-stage.localhost:8333\nx-amz-acl:private\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20261205T070154Z\nx-amz-meta-qqfilename:big.bin\n\nhost;x-amz-acl;x-amz-content-sha256;x-amz-date;x-amz-meta-qqfilename\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	capturedPart     = "AWS4-HMAC-SHA256\n20261205T070154Z\n20261205/us-east-1/s3/aws4_request\nPUT\n/u/alice/cccce7a5-702c-4485-b428-d4115762e4a5-big.bin\npartNumber=1&uploadId=36faff18-0c4e-4d7a-9d4c-1f5e0d4f1a2b\nhost:bv-stage.localhost:8333\nx-amz-content-sha256:dbbe5517996826bd5861ac22b745d21d11219055d89243ca1aea0ad31f552b12\nx-amz-date:20261205T070154Z\n\nhost;x-amz-content-sha256;x-amz-date\ndbbe5517996826bd5861ac22b745d21d11219055d89243ca1aea0ad31f552b12"
	capturedComplete = "AWS4-HMAC-SHA256\n20261205T070155Z\n20261205/us-east-1/s3/aws4_request\nPOST\n/u/alice/cccce7a5-702c-4485-b428-d4115762e4a5-big.bin\nuploadId=36faff18-0c4e-4d7a-9d4c-1f5e0d4f1a2b\nhost:bv-stage.localhost:8333\nx-amz-content-sha256:658dc4620c2a1d8b3b1a1c7f1d4b3c2a1e0f9d8c7b6a5f4e3d2c1b0a99887766\nx-amz-date:20261205T070155Z\n\nhost;x-amz-content-sha256;x-amz-date\n658dc4620c2a1d8b3b1a1c7f1d4b3c2a1e0f9d8c7b6a5f4e3d2c1b0a99887766"
	capturedAbort    = "AWS4-HMAC-SHA256\n20261205T070154Z\n20261205/us-east-1/s3/aws4_request\nDELETE\n/u/alice/cccce7a5-702c-4485-b428-d4115762e4a5-big.bin\nuploadId=36faff18-0c4e-4d7a-9d4c-1f5e0d4f1a2b\nhost:bv-stage.localhost:8333\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20261205T070154Z\n\nhost;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	capturedV2       = "POST\n\napplication/octet-stream\n\nx-amz-acl:private\nx-amz-date:Sat, 05 Dec 2026 07:03:05 GMT\nx-amz-meta-qqfilename:big%20file%20%C3%A9%20(1)!.bin\n/bv-stage/u/alice/9909c82b-big%20file%20%C3%A9%20%281%29%21.bin?uploads"
)

// restString builds a v4 REST string as Fine Uploader does.
func restString(date time.Time, region, method, path, query string, headers [][2]string, payload string) string {
	var b strings.Builder
	amz := date.UTC().Format("20060102T150405Z")
	b.WriteString("AWS4-HMAC-SHA256\n" + amz + "\n" + date.UTC().Format("20060102") + "/" + region + "/s3/aws4_request\n")
	b.WriteString(method + "\n" + path + "\n" + query + "\n")
	var names []string
	for _, h := range headers {
		b.WriteString(h[0] + ":" + h[1] + "\n")
		names = append(names, h[0])
	}
	b.WriteString("\n" + strings.Join(names, ";") + "\n" + payload)
	return b.String()
}

func TestCheckRESTAcceptsFineUploadersRequests(t *testing.T) {
	s := newSigner(t, capturedAt.Add(30*time.Second))
	for _, tc := range []struct {
		name, str string
		op        s3sign.Op
		part      int
		meta      string
	}{
		{"initiate", capturedInitiate, s3sign.Initiate, 0, "big.bin"},
		{"part", capturedPart, s3sign.Part, 1, ""},
		{"complete", capturedComplete, s3sign.Complete, 0, ""},
		{"abort", capturedAbort, s3sign.Abort, 0, ""},
		{"escaped key", restString(capturedAt, "us-east-1", "PUT", "/u/alice/x-big%20file%20%C3%A9%20%281%29%21.bin", "partNumber=10000&uploadId=abc",
			[][2]string{{"host", "bv-stage.localhost:8333"}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", "20261205T070154Z"}}, emptyHash), s3sign.Part, 10000, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s3sign.ParseREST(tc.str)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.CheckREST(r)
			if err != nil {
				t.Fatal(err)
			}
			if c.Op != tc.op || c.PartNumber != tc.part || c.Meta["qqfilename"] != tc.meta || !strings.HasPrefix(c.Key, "u/alice/") {
				t.Errorf("checked = %+v", c)
			}
			if tc.op != s3sign.Initiate && c.UploadID == "" {
				t.Errorf("no upload id in %+v", c)
			}
			if sig := s.SignREST(c); len(sig) != 64 {
				t.Errorf("signature %q", sig)
			}
		})
	}
	r, _ := s3sign.ParseREST(restString(capturedAt, "us-east-1", "PUT", "/u/alice/x-big%20file%20%C3%A9%20%281%29%21.bin", "partNumber=2&uploadId=abc",
		[][2]string{{"host", "bv-stage.localhost:8333"}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", "20261205T070154Z"}}, emptyHash))
	if c, err := s.CheckREST(r); err != nil || c.Key != "u/alice/x-big file é (1)!.bin" {
		t.Errorf("key = %q, %v", c.Key, err)
	}
}

// TestSignRESTMatchesHashedString checks that the signature is that of
// the string to sign with the canonical request hashed, as S3 computes it.
func TestSignRESTMatchesHashedString(t *testing.T) {
	s := newSigner(t, capturedAt)
	r, err := s3sign.ParseREST(capturedPart)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CheckREST(r)
	if err != nil {
		t.Fatal(err)
	}
	_, canonical, _ := strings.Cut(capturedPart, "us-east-1/s3/aws4_request\n")
	k := s3sign.SigningKey([]byte(testSecret), "20261205", "us-east-1", "s3")
	if got, want := s.SignREST(c), s3sign.Signature(k, s3sign.StringToSign(capturedAt, "20261205/us-east-1/s3/aws4_request", canonical)); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

func TestCheckRESTRefuses(t *testing.T) {
	const host = "bv-stage.localhost:8333"
	at := capturedAt
	date := at.Format("20060102T150405Z")
	std := func(extra ...[2]string) [][2]string {
		h := [][2]string{{"host", host}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", date}}
		h = append(h, extra...)
		sortHeaders(h)
		return h
	}
	const key = "/u/alice/a.bin"
	s := newSigner(t, at)
	for _, tc := range []struct {
		name, str string
		kind      errs.Kind
		reason    string
	}{
		{"v2 string", capturedV2, errs.Invalid, s3sign.V2Message},
		{"GET of an object", restString(at, "us-east-1", "GET", key, "", std(), emptyHash), errs.Forbidden, "GET with query"},
		{"DELETE of an object", restString(at, "us-east-1", "DELETE", key, "", std(), emptyHash), errs.Forbidden, "DELETE with query"},
		{"PUT of an object", restString(at, "us-east-1", "PUT", key, "", std(), emptyHash), errs.Forbidden, "PUT with query"},
		{"copy into the key", restString(at, "us-east-1", "PUT", key, "", std([2]string{"x-amz-copy-source", "/final/x"}), emptyHash), errs.Forbidden, "PUT with query"},
		{"copy as a part", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", std([2]string{"x-amz-copy-source", "/final/x"}), emptyHash), errs.Forbidden, "x-amz-copy-source is not signed"},
		{"copy-source-range on a part", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", std([2]string{"x-amz-copy-source-range", "bytes=0-9"}), emptyHash), errs.Forbidden, "x-amz-copy-source-range"},
		{"metadata directive", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "private"}, [2]string{"x-amz-metadata-directive", "REPLACE"}), emptyHash), errs.Forbidden, "x-amz-metadata-directive"},
		{"grant", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "private"}, [2]string{"x-amz-grant-read", "uri=http://acs.amazonaws.com/groups/global/AllUsers"}), emptyHash), errs.Forbidden, "x-amz-grant-read"},
		{"public ACL", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "public-read"}), emptyHash), errs.Forbidden, `x-amz-acl "public-read"`},
		{"no ACL on initiate", restString(at, "us-east-1", "POST", key, "uploads=", std(), emptyHash), errs.Forbidden, "must sign header x-amz-acl"},
		{"ACL on a part", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", std([2]string{"x-amz-acl", "private"}), emptyHash), errs.Forbidden, "x-amz-acl is not signed"},
		{"redirect", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "private"}, [2]string{"x-amz-website-redirect-location", "https://evil"}), emptyHash), errs.Forbidden, "x-amz-website-redirect-location"},
		{"tagging", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "private"}, [2]string{"x-amz-tagging", "a=b"}), emptyHash), errs.Forbidden, "x-amz-tagging"},
		{"storage class", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "private"}, [2]string{"x-amz-storage-class", "REDUCED_REDUNDANCY"}), emptyHash), errs.Forbidden, "x-amz-storage-class"},
		{"metadata on a part", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", std([2]string{"x-amz-meta-a", "b"}), emptyHash), errs.Forbidden, "x-amz-meta-a is not signed"},
		{"long metadata", restString(at, "us-east-1", "POST", key, "uploads=", std([2]string{"x-amz-acl", "private"}, [2]string{"x-amz-meta-a", strings.Repeat("x", 1025)}), emptyHash), errs.Forbidden, "longer than 1024"},
		{"bucket cors", restString(at, "us-east-1", "PUT", "/", "cors=", std(), emptyHash), errs.Invalid, "not / and an object key"},
		{"cors on a key", restString(at, "us-east-1", "PUT", key, "cors=", std(), emptyHash), errs.Forbidden, `query "cors="`},
		{"acl subresource", restString(at, "us-east-1", "PUT", key, "acl=", std(), emptyHash), errs.Forbidden, `query "acl="`},
		{"extra query", restString(at, "us-east-1", "POST", key, "uploadId=abc&versionId=1", std(), emptyHash), errs.Forbidden, "versionId"},
		{"other host", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", [][2]string{{"host", "bv-final.localhost:8333"}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", date}}, emptyHash), errs.Forbidden, `host "bv-final.localhost:8333"`},
		{"path-style host", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", [][2]string{{"host", "localhost:8333/bv-stage"}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", date}}, emptyHash), errs.Forbidden, "virtual-hosted"},
		{"other region", restString(at, "eu-west-1", "PUT", key, "partNumber=1&uploadId=abc", std(), emptyHash), errs.Forbidden, "the region is us-east-1"},
		{"old date", restString(at.Add(-6*time.Minute), "us-east-1", "PUT", key, "partNumber=1&uploadId=abc",
			[][2]string{{"host", host}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", at.Add(-6 * time.Minute).Format("20060102T150405Z")}}, emptyHash), errs.Forbidden, "more than 5m0s from the server's time"},
		{"future date", restString(at.Add(6*time.Minute), "us-east-1", "PUT", key, "partNumber=1&uploadId=abc",
			[][2]string{{"host", host}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", at.Add(6 * time.Minute).Format("20060102T150405Z")}}, emptyHash), errs.Forbidden, "more than 5m0s"},
		{"header date differs", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc",
			[][2]string{{"host", host}, {"x-amz-content-sha256", emptyHash}, {"x-amz-date", at.Add(-time.Hour).Format("20060102T150405Z")}}, emptyHash), errs.Forbidden, "not the string's date"},
		{"no date header", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", [][2]string{{"host", host}, {"x-amz-content-sha256", emptyHash}}, emptyHash), errs.Forbidden, "must sign header x-amz-date"},
		{"unsigned payload", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc",
			[][2]string{{"host", host}, {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}, {"x-amz-date", date}}, "UNSIGNED-PAYLOAD"), errs.Forbidden, "64 lowercase hex"},
		{"payload header differs", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", std(), strings.Repeat("a", 64)), errs.Forbidden, "not the payload hash"},
		{"initiate with a body", restString(at, "us-east-1", "POST", key, "uploads=",
			[][2]string{{"host", host}, {"x-amz-acl", "private"}, {"x-amz-content-sha256", strings.Repeat("a", 64)}, {"x-amz-date", date}}, strings.Repeat("a", 64)), errs.Forbidden, "empty one"},
		{"part 0", restString(at, "us-east-1", "PUT", key, "partNumber=0&uploadId=abc", std(), emptyHash), errs.Forbidden, "part number"},
		{"part 10001", restString(at, "us-east-1", "PUT", key, "partNumber=10001&uploadId=abc", std(), emptyHash), errs.Forbidden, "part number"},
		{"uploads with a value", restString(at, "us-east-1", "POST", key, "uploads=x", std([2]string{"x-amz-acl", "private"}), emptyHash), errs.Forbidden, "uploads takes no value"},
		{"security token", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", std([2]string{"x-amz-security-token", "t"}), emptyHash), errs.Forbidden, "x-amz-security-token"},
		{"key not canonical", restString(at, "us-east-1", "PUT", "/u/alice/a b", "partNumber=1&uploadId=abc", std(), emptyHash), errs.Invalid, "canonical URI-encoded"},
		{"encoded slash", restString(at, "us-east-1", "PUT", "/u%2Falice", "partNumber=1&uploadId=abc", std(), emptyHash), errs.Invalid, "canonical URI-encoded"},
		{"unsorted query", restString(at, "us-east-1", "PUT", key, "uploadId=abc&partNumber=1", std(), emptyHash), errs.Invalid, "not sorted"},
		{"unsorted headers", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", [][2]string{{"x-amz-date", date}, {"host", host}}, emptyHash), errs.Invalid, "not sorted"},
		{"uppercase header", restString(at, "us-east-1", "PUT", key, "partNumber=1&uploadId=abc", [][2]string{{"Host", host}}, emptyHash), errs.Invalid, "lowercase name"},
		{"signed list differs", strings.Replace(capturedPart, "\nhost;x-amz-content-sha256;x-amz-date\n", "\nhost;x-amz-date\n", 1), errs.Invalid, "signed headers"},
		{"trailing line", capturedPart + "\nmore", errs.Invalid, "does not end"},
		{"not a string to sign", "hello", errs.Invalid, "does not begin with"},
		{"bad date", strings.Replace(capturedPart, "20261205T070154Z\n2026", "2026-12-05\n2026", 1), errs.Invalid, "20060102T150405Z"},
		{"too long", capturedPart + strings.Repeat("x", 9000), errs.Invalid, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s3sign.ParseREST(tc.str)
			if err == nil {
				_, err = s.CheckREST(r)
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.str)
			}
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %v (%v), want %v with %q", err, errs.KindOf(err), tc.kind, tc.reason)
			}
		})
	}
}

func sortHeaders(h [][2]string) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j][0] < h[j-1][0]; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}
