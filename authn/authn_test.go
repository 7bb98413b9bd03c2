package authn

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/blobvalet/blobvalet/config"
)

func TestAuthenticate(t *testing.T) {
	cfg, err := config.Parse([]byte(`
storage: {account: acct, key_env: KEY}
auth:
  tokens: [{user: alice, token_env: ALICE, groups: [staff]}]
  trusted_header: {user: X-Forwarded-User, groups: X-Forwarded-Groups, trusted_proxies: ["10.0.0.0/8", "::1/128"]}
rules: [{name: r, users: ["*"], container: uploads, blobs: "**", methods: [PUT]}]
staging: {container: incoming}
`), func(k string) string {
		return map[string]string{"KEY": "a2V5", "ALICE": "alice-token-0123456789"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg.Auth)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		header  map[string]string
		remote  string
		user    string
		groups  []string
		wantErr error
	}{
		{"bearer", map[string]string{"Authorization": "Bearer alice-token-0123456789"}, "192.0.2.1:1", "alice", []string{"staff"}, nil},
		{"bearer, any case", map[string]string{"Authorization": "bearer alice-token-0123456789"}, "192.0.2.1:1", "alice", []string{"staff"}, nil},
		{"wrong token", map[string]string{"Authorization": "Bearer alice-token-012345678"}, "192.0.2.1:1", "", nil, ErrBadCredential},
		{"basic", map[string]string{"Authorization": "Basic YTpi"}, "192.0.2.1:1", "", nil, ErrBadCredential},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, "192.0.2.1:1", "", nil, ErrBadCredential},
		{"bad token beats header", map[string]string{"Authorization": "Bearer nope", "X-Forwarded-User": "carol"}, "10.1.1.1:1", "", nil, ErrBadCredential},
		{"trusted proxy", map[string]string{"X-Forwarded-User": "carol", "X-Forwarded-Groups": "staff, ops,,"}, "10.1.1.1:1", "carol", []string{"staff", "ops"}, nil},
		{"trusted proxy over IPv6", map[string]string{"X-Forwarded-User": "carol"}, "[::1]:1", "carol", nil, nil},
		{"untrusted connection", map[string]string{"X-Forwarded-User": "carol"}, "192.0.2.1:1", "", nil, ErrNoCredential},
		{"nothing", nil, "10.1.1.1:1", "", nil, ErrNoCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/sas", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			u, err := a.Authenticate(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if u.ID != tt.user || !slices.Equal(u.Groups, tt.groups) {
				t.Errorf("user %+v, want %s %v", u, tt.user, tt.groups)
			}
		})
	}
}
