package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/blobvalet/blobvalet/authz"
)

// testIssuer is a local OIDC issuer: discovery and a JWKS that can change.
type testIssuer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []jose.JSONWebKey // public
	// onJWKS, when set, runs before the key set is served; false means it
	// answered already.
	onJWKS func(w http.ResponseWriter, r *http.Request) bool
}

func newTestIssuer(t *testing.T) *testIssuer {
	iss := &testIssuer{}
	iss.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		keys, hook := iss.keys, iss.onJWKS
		iss.mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks"})
		case "/jwks":
			if hook != nil && !hook(w, r) {
				return
			}
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(iss.Close)
	return iss
}

func (iss *testIssuer) setOnJWKS(f func(w http.ResponseWriter, r *http.Request) bool) {
	iss.mu.Lock()
	iss.onJWKS = f
	iss.mu.Unlock()
}

type signingKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv any
	pub  any
}

func rsaKey(t *testing.T, kid string) signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{jose.RS256, kid, k, &k.PublicKey}
}

func ecKey(t *testing.T, kid string) signingKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{jose.ES256, kid, k, &k.PublicKey}
}

func (iss *testIssuer) publish(keys ...signingKey) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys = nil
	for _, k := range keys {
		iss.keys = append(iss.keys, jose.JSONWebKey{Key: k.pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
}

func sign(t *testing.T, k signingKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// jwtOptions are the options the configuration gives by default, with
// the issuer and audience set.
func jwtOptions(issuer string) JWTOptions {
	return JWTOptions{Issuer: issuer, Audience: "blobvalet", Leeway: 30 * time.Second}
}

func TestJWTFromOIDCIssuer(t *testing.T) {
	iss := newTestIssuer(t)
	r1, e1 := rsaKey(t, "r1"), ecKey(t, "e1")
	iss.publish(r1, e1)
	clk := &clock{t: time.Now()}
	cfg := jwtOptions(iss.URL)
	cfg.GroupsClaim = "groups"
	v, err := NewJWTVerifier(context.Background(), cfg, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": iss.URL, "aud": "blobvalet", "sub": "alice", "groups": []string{"staff"},
			"exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	other := rsaKey(t, "r1") // same kid, other key: a bad signature
	pubDER, _ := x509.MarshalPKIXPublicKey(r1.pub)
	confused := sign(t, signingKey{jose.HS256, "r1", pubDER, nil}, claims(nil))
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	payload, _ := json.Marshal(claims(nil))
	algNone := noneHeader + "." + base64.RawURLEncoding.EncodeToString(payload) + "."

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256", sign(t, r1, claims(nil)), true},
		{"ES256", sign(t, e1, claims(nil)), true},
		{"within leeway", sign(t, r1, claims(func(c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() })), true},
		{"expired", sign(t, r1, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"not yet valid", sign(t, r1, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })), false},
		{"no exp", sign(t, r1, claims(func(c map[string]any) { delete(c, "exp") })), false},
		{"wrong audience", sign(t, r1, claims(func(c map[string]any) { c["aud"] = "other" })), false},
		{"wrong issuer", sign(t, r1, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), false},
		{"bad signature", sign(t, other, claims(nil)), false},
		{"alg none", algNone, false},
		{"HS256 with the public key", confused, false},
		{"unknown kid", sign(t, rsaKey(t, "nope"), claims(nil)), false},
		{"no user claim", sign(t, r1, claims(func(c map[string]any) { delete(c, "sub") })), false},
		{"garbage", "not.a.jwt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := v.Verify(context.Background(), tt.token)
			if tt.ok && (err != nil || u.ID != "alice" || len(u.Groups) != 1 || u.Groups[0] != "staff") {
				t.Fatalf("user %+v, error %v", u, err)
			}
			if !tt.ok && !errors.Is(err, ErrBadCredential) {
				t.Fatalf("accepted (%+v), error %v", u, err)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) {
				t.Error("error holds the token")
			}
		})
	}

	// The issuer rotates its key: a token with the new kid is accepted
	// within seconds.
	r2 := rsaKey(t, "r2")
	iss.publish(r2)
	clk.set(clk.now().Add(5 * time.Second))
	now = clk.now()
	if u, err := v.Verify(context.Background(), sign(t, r2, claims(nil))); err != nil || u.ID != "alice" {
		t.Fatalf("after rotation: %+v %v", u, err)
	}
}

func TestJWTCache(t *testing.T) {
	iss := newTestIssuer(t)
	r1 := rsaKey(t, "r1")
	iss.publish(r1)
	clk := &clock{t: time.Now()}
	v, err := NewJWTVerifier(context.Background(), JWTOptions{Issuer: iss.URL, Audience: "blobvalet", Leeway: 10 * time.Second}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	exp := clk.now().Add(2 * time.Minute)
	tok := sign(t, r1, map[string]any{"iss": iss.URL, "aud": "blobvalet", "sub": "alice", "exp": exp.Unix()})
	for range 250 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Verifications(); n != 1 {
		t.Errorf("%d signature verifications for 250 requests, want 1", n)
	}
	if n := v.KeyFetches(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
	clk.set(exp.Add(11 * time.Second))
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrBadCredential) {
		t.Fatalf("cached token used after exp+leeway: %v", err)
	}
}

// TestJWTUnknownKidFlood sends many forged tokens with made-up key ids, at
// once and spread over time: the issuer's key set is fetched at most once
// per unknownKidInterval, not for each.
func TestJWTUnknownKidFlood(t *testing.T) {
	iss := newTestIssuer(t)
	r1 := rsaKey(t, "r1")
	iss.publish(r1)
	clk := &clock{t: time.Now()}
	v, err := NewJWTVerifier(context.Background(), jwtOptions(iss.URL), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": iss.URL, "aud": "blobvalet", "sub": "mallory", "exp": clk.now().Add(time.Hour).Unix()}
	forger := ecKey(t, "")
	forged := make([]string, 100)
	for i := range forged {
		forger.kid = fmt.Sprintf("made-up-%d", i)
		forged[i] = sign(t, forger, claims)
	}

	// All at once.
	var wg sync.WaitGroup
	for _, tok := range forged {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrBadCredential) {
				t.Errorf("forged token accepted: %v", err)
			}
		})
	}
	wg.Wait()
	if n := v.KeyFetches(); n > 1 {
		t.Errorf("100 forged tokens at once caused %d key set fetches, want at most 1", n)
	}

	// One every 200 ms for 20 s.
	start := v.KeyFetches()
	for _, tok := range forged {
		clk.set(clk.now().Add(200 * time.Millisecond))
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrBadCredential) {
			t.Fatalf("forged token accepted: %v", err)
		}
	}
	if n, most := v.KeyFetches()-start, int(20*time.Second/unknownKidInterval); n > most {
		t.Errorf("100 forged tokens over 20 s caused %d key set fetches, want at most %d", n, most)
	}

	claims["sub"] = "alice"
	if _, err := v.Verify(context.Background(), sign(t, r1, claims)); err != nil {
		t.Fatalf("a good token after the flood: %v", err)
	}
}

