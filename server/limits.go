package server

import (
	"fmt"
	"net/http"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/limits"
)

// authenticate returns the caller of r, within the limits. A client address
// whose requests keep failing authentication is refused before its
// credentials are checked; an authenticated user over the route's rate is
// refused too. Both refusals are 429s and set Retry-After on w. Failures
// from one address are logged by sample: the error of one left out of the
// log is marked quiet.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, op string, route limits.Route) (authz.User, error) {
	addr := s.opts.Limits.ClientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
	if ok, wait := s.opts.Limits.Attempt(addr); !ok {
		w.Header().Set("Retry-After", limits.RetryAfter(wait))
		e := errs.Wrap(op, errs.TooManyRequests, "too many failed sign-ins from this address; try again later",
			fmt.Errorf("client %s is over the limit of failed authentications", addr))
		e.Quiet = !s.opts.Limits.Failed(addr)
		return authz.User{}, e
	}
	user, err := s.opts.Auth.Authenticate(r)
	if err != nil {
		e := errs.Wrap(op, errs.Unauthenticated, "authentication required", err)
		e.Quiet = !s.opts.Limits.Failed(addr)
		return authz.User{}, e
	}
	if ok, wait := s.opts.Limits.Allow(user.ID, route); !ok {
		w.Header().Set("Retry-After", limits.RetryAfter(wait))
		return authz.User{}, errs.Wrap(op, errs.TooManyRequests, "too many requests; try again in a moment",
			fmt.Errorf("user %q is over the %s limit", errs.Clip(user.ID), route))
	}
	return user, nil
}
