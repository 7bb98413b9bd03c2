package storageerr

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
		want Class
		text string
	}{
		{"wrong key", responseError(403, "AuthenticationFailed"), Refused, "storage refused blobvalet's credentials: 403 AuthenticationFailed"},
		{"no token", responseError(401, "InvalidAuthenticationInfo"), Refused, "401 InvalidAuthenticationInfo"},
		{"missing role", responseError(403, "AuthorizationPermissionMismatch"), Refused, "403 AuthorizationPermissionMismatch"},
		{"busy", responseError(503, "ServerBusy"), Throttled, "storage is throttling blobvalet: 503 ServerBusy"},
		{"too many", responseError(429, ""), Throttled, "429"},
		{"missing", responseError(404, "BlobNotFound"), NotFound, "404 BlobNotFound"},
		{"taken", responseError(409, "BlobAlreadyExists"), Conflict, "409 BlobAlreadyExists"},
		{"changed", responseError(412, "ConditionNotMet"), Conflict, "412 ConditionNotMet"},
		{"timed out inside", responseError(500, "OperationTimedOut"), Slow, "500 OperationTimedOut"},
		{"internal", responseError(500, "InternalError"), Failed, "storage failed: 500 InternalError"},
		{"refused connection", dial, Unreachable, "storage cannot be reached: dial tcp: connection refused"},
		{"DNS", &url.Error{Op: "Get", URL: "https://x/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}}, Unreachable, "no such host"},
		{"deadline", fmt.Errorf("try: %w", context.DeadlineExceeded), Slow, "storage did not answer in time: try: context deadline exceeded"},
		{"not storage", errors.New("queue blobvalet-events is missing"), Failed, "queue blobvalet-events is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
			w := Wrap(tt.err)
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
