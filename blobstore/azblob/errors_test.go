package azblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/blobvalet/blobvalet/blobstore"
)

func responseError(status int, code string) error {
	req, _ := http.NewRequest("GET", "https://acct.blob.core.windows.net/c/b", nil)
	return fmt.Errorf("download: %w", &azcore.ResponseError{
		StatusCode: status, ErrorCode: code,
		RawResponse: &http.Response{StatusCode: status, Request: req, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}},
	})
}

func TestClassify(t *testing.T) {
	dial := &url.Error{Op: "Get", URL: "https://acct.blob.core.windows.net/?comp=properties", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name string
		err  error
		want blobstore.Class
		is   error // the sentinel, if any
		text string
	}{
		{"wrong key", responseError(403, "AuthenticationFailed"), blobstore.Refused, blobstore.ErrRefused, "storage refused blobvalet's credentials: 403 AuthenticationFailed"},
		{"no token", responseError(401, "InvalidAuthenticationInfo"), blobstore.Refused, blobstore.ErrRefused, "401 InvalidAuthenticationInfo"},
		{"missing role", responseError(403, "AuthorizationPermissionMismatch"), blobstore.Refused, blobstore.ErrRefused, "403 AuthorizationPermissionMismatch"},
		{"busy", responseError(503, "ServerBusy"), blobstore.Throttled, blobstore.ErrThrottled, "storage is throttling blobvalet: 503 ServerBusy"},
		{"too many", responseError(429, ""), blobstore.Throttled, blobstore.ErrThrottled, "429"},
		{"missing", responseError(404, "BlobNotFound"), blobstore.NotFound, blobstore.ErrNotFound, "404 BlobNotFound"},
		{"taken", responseError(409, "BlobAlreadyExists"), blobstore.Taken, blobstore.ErrTaken, "the name is taken in storage: 409 BlobAlreadyExists"},
		{"changed", responseError(412, "ConditionNotMet"), blobstore.Changed, blobstore.ErrChanged, "the blob changed in storage: 412 ConditionNotMet"},
		{"timed out inside", responseError(500, "OperationTimedOut"), blobstore.Slow, blobstore.ErrSlow, "500 OperationTimedOut"},
		{"internal", responseError(500, "InternalError"), blobstore.Failed, nil, "storage failed: 500 InternalError"},
		{"refused connection", dial, blobstore.Unreachable, blobstore.ErrUnreachable, "storage cannot be reached: dial tcp: connection refused"},
		{"DNS", &url.Error{Op: "Get", URL: "https://x/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}}, blobstore.Unreachable, blobstore.ErrUnreachable, "no such host"},
		{"deadline", fmt.Errorf("try: %w", context.DeadlineExceeded), blobstore.Slow, blobstore.ErrSlow, "storage did not answer in time: try: context deadline exceeded"},
		{"not storage", errors.New("queue blobvalet-events is missing"), blobstore.Failed, nil, "queue blobvalet-events is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
			w := Wrap(tt.err)
			if tt.is != nil && !errors.Is(w, tt.is) {
				t.Errorf("not %v", tt.is)
			}
			for _, other := range []error{blobstore.ErrNotFound, blobstore.ErrChanged, blobstore.ErrTaken, blobstore.ErrRefused} {
				if !errors.Is(other, tt.is) && errors.Is(w, other) {
					t.Errorf("also %v", other)
				}
			}
			if !errors.Is(w, tt.err) && !errors.Is(w, errors.Unwrap(tt.err)) {
				t.Error("Wrap does not unwrap to the cause")
			}
			if s := w.Error(); !strings.Contains(s, tt.text) || strings.Contains(s, "\n") {
				t.Errorf("text %q, want one line with %q", s, tt.text)
			}
			if again := Wrap(w); again.Error() != w.Error() {
				t.Errorf("wrapped twice: %q", again)
			}
		})
	}
	if Wrap(nil) != nil {
		t.Error("Wrap(nil) != nil")
	}
}
