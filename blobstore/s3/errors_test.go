package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/blobvalet/blobvalet/blobstore"
)

// answer is an S3 error answer as the SDK returns it.
func answer(status int, code string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: "a message that is never matched"}
	if code == "" {
		inner = errors.New("no body")
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: inner},
	}}
}

func TestClassify(t *testing.T) {
	dial := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/b/k", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	noAnswer := &smithy.OperationError{ServiceID: "S3", OperationName: "HeadObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{}}, Err: &smithyhttp.RequestSendError{Err: dial}},
	}}
	tests := []struct {
		name string
		err  error
		want blobstore.Class
		text string
	}{
		{"no such key", answer(404, "NoSuchKey"), blobstore.NotFound, "storage has no such resource: 404 NoSuchKey"},
		{"no such bucket", answer(404, "NoSuchBucket"), blobstore.NotFound, "404 NoSuchBucket"},
		{"HEAD of nothing", answer(404, ""), blobstore.NotFound, "404"},
		{"condition", answer(412, "PreconditionFailed"), blobstore.Changed, "the blob changed in storage: 412 PreconditionFailed"},
		{"wrong secret", answer(403, "SignatureDoesNotMatch"), blobstore.Refused, "storage refused blobvalet's credentials: 403 SignatureDoesNotMatch"},
		{"denied", answer(403, "AccessDenied"), blobstore.Refused, "403 AccessDenied"},
		{"slow down", answer(503, "SlowDown"), blobstore.Throttled, "storage is throttling blobvalet: 503 SlowDown"},
		{"too many", answer(429, ""), blobstore.Throttled, "429"},
		{"conflict", answer(409, "ConditionalRequestConflict"), blobstore.Conflict, "storage refused the change: 409 ConditionalRequestConflict"},
		{"request timeout", answer(400, "RequestTimeout"), blobstore.Slow, "400 RequestTimeout"},
		{"internal", answer(500, "InternalError"), blobstore.Failed, "storage failed: 500 InternalError"},
		{"no answer", noAnswer, blobstore.Unreachable, "storage cannot be reached: dial tcp: connection refused"},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), blobstore.Slow, "storage did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
			w := Wrap(tt.err)
			if s := tt.want.Sentinel(); s != nil && !errors.Is(w, s) {
				t.Errorf("not %v", s)
			}
			if !errors.Is(w, tt.err) {
				t.Error("Wrap does not unwrap to the cause")
			}
			if s := w.Error(); !strings.Contains(s, tt.text) || strings.Contains(s, "\n") {
				t.Errorf("text %q, want one line with %q", s, tt.text)
			}
		})
	}
	if Wrap(nil) != nil {
		t.Error("Wrap(nil) != nil")
	}
	if err := wrapAs(blobstore.Taken, answer(412, "PreconditionFailed")); !errors.Is(err, blobstore.ErrTaken) || errors.Is(err, blobstore.ErrChanged) {
		t.Errorf("a 412 on If-None-Match: %v, want ErrTaken only", err)
	}
}
