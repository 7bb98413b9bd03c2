package app

import (
	"golang.org/x/time/rate"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/success"
)

// The configuration, turned into the options of the domain packages: pure
// translations, each tested without storage.

// limitsOptions turns the limits section into the limiter's options.
func limitsOptions(c config.Limits) limits.Options {
	b := func(r config.RateLimit) limits.Bucket { return limits.Bucket{Rate: rate.Limit(r.Rate), Burst: r.Burst} }
	return limits.Options{
		Routes: map[limits.Route]limits.Bucket{
			limits.SAS: b(c.SAS), limits.Success: b(c.Success),
			// A chunk sent through blobvalet takes the place of a chunk's
			// signature: the same allowance, in a bucket of its own.
			limits.Upload: b(c.SAS),
		},
		Unauthenticated: b(c.Unauthenticated),
		TrustedProxies:  c.Proxies(),
	}
}

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

// webhookTargets maps an event's target to its webhook in cfg: a rule's
// own, by the rule's name, or the global one for "". The secret comes from
// the configuration at each attempt and never enters the queue.
func webhookTargets(cfg *config.Config) func(string) (events.Target, bool) {
	return func(target string) (events.Target, bool) {
		w := cfg.Webhook
		if target != "" {
			w = nil
			for _, r := range cfg.Rules {
				if r.Name == target {
					w = r.Webhook
				}
			}
		}
		if w == nil {
			return events.Target{}, false
		}
		return events.Target{URL: w.URL, Secret: w.Secret(), Timeout: w.Timeout.Duration()}, true
	}
}

// checkerActions gives each rule, by name, what it does with its verified
// uploads besides storing them: its thumbnail, and whether it has a webhook
// of its own.
func checkerActions(rules []config.Rule) map[string]success.Actions {
	actions := make(map[string]success.Actions, len(rules))
	for _, r := range rules {
		a := success.Actions{Webhook: r.Webhook != nil}
		switch r.Thumbnail.Kind {
		case config.ThumbnailNone:
			a.Thumbnail.None = true
		case config.ThumbnailTemplate:
			a.Thumbnail.Template = r.Thumbnail.Template
		}
		actions[r.Name] = a
	}
	return actions
}
