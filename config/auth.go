package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Auth configures authentication.
type Auth struct {
	// Tokens are static bearer tokens, one per user.
	Tokens []Token `yaml:"tokens"`
	// TrustedHeader takes the identity from headers set by a reverse proxy.
	TrustedHeader *TrustedHeader `yaml:"trusted_header"`
	// JWT verifies JSON Web Tokens from an identity provider.
	JWT *JWT `yaml:"jwt"`
	// SharedUserIDs says that the user ids of the configured sources name
	// the same people: the token user alice, the JWT subject alice and the
	// proxy's alice are one user, with one folder. With more than one source
	// it must be set, because otherwise anyone who can get a token or a
	// proxy login with another person's id would be that person.
	SharedUserIDs bool `yaml:"shared_user_ids"`

	cookieOrigins []string
}

// CookieOrigins returns the origins named in cors_origins, "*" left out:
// besides the service's own origin, only pages from these may have a
// request authenticated by the JWT cookie.
func (a *Auth) CookieOrigins() []string { return a.cookieOrigins }

// JWT configures JSON Web Token authentication. The keys come from OIDC
// discovery at Issuer, or from JWKSURL, or are one HS256 shared secret.
type JWT struct {
	// Issuer is the expected iss claim, and the OIDC discovery URL's base.
	Issuer string `yaml:"issuer"`
	// JWKSURL, if set, is the key set's URL instead of discovery.
	JWKSURL string `yaml:"jwks_url"`
	// HS256SecretEnv names the environment variable holding an HS256 secret
	// of at least 32 bytes, for applications that mint their own tokens.
	HS256SecretEnv string `yaml:"hs256_secret_env"`
	// HS256SecretFile names a file holding that secret.
	HS256SecretFile string `yaml:"hs256_secret_file"`
	// Audience is the aud value tokens must carry.
	Audience string `yaml:"audience"`
	// Leeway allows for clock skew on exp and nbf. Default 30s, at most 5m.
	Leeway Duration `yaml:"leeway"`
	// UserClaim is the claim holding the user id. Default sub.
	UserClaim string `yaml:"user_claim"`
	// GroupsClaim is the claim holding the groups (a list, or a space- or
	// comma-separated string), e.g. groups or roles.
	GroupsClaim string `yaml:"groups_claim"`
	// Cookie names a cookie to read the token from, for same-origin pages.
	Cookie string `yaml:"cookie"`
	// CacheSize bounds the number of verified tokens remembered. Default 10000.
	CacheSize int `yaml:"cache_size"`

	hs256 []byte
}

// HS256Secret returns the shared secret read at load time, or nil.
func (j *JWT) HS256Secret() []byte { return j.hs256 }

func (j *JWT) complete(p *problems, getenv func(string) string) {
	if u, err := url.Parse(j.Issuer); err != nil || j.Issuer == "" || (u.Scheme != "https" && u.Scheme != "http") {
		p.add("auth.jwt.issuer", "required: the issuer URL that tokens carry in iss, e.g. https://login.example.com/")
	} else if u.Scheme == "http" && !IsLoopback(j.Issuer) {
		p.add("auth.jwt.issuer", "%q uses http, which anyone on the path can answer for; use https (http only on loopback)", j.Issuer)
	}
	if j.Audience == "" {
		p.add("auth.jwt.audience", "required: the aud value your identity provider puts in tokens for blobvalet")
	}
	if j.HS256SecretEnv != "" || j.HS256SecretFile != "" {
		if j.JWKSURL != "" {
			p.add("auth.jwt", "set jwks_url or an HS256 secret, not both")
		}
		secret, err := readSecret(j.HS256SecretEnv, j.HS256SecretFile, getenv)
		if err != nil {
			p.add("auth.jwt", "%v", err)
		} else if len(secret) < 32 {
			p.add("auth.jwt", "the HS256 secret in %s is shorter than 32 bytes", secretSource(j.HS256SecretEnv, j.HS256SecretFile))
		}
		j.hs256 = []byte(secret)
	}
	if j.JWKSURL != "" {
		if u, err := url.Parse(j.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("auth.jwt.jwks_url", "want an absolute URL, got %q", j.JWKSURL)
		} else if u.Scheme == "http" && !IsLoopback(j.JWKSURL) {
			p.add("auth.jwt.jwks_url", "%q uses http, which anyone on the path can answer for; use https (http only on loopback)", j.JWKSURL)
		}
	}
	switch l := time.Duration(j.Leeway); {
	case l == 0:
		j.Leeway = Duration(30 * time.Second)
	case l < 0 || l > 5*time.Minute:
		p.add("auth.jwt.leeway", "want between 0s and 5m, got %v", l)
	}
	if j.UserClaim == "" {
		j.UserClaim = "sub"
	}
	switch {
	case j.CacheSize == 0:
		j.CacheSize = 10000
	case j.CacheSize < 0:
		p.add("auth.jwt.cache_size", "want a positive number, got %d", j.CacheSize)
	}
}

