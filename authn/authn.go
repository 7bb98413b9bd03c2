// Package authn finds out who is calling: a static bearer token, a JSON Web
// Token from an identity provider, or an identity header set by a trusted
// reverse proxy.
package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/origin"
)

// Errors of Authenticate. Neither says which tokens exist.
var (
	ErrNoCredential  = errors.New("no credential: send Authorization: Bearer <token>")
	ErrBadCredential = errors.New("unknown credential")
)

// SecFetchSite is the header in which browsers say where a request comes
// from; "same-origin" means a page of the service's own origin.
const SecFetchSite = "Sec-Fetch-Site"

// Options say how callers may prove who they are. Any mix of the three
// sources may be given.
type Options struct {
	// Tokens are static bearer tokens.
	Tokens []Token
	// TrustedHeader, if set, takes identities from a reverse proxy.
	TrustedHeader *TrustedHeader
	// JWT, if set, verifies JSON Web Tokens.
	JWT *JWTOptions
	// CookieOrigins are the page origins, besides the service's own, whose
	// requests may be authenticated by the JWT cookie.
	CookieOrigins []string
}

// Token is a static bearer token and the user it stands for.
type Token struct {
	Secret string
	User   authz.User
}

// TrustedHeader takes the user id and groups from request headers, but only
// on connections from a trusted proxy.
type TrustedHeader struct {
	// User is the header holding the user id, e.g. X-Forwarded-User.
	User string
	// Groups, if set, is the header holding comma-separated groups.
	Groups string
	// Proxies are the networks the proxy connects from.
	Proxies []*net.IPNet
}

// Trusts reports whether a connection from ip comes from a trusted proxy.
func (t *TrustedHeader) Trusts(ip net.IP) bool {
	for _, n := range t.Proxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Authenticator maps request credentials to users.
type Authenticator struct {
	tokens  map[[sha256.Size]byte]authz.User
	trusted *TrustedHeader
	jwt     *JWTVerifier
	cookie  string
	origins map[string]bool // pages that may send the cookie, besides our own
}

// New returns an Authenticator for o. With JWTs from an OIDC issuer it runs
// discovery, so it can fail.
func New(ctx context.Context, o Options) (*Authenticator, error) {
	a := &Authenticator{
		tokens:  make(map[[sha256.Size]byte]authz.User, len(o.Tokens)),
		trusted: o.TrustedHeader,
		origins: make(map[string]bool),
	}
	for _, orig := range o.CookieOrigins {
		a.origins[orig] = true
	}
	for _, t := range o.Tokens {
		a.tokens[sha256.Sum256([]byte(t.Secret))] = t.User
	}
	if o.JWT != nil {
		v, err := NewJWTVerifier(ctx, *o.JWT, nil)
		if err != nil {
			return nil, err
		}
		a.jwt, a.cookie = v, o.JWT.Cookie
	}
	return a, nil
}

// JWT returns the token verifier, or nil.
func (a *Authenticator) JWT() *JWTVerifier { return a.jwt }

// Authenticate returns the caller. A bearer token wins over a trusted header;
// identity headers from a connection that is not a trusted proxy are ignored.
// Tokens are looked up by their SHA-256, so the lookup time does not depend
// on how much of a guess is right.
//
// A browser sends the JWT cookie whichever site made the request, so a
// request authenticated by it must come from a page of the service's own
// origin or of one named in cors_origins: otherwise another site could act
// for the user (cross-site request forgery).
func (a *Authenticator) Authenticate(r *http.Request) (authz.User, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return authz.User{}, ErrBadCredential
		}
		token = strings.TrimSpace(token)
		if u, ok := a.tokens[sha256.Sum256([]byte(token))]; ok {
			return u, nil
		}
		if a.jwt != nil {
			return a.jwt.Verify(r.Context(), token)
		}
		return authz.User{}, ErrBadCredential
	}
	if a.jwt != nil {
		if tok := cookieToken(r, a.cookie); tok != "" {
			if err := a.checkCookieOrigin(r); err != nil {
				return authz.User{}, err
			}
			return a.jwt.Verify(r.Context(), tok)
		}
	}
	if th := a.trusted; th != nil && th.Trusts(remoteIP(r)) {
		return fromTrustedHeader(r, th)
	}
	return authz.User{}, ErrNoCredential
}

// checkCookieOrigin accepts a request that the browser marks same-origin,
// or whose Origin is an allowed one or the service's own: the same scheme
// (https when the connection is TLS), host and port. A page on
// http://host must not act for a user of https://host.
func (a *Authenticator) checkCookieOrigin(r *http.Request) error {
	if r.Header.Get(SecFetchSite) == "same-origin" {
		return nil
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return fmt.Errorf("%w: cookie on a request with neither Origin nor %s: same-origin", ErrBadCredential, SecFetchSite)
	}
	canon, err := origin.Parse(o)
	if err == nil && canon != origin.Any {
		if a.origins[canon] {
			return nil
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if own, err := origin.Parse(scheme + "://" + r.Host); err == nil && own == canon {
			return nil
		}
	}
	return fmt.Errorf("%w: cookie on a request from origin %q, which is neither this service nor in cors_origins", ErrBadCredential, errs.Clip(o))
}

// fromTrustedHeader reads the identity a trusted proxy set. A header sent
// more than once is refused: which one the proxy meant is a guess.
func fromTrustedHeader(r *http.Request, th *TrustedHeader) (authz.User, error) {
	ids := r.Header.Values(th.User)
	switch {
	case len(ids) == 0 || (len(ids) == 1 && ids[0] == ""):
		return authz.User{}, ErrNoCredential
	case len(ids) > 1:
		return authz.User{}, fmt.Errorf("%w: header %s sent %d times", ErrBadCredential, th.User, len(ids))
	}
	u := authz.User{ID: ids[0]}
	if th.Groups != "" {
		groups := r.Header.Values(th.Groups)
		if len(groups) > 1 {
			return authz.User{}, fmt.Errorf("%w: header %s sent %d times", ErrBadCredential, th.Groups, len(groups))
		}
		for _, h := range groups {
			for g := range strings.SplitSeq(h, ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
	}
	return u, nil
}

func remoteIP(r *http.Request) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return net.ParseIP(host)
}
