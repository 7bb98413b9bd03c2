package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/sas"
	"github.com/blobvalet/blobvalet/staging"
)

// BenchmarkSASWithJWT is BenchmarkSAS with a JSON Web Token instead of a
// static token: after the first request the verified token comes from the
// cache.
func BenchmarkSASWithJWT(b *testing.B) {
	const secret = "an-application-secret-of-32-bytes!!"
	cfg, err := config.Parse([]byte(`
storage: {account: acct, key_env: KEY}
auth: {jwt: {issuer: "https://app.example.com", audience: blobvalet, hs256_secret_env: SECRET}}
rules: [{name: own-folder, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT]}]
staging: {container: incoming}
`), func(k string) string { return map[string]string{"KEY": testKey, "SECRET": secret}[k] })
	if err != nil {
		b.Fatal(err)
	}
	auth, err := authn.New(context.Background(), cfg.Auth)
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := sas.NewSharedKeySigner(cfg.Resolver(), cfg.Storage.Account, cfg.Storage.AccountKey(), false)
	srv := New(Options{Logger: zap.NewNop(), Auth: auth, Policy: cfg.Policy(), Resolver: cfg.Resolver(), Signer: signer, Lifetime: 10 * time.Minute, Staging: staging.Area{Container: "incoming"}})
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	tok, _ := jwt.Signed(s).Claims(map[string]any{"iss": "https://app.example.com", "aud": "blobvalet", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
	target := sasQuery(endpoint+"/uploads/users/alice/0f8fad5b-d9cb-469f-a165-70867728950e.jpg", "PUT")
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body)
		}
	}
	if n := auth.JWT().Verifications(); n != 1 {
		b.Errorf("%d verifications, want 1", n)
	}
}
