package authn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/blobvalet/blobvalet/authz"
)

func TestAuthenticate(t *testing.T) {
	a, err := New(context.Background(), Options{
		Tokens:        []Token{{Secret: "alice-token-0123456789", User: authz.User{ID: "alice", Groups: []string{"staff"}}}},
		TrustedHeader: &TrustedHeader{User: "X-Forwarded-User", Groups: "X-Forwarded-Groups", Proxies: cidrs(t, "10.0.0.0/8", "::1/128")},
	})
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
		// A header sent twice: which one the proxy meant is a guess.
		{"repeated user header", map[string]string{"X-Forwarded-User": "alice\nbob"}, "10.1.1.1:1", "", nil, ErrBadCredential},
		{"repeated groups header", map[string]string{"X-Forwarded-User": "carol", "X-Forwarded-Groups": "staff\nadmin"}, "10.1.1.1:1", "", nil, ErrBadCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/sas", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				for _, v := range strings.Split(v, "\n") {
					r.Header.Add(k, v)
				}
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

// TestCookieCSRF: a request authenticated by the JWT cookie must come from
// the service's own origin or one in cors_origins; a cross-site form post
// carries the cookie too, and is refused.
func TestCookieCSRF(t *testing.T) {
	secret := "an-application-secret-of-32-bytes!!"
	jwt := jwtOptions("https://app.example.com")
	jwt.HS256Secret, jwt.Cookie = []byte(secret), "session"
	a, err := New(context.Background(), Options{JWT: &jwt, CookieOrigins: []string{"https://app.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, signingKey{jose.HS256, "", []byte(secret), nil}, map[string]any{
		"iss": "https://app.example.com", "aud": "blobvalet", "sub": "bob", "exp": time.Now().Add(time.Hour).Unix()})
	tests := []struct {
		name   string
		header map[string]string
		ok     bool
		url    string // the request's URL; "" is https://blobvalet.example.com/success
	}{
		{"same-origin fetch", map[string]string{SecFetchSite: "same-origin"}, true, ""},
		{"own origin, default port named", map[string]string{"Origin": "https://blobvalet.example.com:443"}, true, ""},
		{"own host, other scheme", map[string]string{"Origin": "http://blobvalet.example.com"}, false, ""},
		{"own host, other port", map[string]string{"Origin": "https://blobvalet.example.com:8443"}, false, ""},
		{"https page, plain connection", map[string]string{"Origin": "https://blobvalet.example.com"}, false, "http://blobvalet.example.com/success"},
		{"own origin, plain connection", map[string]string{"Origin": "http://blobvalet.example.com"}, true, "http://blobvalet.example.com/success"},
		{"own origin and port", map[string]string{"Origin": "https://blobvalet.example.com:8443"}, true, "https://blobvalet.example.com:8443/success"},
		{"own origin", map[string]string{"Origin": "https://blobvalet.example.com"}, true, ""},
		{"allowed origin", map[string]string{"Origin": "https://app.example.com", SecFetchSite: "same-site"}, true, ""},
		{"cross-site form post", map[string]string{"Origin": "https://evil.example", SecFetchSite: "cross-site"}, false, ""},
		{"cross-site, old browser", map[string]string{"Origin": "https://evil.example"}, false, ""},
		{"look-alike origin", map[string]string{"Origin": "https://blobvalet.example.com.evil.example"}, false, ""},
		{"null origin", map[string]string{"Origin": "null"}, false, ""},
		{"no origin at all", nil, false, ""},
		{"same-site, other origin", map[string]string{SecFetchSite: "same-site"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.url
			if target == "" {
				target = "https://blobvalet.example.com/success"
			}
			r := httptest.NewRequest("POST", target, nil)
			r.AddCookie(&http.Cookie{Name: "session", Value: tok})
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			u, err := a.Authenticate(r)
			if tt.ok && (err != nil || u.ID != "bob") {
				t.Fatalf("refused: %+v %v", u, err)
			}
			if !tt.ok && !errors.Is(err, ErrBadCredential) {
				t.Fatalf("accepted: %+v %v", u, err)
			}
		})
	}
	// A bearer token is not sent by the browser on its own: no origin check.
	r := httptest.NewRequest("GET", "https://blobvalet.example.com/sas", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Origin", "https://elsewhere.example")
	if u, err := a.Authenticate(r); err != nil || u.ID != "bob" {
		t.Errorf("bearer from another origin: %+v %v", u, err)
	}
}

func cidrs(t *testing.T, ss ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}
