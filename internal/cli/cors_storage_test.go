package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStorageErrorSaysWhatToCheck: when the storage service refuses, the
// command says what failed, with the status and error code, and what to
// check, instead of only the request's URL.
func TestCorsStorageErrorSaysWhatToCheck(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   []string
	}{
		{http.StatusForbidden, "AuthenticationFailed", []string{"cannot read the service properties", "403 AuthenticationFailed", "check that the account key"}},
		{http.StatusForbidden, "AuthorizationPermissionMismatch", []string{"403 AuthorizationPermissionMismatch", "may read and write the account's service properties"}},
		{http.StatusNotFound, "ResourceNotFound", []string{"404 ResourceNotFound", "check the account name and endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("x-ms-error-code", tt.code)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			conn := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5a2V5;BlobEndpoint=" + srv.URL + "/devstoreaccount1;"
			var out, errOut bytes.Buffer
			if code := runCors(context.Background(), Process{}, []string{"show", "--connection-string", conn}, &out, &errOut); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q does not say %q", errOut.String(), w)
				}
			}
			if strings.Contains(errOut.String(), "a2V5a2V5") {
				t.Error("stderr holds the key")
			}
		})
	}
}