// Token is a static bearer token (Authorization: Bearer <token>).
type Token struct {
	// User is the user id the token stands for.
	User string `yaml:"user"`
	// TokenEnv names the environment variable holding the token.
	TokenEnv string `yaml:"token_env"`
	// TokenFile names a file holding the token.
	TokenFile string `yaml:"token_file"`
	// Groups are the user's groups.
	Groups []string `yaml:"groups"`

	secret string
}

// Secret returns the token value read at load time.
func (t Token) Secret() string { return t.secret }

// TrustedHeader takes the user id and groups from request headers, but only
// from requests that come from a trusted proxy.
type TrustedHeader struct {
	// User is the header holding the user id, e.g. X-Forwarded-User.
	User string `yaml:"user"`
	// Groups is the header holding comma-separated groups.
	Groups string `yaml:"groups"`
	// TrustedProxies lists the CIDRs the proxy connects from.
	TrustedProxies []string `yaml:"trusted_proxies"`

	nets []*net.IPNet
}

// Proxies returns the parsed trusted_proxies.
func (t *TrustedHeader) Proxies() []*net.IPNet { return t.nets }

func (a *Auth) complete(p *problems, getenv func(string) string) {
	seen := map[string]bool{}
	for i, t := range a.Tokens {
		field := fmt.Sprintf("auth.tokens[%d]", i)
		if t.User == "" {
			p.add(field+".user", "required")
		}
		secret, err := readSecret(t.TokenEnv, t.TokenFile, getenv)
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		if len(secret) < 16 {
			p.add(field, "the token in %s is shorter than 16 characters; use a long random value (e.g. openssl rand -hex 32)", secretSource(t.TokenEnv, t.TokenFile))
			continue
		}
		if seen[secret] {
			p.add(field, "the token in %s is the same as another user's", secretSource(t.TokenEnv, t.TokenFile))
		}
		seen[secret] = true
		a.Tokens[i].secret = secret
	}
	if th := a.TrustedHeader; th != nil {
		if th.User == "" {
			p.add("auth.trusted_header.user", "required: the header holding the user id, e.g. X-Forwarded-User")
		}
		if len(th.TrustedProxies) == 0 {
			p.add("auth.trusted_header.trusted_proxies", "required: the CIDRs your proxy connects from, e.g. 127.0.0.1/32")
		}
		for i, c := range th.TrustedProxies {
			_, n, err := net.ParseCIDR(c)
			if err != nil {
				p.add(fmt.Sprintf("auth.trusted_header.trusted_proxies[%d]", i), "want a CIDR such as 10.0.0.0/8, got %q", c)
				continue
			}
			th.nets = append(th.nets, n)
		}
	}
	if a.JWT != nil {
		a.JWT.complete(p, getenv)
	}
	var sources []string
	if len(a.Tokens) > 0 {
		sources = append(sources, "auth.tokens")
	}
	if a.JWT != nil {
		sources = append(sources, "auth.jwt")
	}
	if a.TrustedHeader != nil {
		sources = append(sources, "auth.trusted_header")
	}
	switch {
	case len(sources) == 0:
		p.add("auth", "no way to authenticate: set auth.tokens, auth.jwt or auth.trusted_header")
	case len(sources) > 1 && !a.SharedUserIDs:
		p.add("auth.shared_user_ids", "%s each give user ids, and rules cannot tell them apart: alice from one is alice from the other, with her folder. "+
			"Set shared_user_ids: true if the sources name the same people, or keep one source", strings.Join(sources, " and "))
	}
}
