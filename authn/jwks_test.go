package authn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySetFixture is a verifier on a test issuer that has served its first
// key set, with a settable clock.
type keySetFixture struct {
	iss    *testIssuer
	clk    *clock
	v      *JWTVerifier
	r1     signingKey
	claims map[string]any
}

func newKeySetFixture(t *testing.T) *keySetFixture {
	t.Helper()
	f := &keySetFixture{iss: newTestIssuer(t), clk: &clock{t: time.Now()}, r1: rsaKey(t, "r1")}
	f.iss.publish(f.r1)
	v, err := NewJWTVerifier(context.Background(), jwtOptions(f.iss.URL), f.clk.now)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	f.claims = map[string]any{"iss": f.iss.URL, "aud": "blobvalet", "sub": "alice", "exp": f.clk.now().Add(time.Hour).Unix()}
	if _, err := v.Verify(context.Background(), sign(t, f.r1, f.claims)); err != nil {
		t.Fatal(err)
	}
	return f
}

// blockJWKS makes the issuer hold every key-set request until release is
// called; requested is signalled as each arrives, and aborted counts the
// requests whose client gave up.
func (f *keySetFixture) blockJWKS() (requested <-chan struct{}, aborted *atomic.Int32, release func()) {
	req := make(chan struct{}, 10)
	gate := make(chan struct{})
	aborted = new(atomic.Int32)
	f.iss.setOnJWKS(func(w http.ResponseWriter, r *http.Request) bool {
		req <- struct{}{}
		select {
		case <-gate:
			return true
		case <-r.Context().Done():
			aborted.Add(1)
			return false
		}
	})
	var once sync.Once
	return req, aborted, func() { once.Do(func() { close(gate) }) }
}

// TestJWKSFetchOutlivesCaller: a caller that goes away while the key set is
// being fetched for its new key id does not cancel the fetch, and the next
// token with that key id is accepted without waiting out any back-off.
func TestJWKSFetchOutlivesCaller(t *testing.T) {
	f := newKeySetFixture(t)
	r2 := rsaKey(t, "r2")
	f.iss.publish(f.r1, r2)
	requested, aborted, release := f.blockJWKS()
	defer release()
	f.clk.set(f.clk.now().Add(unknownKidInterval))

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-requested; cancel() }()
	if _, err := f.v.Verify(ctx, sign(t, r2, f.claims)); err == nil {
		t.Fatal("verified while the key set was still being fetched")
	}
	release()
	if u, err := f.v.Verify(context.Background(), sign(t, r2, f.claims)); err != nil || u.ID != "alice" {
		t.Fatalf("token with the new key after the first caller went away: %+v %v", u, err)
	}
	if n := aborted.Load(); n != 0 {
		t.Errorf("%d key-set fetches were cancelled with their caller", n)
	}
}

// TestJWKSSlowIssuerDoesNotBlockKnownKeys: while a forged key id has the key
// set fetched from a slow issuer, tokens with a known key id are verified
// without waiting for that fetch.
func TestJWKSSlowIssuerDoesNotBlockKnownKeys(t *testing.T) {
	f := newKeySetFixture(t)
	requested, aborted, release := f.blockJWKS()
	f.clk.set(f.clk.now().Add(unknownKidInterval))

	forged := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(context.Background(), sign(t, rsaKey(t, "made-up"), f.claims))
		forged <- err
	}()
	<-requested
	claims := map[string]any{"iss": f.iss.URL, "aud": "blobvalet", "sub": "bob", "exp": f.clk.now().Add(time.Hour).Unix()}
	u, err := f.v.Verify(context.Background(), sign(t, f.r1, claims))
	if n := aborted.Load(); n != 0 {
		t.Errorf("a token with a known key waited until the key-set fetch timed out")
	}
	if err != nil || u.ID != "bob" {
		t.Fatalf("token with a known key during a slow fetch: %+v %v", u, err)
	}
	release()
	if err := <-forged; !errors.Is(err, ErrBadCredential) {
		t.Fatalf("forged key id: %v", err)
	}
}

// TestJWKSFailedFetchDoesNotBackOff: a fetch that fails does not stop the
// next token from having the key set fetched.
func TestJWKSFailedFetchDoesNotBackOff(t *testing.T) {
	f := newKeySetFixture(t)
	r2 := rsaKey(t, "r2")
	f.iss.publish(f.r1, r2)
	var failures atomic.Int32
	f.iss.setOnJWKS(func(w http.ResponseWriter, r *http.Request) bool {
		if failures.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	f.clk.set(f.clk.now().Add(unknownKidInterval))
	tok := sign(t, r2, f.claims)
	if _, err := f.v.Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("first attempt: %v, want the issuer's 503", err)
	}
	if u, err := f.v.Verify(context.Background(), tok); err != nil || u.ID != "alice" {
		t.Fatalf("second attempt, same instant: %+v %v", u, err)
	}
}

// TestJWKSUnknownKidIsClipped: a huge made-up key id does not reach the
// error, and so the log, in full.
func TestJWKSUnknownKidIsClipped(t *testing.T) {
	f := newKeySetFixture(t)
	kid := strings.Repeat("k", 500_000)
	_, err := f.v.Verify(context.Background(), sign(t, rsaKey(t, kid), f.claims))
	if !errors.Is(err, ErrBadCredential) {
		t.Fatalf("forged token: %v", err)
	}
	if len(err.Error()) > 500 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
}

// TestJWTCompactOnly: the same signed token in JWS JSON serialization is
// refused, and never verified.
func TestJWTCompactOnly(t *testing.T) {
	f := newKeySetFixture(t)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: f.r1.alg, Key: jose.JSONWebKey{Key: f.r1.priv, KeyID: f.r1.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	f.claims["sub"] = "json"
	payload, _ := json.Marshal(f.claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	compact, _ := obj.CompactSerialize()
	if u, err := f.v.Verify(context.Background(), compact); err != nil || u.ID != "json" {
		t.Fatalf("compact form: %+v %v", u, err)
	}
	before := f.v.Verifications()
	for _, raw := range []string{obj.FullSerialize(), " " + obj.FullSerialize()} {
		if u, err := f.v.Verify(context.Background(), raw); !errors.Is(err, ErrBadCredential) {
			t.Errorf("JSON serialization accepted: %+v %v", u, err)
		}
	}
	if n := f.v.Verifications() - before; n != 0 {
		t.Errorf("%d signatures checked for tokens in JSON serialization", n)
	}
}
