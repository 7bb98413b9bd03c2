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
	"github.com/blobvalet/blobvalet/errs"
)

// keyRefresh is how old the issuer's keys may get before they are fetched
// anew; a token naming a key id not known yet also has them fetched, at most
// once every unknownKidInterval.
const keyRefresh = 15 * time.Minute

// asymmetricAlgs are the algorithms accepted from an issuer's key set. An
// HS256 token is never checked against a public key.
var asymmetricAlgs = []string{oidc.RS256, oidc.ES256}

// JWTOptions configure JSON Web Token verification. The keys come from
// OIDC discovery at Issuer, or from JWKSURL, or are one HS256 secret.
type JWTOptions struct {
	// Issuer is the iss claim tokens must carry, and the discovery base.
	Issuer string
	// JWKSURL, if set, is the key set's URL instead of discovery.
	JWKSURL string
	// HS256Secret, if set, verifies HS256 tokens instead of a key set.
	HS256Secret []byte
	// Audience is the aud value tokens must carry.
	Audience string
	// Leeway allows for clock skew on exp and nbf.
	Leeway time.Duration
	// UserClaim holds the user id; "" means sub.
	UserClaim string
	// GroupsClaim, if set, holds the groups.
	GroupsClaim string
	// Cookie, if set, names a cookie the token may come in.
	Cookie string
	// CacheSize bounds the verified tokens remembered; 0 means 10000.
	CacheSize int
}

// JWTVerifier checks JSON Web Tokens and maps their claims to users. It
// remembers verified tokens until they expire, so that the hundreds of
// signature requests of one large upload verify the signature once.
type JWTVerifier struct {
	cfg    JWTOptions
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
func NewJWTVerifier(ctx context.Context, cfg JWTOptions, now func() time.Time) (*JWTVerifier, error) {
	if now == nil {
		now = time.Now //nolint:forbidigo // the default clock
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	v := &JWTVerifier{cfg: cfg, now: now, cache: newTokenCache(cfg.CacheSize)}
	switch {
	case cfg.HS256Secret != nil:
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
	if err := tok.Claims(v.cfg.HS256Secret, &claims); err != nil {
		return nil, err
	}
	var std jwt.Claims
	if err := json.Unmarshal(claims, &std); err != nil {
		return nil, err
	}
	if std.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("issuer %q is not %q", errs.Clip(std.Issuer), v.cfg.Issuer)
	}
	if !slices.Contains([]string(std.Audience), v.cfg.Audience) {
		return nil, fmt.Errorf("audience %s does not include %q", errs.Clip(fmt.Sprintf("%q", []string(std.Audience))), v.cfg.Audience)
	}
	return claims, nil
}

// Verify checks a raw token and returns its user.
func (v *JWTVerifier) Verify(ctx context.Context, raw string) (authz.User, error) {
	if !isCompact(raw) {
		return authz.User{}, fmt.Errorf("%w: not a JWT in compact serialization", ErrBadCredential)
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if u, ok := v.cache.get(key, now); ok {
		return u, nil
	}
	v.verified.Add(1)
	claims, err := v.verify(ctx, raw)
	if err != nil {
		return authz.User{}, fmt.Errorf("%w: %s", ErrBadCredential, errs.Clip(err.Error()))
	}
	u, exp, err := UserFromClaims(claims, v.cfg.UserClaim, v.cfg.GroupsClaim, now, v.cfg.Leeway)
	if err != nil {
		return authz.User{}, fmt.Errorf("%w: %s", ErrBadCredential, errs.Clip(err.Error()))
	}
	v.cache.put(key, u, exp, now)
	return u, nil
}

// isCompact reports whether raw is a JWS in compact serialization: three
// base64url parts joined by dots, the last one possibly empty.
func isCompact(raw string) bool {
	if strings.Count(raw, ".") != 2 {
		return false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
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

// unknownKidInterval is the least time between two fetches of the key set
// caused by tokens naming key ids not known yet: short, so that tokens signed
// with a key the issuer has just rotated in work within seconds, and long
// enough that a flood of forged key ids costs the issuer at most one request
// per interval.
const unknownKidInterval = 5 * time.Second

// fetchTimeout bounds one fetch of the key set.
const fetchTimeout = 10 * time.Second

// jwksKeySet is an issuer's key set. It is fetched anew in the background
// once it is keyRefresh old, and when a token names an unknown key id, then
// at most once every unknownKidInterval after a successful fetch. A fetch
// runs on its own, never on the request that caused it, so a caller that
// goes away cannot cancel it, and at most one runs at a time: callers that
// need it wait for it, with their own deadline; callers whose key is known
// never wait for the network.
type jwksKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	keys     map[string]jose.JSONWebKey
	fetched  time.Time // when keys were last fetched successfully
	inflight *keyFetch // the fetch under way, or nil
	fetches  int
}

// keyFetch is one fetch of the key set; err is set before done is closed.
type keyFetch struct {
	done chan struct{}
	err  error
}

// VerifySignature implements oidc.KeySet. Only the compact serialization is
// accepted: the JSON one spells the same token in endless ways.
func (k *jwksKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	tok, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
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
	now := k.now()
	key, ok := k.keys[kid]
	switch {
	case ok:
		if now.Sub(k.fetched) >= keyRefresh {
			k.startFetch()
		}
		k.mu.Unlock()
		return key, nil
	case k.inflight == nil && now.Sub(k.fetched) < unknownKidInterval:
		k.mu.Unlock()
		return jose.JSONWebKey{}, fmt.Errorf("unknown key id %q", errs.Clip(kid))
	}
	f := k.startFetch()
	k.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return jose.JSONWebKey{}, fmt.Errorf("waiting for the key set: %w", ctx.Err())
	}
	k.mu.Lock()
	key, ok = k.keys[kid]
	k.mu.Unlock()
	switch {
	case ok:
		return key, nil
	case f.err != nil:
		return jose.JSONWebKey{}, f.err
	default:
		return jose.JSONWebKey{}, fmt.Errorf("unknown key id %q", errs.Clip(kid))
	}
}

// startFetch starts fetching the key set, unless a fetch is under way, and
// returns the fetch. k.mu must be held.
func (k *jwksKeySet) startFetch() *keyFetch {
	if k.inflight != nil {
		return k.inflight
	}
	f := &keyFetch{done: make(chan struct{})}
	k.inflight = f
	k.fetches++
	go func() {
		keys, err := k.fetch()
		k.mu.Lock()
		if err == nil {
			k.keys, k.fetched = keys, k.now()
		}
		k.inflight = nil
		k.mu.Unlock()
		f.err = err
		close(f.done)
	}()
	return f
}

func (k *jwksKeySet) fetch() (map[string]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch keys: %s answered %d", k.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, key := range set.Keys {
		if key.Use == "" || key.Use == "sig" {
			keys[key.KeyID] = key
		}
	}
	return keys, nil
}

// cookieToken returns the token in the named cookie, or "". Authenticate
// looks here only when there is no Authorization header.
func cookieToken(r *http.Request, cookie string) string {
	if cookie == "" {
		return ""
	}
	c, err := r.Cookie(cookie)
	if err != nil {
		return ""
	}
	return c.Value
}
