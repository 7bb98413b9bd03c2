package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/config"
)

// keyRefresh is how old the issuer's keys may get before a request fetches
// them anew; a token naming a key id not known yet also does, at most once
// every unknownKidInterval.
const keyRefresh = 15 * time.Minute

// asymmetricAlgs are the algorithms accepted from an issuer's key set. An
// HS256 token is never checked against a public key.
var asymmetricAlgs = []string{oidc.RS256, oidc.ES256}

// JWTVerifier checks JSON Web Tokens and maps their claims to users. It
// remembers verified tokens until they expire, so that the hundreds of
// signature requests of one large upload verify the signature once.
type JWTVerifier struct {
	cfg    config.JWT
	now    func() time.Time
	verify func(ctx context.Context, raw string) ([]byte, error) // signature, iss, aud

	cache    *tokenCache
	verified atomic.Int64
	keys     *jwksKeySet // nil with HS256
}

// Verifications returns how many token signatures were checked.
func (v *JWTVerifier) Verifications() int64 { return v.verified.Load() }

// NewJWTVerifier sets up verification for cfg. With an issuer and no other
// key source it runs OIDC discovery, so it needs the network at start.
func NewJWTVerifier(ctx context.Context, cfg config.JWT, now func() time.Time) (*JWTVerifier, error) {
	if now == nil {
		now = time.Now
	}
	v := &JWTVerifier{cfg: cfg, now: now, cache: newTokenCache(cfg.CacheSize)}
	switch {
	case cfg.HS256Secret() != nil:
		v.verify = v.verifyHS256
	default:
		jwksURL := cfg.JWKSURL
		if jwksURL == "" {
			p, err := oidc.NewProvider(ctx, cfg.Issuer)
			if err != nil {
				return nil, fmt.Errorf("auth.jwt.issuer %s: OIDC discovery failed: %w", cfg.Issuer, err)
			}
			var meta struct {
				JWKSURL string `json:"jwks_uri"`
			}
			if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
				return nil, fmt.Errorf("auth.jwt.issuer %s: discovery document has no jwks_uri", cfg.Issuer)
			}
			jwksURL = meta.JWKSURL
		}
		keys := &jwksKeySet{url: jwksURL, client: http.DefaultClient, now: now}
		idv := oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
			ClientID:             cfg.Audience,
			SupportedSigningAlgs: asymmetricAlgs,
			SkipExpiryCheck:      true, // checked below, with the configured leeway
		})
		v.keys = keys
		v.verify = func(ctx context.Context, raw string) ([]byte, error) {
			tok, err := idv.Verify(ctx, raw)
			if err != nil {
				return nil, err
			}
			var claims json.RawMessage
			if err := tok.Claims(&claims); err != nil {
				return nil, err
			}
			return claims, nil
		}
	}
	return v, nil
}

// KeyFetches returns how many times the issuer's key set was fetched.
func (v *JWTVerifier) KeyFetches() int {
	if v.keys == nil {
		return 0
	}
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	return v.keys.fetches
}

func (v *JWTVerifier) verifyHS256(_ context.Context, raw string) ([]byte, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, err
	}
	var claims json.RawMessage
	if err := tok.Claims(v.cfg.HS256Secret(), &claims); err != nil {
		return nil, err
	}
	var std jwt.Claims
	if err := json.Unmarshal(claims, &std); err != nil {
		return nil, err
	}
	if std.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("issuer %q is not %q", std.Issuer, v.cfg.Issuer)
	}
	if !slices.Contains([]string(std.Audience), v.cfg.Audience) {
		return nil, fmt.Errorf("audience %q does not include %q", []string(std.Audience), v.cfg.Audience)
	}
	return claims, nil
}

// Verify checks a raw token and returns its user.
func (v *JWTVerifier) Verify(ctx context.Context, raw string) (authz.User, error) {
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if u, ok := v.cache.get(key, now); ok {
		return u, nil
	}
	v.verified.Add(1)
	claims, err := v.verify(ctx, raw)
	if err != nil {
		return authz.User{}, fmt.Errorf("%w: %v", ErrBadCredential, err)
	}
	u, exp, err := UserFromClaims(claims, v.cfg.UserClaim, v.cfg.GroupsClaim, now, time.Duration(v.cfg.Leeway))
	if err != nil {
		return authz.User{}, fmt.Errorf("%w: %v", ErrBadCredential, err)
	}
	v.cache.put(key, u, exp, now)
	return u, nil
}

