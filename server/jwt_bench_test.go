package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/blobvalet/blobvalet/authn"
)

// BenchmarkSASWithJWT is BenchmarkSAS with a JSON Web Token instead of a
// static token: after the first request the verified token comes from the
// cache.
func BenchmarkSASWithJWT(b *testing.B) {
	const secret = "an-application-secret-of-32-bytes!!"
	o := testOptions(b)
	auth, err := authn.New(context.Background(), authn.Options{JWT: &authn.JWTOptions{
		Issuer: "https://app.example.com", Audience: "blobvalet", HS256Secret: []byte(secret), Leeway: 30 * time.Second,
	}})
	if err != nil {
		b.Fatal(err)
	}
	o.Auth = auth
	srv := mustNew(b, o)
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
