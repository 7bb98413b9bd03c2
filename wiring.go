package main

import (
	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/config"
)

// authnOptions turns the auth section into authn's options.
func authnOptions(a config.Auth) authn.Options {
	o := authn.Options{CookieOrigins: a.CookieOrigins()}
	for _, t := range a.Tokens {
		o.Tokens = append(o.Tokens, authn.Token{Secret: t.Secret(), User: authz.User{ID: t.User, Groups: t.Groups}})
	}
	if th := a.TrustedHeader; th != nil {
		o.TrustedHeader = &authn.TrustedHeader{User: th.User, Groups: th.Groups, Proxies: th.Proxies()}
	}
	if j := a.JWT; j != nil {
		o.JWT = &authn.JWTOptions{
			Issuer: j.Issuer, JWKSURL: j.JWKSURL, HS256Secret: j.HS256Secret(), Audience: j.Audience,
			Leeway: j.Leeway.Duration(), UserClaim: j.UserClaim, GroupsClaim: j.GroupsClaim,
			Cookie: j.Cookie, CacheSize: j.CacheSize,
		}
	}
	return o
}
