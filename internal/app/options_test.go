package app

import (
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/limits"
)

// optionsConfig has a rule of each kind of thumbnail, one with a webhook of
// its own, a global webhook, tokens and limits.
const optionsConfig = `
storage: {account: devstoreaccount1, endpoint: "http://127.0.0.1:10000/devstoreaccount1", key_env: KEY}
auth:
  tokens:
    - {user: alice, token_env: ALICE_TOKEN, groups: [staff]}
limits: {sas: {rate: 5/s, burst: 7}}
webhook: {url: "https://app.example.com/hook", secret_env: HOOK_SECRET, timeout: 3s}
rules:
  - {name: pictures, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT]}
  - {name: plain, users: ["*"], container: uploads, blobs: "plain/**", methods: [PUT], thumbnail: none}
  - {name: cdn, users: ["*"], container: uploads, blobs: "cdn/**", methods: [PUT], thumbnail: "https://cdn.example.com/{container}/{blob}",
     webhook: {url: "https://cdn.example.com/hook", secret_env: CDN_SECRET}}
staging: {container: incoming}
`

func optionsTestConfig(t *testing.T) *config.Config {
	t.Helper()
	secrets := map[string]string{"KEY": azurite.WellKnownKey, "ALICE_TOKEN": "alice-token-0123456789", "HOOK_SECRET": "hook-secret-0123456789", "CDN_SECRET": "cdn-secret-0123456789"}
	cfg, err := config.Parse([]byte(optionsConfig), func(k string) string { return secrets[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCheckerActions(t *testing.T) {
	actions := checkerActions(optionsTestConfig(t).Rules)
	if a := actions["pictures"]; a.Webhook || a.Thumbnail.None || a.Thumbnail.Template != "" {
		t.Errorf("pictures: %+v, want a SAS thumbnail and the global webhook", a)
	}
	if a := actions["plain"]; a.Webhook || !a.Thumbnail.None {
		t.Errorf("plain: %+v, want no thumbnail", a)
	}
	if a := actions["cdn"]; !a.Webhook || a.Thumbnail.Template != "https://cdn.example.com/{container}/{blob}" {
		t.Errorf("cdn: %+v, want its template and its own webhook", a)
	}
	if len(actions) != 3 {
		t.Errorf("%d rules with actions, want 3", len(actions))
	}
}

func TestWebhookTargets(t *testing.T) {
	targets := webhookTargets(optionsTestConfig(t))
	if w, ok := targets(""); !ok || w.URL != "https://app.example.com/hook" || string(w.Secret) != "hook-secret-0123456789" || w.Timeout != 3*time.Second {
		t.Errorf("global webhook: %+v %v", w, ok)
	}
	if w, ok := targets("cdn"); !ok || w.URL != "https://cdn.example.com/hook" || string(w.Secret) != "cdn-secret-0123456789" {
		t.Errorf("the cdn rule's webhook: %+v %v", w, ok)
	}
	for _, target := range []string{"pictures", "gone"} {
		if w, ok := targets(target); ok {
			t.Errorf("target %q: %+v, want none (the rule has no webhook of its own, or is gone)", target, w)
		}
	}
}

func TestAuthnOptions(t *testing.T) {
	o := authnOptions(optionsTestConfig(t).Auth)
	if len(o.Tokens) != 1 || o.Tokens[0].Secret != "alice-token-0123456789" || o.Tokens[0].User.ID != "alice" || len(o.Tokens[0].User.Groups) != 1 {
		t.Errorf("tokens %+v", o.Tokens)
	}
	if o.JWT != nil || o.TrustedHeader != nil {
		t.Errorf("JWT %+v, trusted header %+v, want neither", o.JWT, o.TrustedHeader)
	}
}

func TestLimitsOptions(t *testing.T) {
	o := limitsOptions(optionsTestConfig(t).Limits)
	if b := o.Routes[limits.SAS]; b.Rate != rate.Limit(5) || b.Burst != 7 {
		t.Errorf("/sas bucket %+v, want 5/s, burst 7", b)
	}
	if b := o.Routes[limits.Success]; b.Rate == 0 {
		t.Errorf("/success bucket %+v, want the default", b)
	}
}