// UserFromClaims checks a verified token's times and maps its claims to a
// user. It returns the time after which the token is no longer valid.
func UserFromClaims(raw []byte, userClaim, groupsClaim string, now time.Time, leeway time.Duration) (authz.User, time.Time, error) {
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return authz.User{}, time.Time{}, errors.New("claims are not a JSON object")
	}
	exp, ok := numericDate(c["exp"])
	if !ok {
		return authz.User{}, time.Time{}, errors.New("token has no exp")
	}
	if now.After(exp.Add(leeway)) {
		return authz.User{}, time.Time{}, fmt.Errorf("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := numericDate(c["nbf"]); ok && now.Add(leeway).Before(nbf) {
		return authz.User{}, time.Time{}, fmt.Errorf("token not valid before %s", nbf.UTC().Format(time.RFC3339))
	} else if !ok && c["nbf"] != nil {
		return authz.User{}, time.Time{}, errors.New("nbf is not a number")
	}
	id, ok := c[userClaim].(string)
	if !ok || id == "" {
		return authz.User{}, time.Time{}, fmt.Errorf("claim %q is missing or not a string", userClaim)
	}
	u := authz.User{ID: id}
	if groupsClaim != "" {
		switch g := c[groupsClaim].(type) {
		case []any:
			for _, x := range g {
				if s, ok := x.(string); ok && s != "" {
					u.Groups = append(u.Groups, s)
				}
			}
		case string:
			u.Groups = strings.FieldsFunc(g, func(r rune) bool { return r == ',' || r == ' ' })
		}
	}
	return u, exp.Add(leeway), nil
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// tokenCache remembers verified tokens, keyed by their SHA-256, until they
// expire. It holds at most size entries: when full, expired entries go
// first, then arbitrary ones.
type tokenCache struct {
	mu   sync.Mutex
	size int
	m    map[[sha256.Size]byte]cached
}

type cached struct {
	user authz.User
	exp  time.Time
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, m: make(map[[sha256.Size]byte]cached)}
}

func (c *tokenCache) get(k [sha256.Size]byte, now time.Time) (authz.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return authz.User{}, false
	}
	if now.After(e.exp) {
		delete(c.m, k)
		return authz.User{}, false
	}
	return e.user, true
}

func (c *tokenCache) put(k [sha256.Size]byte, u authz.User, exp, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		for key, e := range c.m {
			if now.After(e.exp) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.size {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = cached{user: u, exp: exp}
}

// unknownKidInterval is how often a token naming a key id not seen yet may
// make the key set be fetched again.
const unknownKidInterval = 30 * time.Second

// jwksKeySet is an issuer's key set, fetched at most every keyRefresh, and
// again when a token names an unknown key id, but then at most once every
// unknownKidInterval: a flood of forged tokens with made-up key ids must not
// become a flood of requests to the issuer.
type jwksKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]jose.JSONWebKey
	fetched   time.Time // when keys were fetched
	attempted time.Time // when a fetch was last tried
	fetches   int
}

// VerifySignature implements oidc.KeySet.
func (k *jwksKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	tok, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(tok.Signatures) != 1 {
		return nil, errors.New("malformed token")
	}
	kid := tok.Signatures[0].Header.KeyID
	key, err := k.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	return tok.Verify(key)
}

func (k *jwksKeySet) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	key, ok := k.keys[kid]
	stale := now.Sub(k.fetched) >= keyRefresh
	if (!ok || stale) && now.Sub(k.attempted) >= unknownKidInterval {
		k.attempted = now
		if err := k.fetch(ctx); err != nil && !ok {
			return jose.JSONWebKey{}, err
		}
		key, ok = k.keys[kid]
	}
	if !ok {
		return jose.JSONWebKey{}, fmt.Errorf("unknown key id %q", kid)
	}
	return key, nil
}

func (k *jwksKeySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	k.fetches++
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch keys: %s answered %d", k.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, key := range set.Keys {
		if key.Use == "" || key.Use == "sig" {
			keys[key.KeyID] = key
		}
	}
	k.keys, k.fetched = keys, k.now()
	return nil
}

// tokenFrom finds a JWT in the request: the bearer token, else the cookie.
func tokenFrom(r *http.Request, cookie string) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	if cookie != "" {
		if c, err := r.Cookie(cookie); err == nil {
			return c.Value
		}
	}
	return ""
}
