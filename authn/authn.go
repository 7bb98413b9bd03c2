// Package authn finds out who is calling: a static bearer token, a JSON Web
// Token from an identity provider, or an identity header set by a trusted
// reverse proxy.
package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/config"
)

// Errors of Authenticate. Neither says which tokens exist.
var (
	ErrNoCredential  = errors.New("no credential: send Authorization: Bearer <token>")
	ErrBadCredential = errors.New("unknown credential")
)

// Authenticator maps request credentials to users.
type Authenticator struct {
	tokens  map[[sha256.Size]byte]authz.User
	trusted *config.TrustedHeader
	jwt     *JWTVerifier
	cookie  string
}

// New returns an Authenticator for the configured tokens, JWTs and trusted
// header. With auth.jwt from an OIDC issuer it runs discovery, so it can
// fail.
func New(ctx context.Context, auth config.Auth) (*Authenticator, error) {
	a := &Authenticator{
		tokens:  make(map[[sha256.Size]byte]authz.User, len(auth.Tokens)),
		trusted: auth.TrustedHeader,
	}
	for _, t := range auth.Tokens {
		a.tokens[sha256.Sum256([]byte(t.Secret()))] = authz.User{ID: t.User, Groups: t.Groups}
	}
	if auth.JWT != nil {
		v, err := NewJWTVerifier(ctx, *auth.JWT, nil)
		if err != nil {
			return nil, err
		}
		a.jwt, a.cookie = v, auth.JWT.Cookie
	}
	return a, nil
}

// JWT returns the token verifier, or nil.
func (a *Authenticator) JWT() *JWTVerifier { return a.jwt }

// Authenticate returns the caller. A bearer token wins over a trusted header;
// identity headers from a connection that is not a trusted proxy are ignored.
// Tokens are looked up by their SHA-256, so the lookup time does not depend
// on how much of a guess is right.
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
		if tok := tokenFrom(r, a.cookie); tok != "" {
			return a.jwt.Verify(r.Context(), tok)
		}
	}
	if th := a.trusted; th != nil {
		id := r.Header.Get(th.User)
		if id != "" && th.Trusts(remoteIP(r)) {
			u := authz.User{ID: id}
			if th.Groups != "" {
				for g := range strings.SplitSeq(r.Header.Get(th.Groups), ",") {
					if g = strings.TrimSpace(g); g != "" {
						u.Groups = append(u.Groups, g)
					}
				}
			}
			return u, nil
		}
	}
	return authz.User{}, ErrNoCredential
}

func remoteIP(r *http.Request) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return net.ParseIP(host)
}