func TestJWTCacheIsBounded(t *testing.T) {
	c := newTokenCache(3)
	now := time.Now()
	for i := range 10 {
		c.put([32]byte{byte(i)}, userN(i), now.Add(time.Minute), now)
	}
	if len(c.m) > 3 {
		t.Fatalf("cache holds %d entries, limit 3", len(c.m))
	}
}

func TestJWTHS256(t *testing.T) {
	secret := "an-application-secret-of-32-bytes!!"
	cfg := jwtOptions("https://app.example.com")
	cfg.HS256Secret, cfg.Cookie = []byte(secret), "session"
	v, err := NewJWTVerifier(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Authenticator{jwt: v, cookie: cfg.Cookie}
	good := map[string]any{"iss": "https://app.example.com", "aud": "blobvalet", "sub": "bob", "exp": time.Now().Add(time.Hour).Unix()}
	tok := sign(t, signingKey{jose.HS256, "", []byte(secret), nil}, good)
	for name, r := range map[string]*http.Request{"bearer": bearer(tok), "cookie": withCookie(tok)} {
		if u, err := a.Authenticate(r); err != nil || u.ID != "bob" {
			t.Errorf("%s: %+v %v", name, u, err)
		}
	}
	for name, bad := range map[string]string{
		"other secret": sign(t, signingKey{jose.HS256, "", []byte("another-secret-of-thirty-two-bytes"), nil}, good),
		"RS256":        sign(t, rsaKey(t, "r"), good),
		"wrong issuer": sign(t, signingKey{jose.HS256, "", []byte(secret), nil}, map[string]any{"iss": "x", "aud": "blobvalet", "sub": "bob", "exp": time.Now().Add(time.Hour).Unix()}),
	} {
		if _, err := a.Authenticate(bearer(bad)); !errors.Is(err, ErrBadCredential) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
}

func TestJWTDiscoveryFailureNamesTheField(t *testing.T) {
	cfg := jwtOptions("http://127.0.0.1:1/")
	_, err := NewJWTVerifier(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "auth.jwt.issuer") {
		t.Fatalf("error %v, want one naming auth.jwt.issuer", err)
	}
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/sas", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func withCookie(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/sas", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: tok})
	r.Header.Set(SecFetchSite, "same-origin")
	return r
}

func FuzzUserFromClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"alice","exp":1900000000,"groups":["a","b"]}`))
	f.Add([]byte(`{"sub":"alice","exp":1900000000,"nbf":"x","groups":"a b,c"}`))
	f.Add([]byte(`[]`))
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, exp, err := UserFromClaims(raw, "sub", "groups", now, time.Minute)
		if err != nil {
			return
		}
		if u.ID == "" || now.After(exp) {
			t.Fatalf("accepted user %+v until %v", u, exp)
		}
	})
}

func userN(i int) authz.User { return authz.User{ID: fmt.Sprint(i)} }
