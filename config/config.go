// Package config reads and checks blobvalet's YAML configuration. A file
// that is wrong in any way is refused as a whole, with one line per problem
// naming the field and what to fix. Secrets are never in the file: it names
// the environment variable or file that holds each one.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/origin"
)

// Defaults and limits.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultSASLifetime = 10 * time.Minute
	MaxSASLifetime     = time.Hour
	MinSASLifetime     = 30 * time.Second
)

// Config is the whole configuration of blobvalet serve.
type Config struct {
	// Listen is the address the HTTP server listens on.
	Listen string `yaml:"listen"`
	// Storage is the storage account blobvalet signs for.
	Storage Storage `yaml:"storage"`
	// CORSOrigins are the page origins allowed to call blobvalet itself.
	CORSOrigins []string `yaml:"cors_origins"`
	// Auth says how callers prove who they are.
	Auth Auth `yaml:"auth"`
	// SAS sets how SAS URIs are issued.
	SAS SAS `yaml:"sas"`
	// Rules allow users to act on blobs; nothing is allowed unless a rule
	// allows it. The first matching rule decides.
	Rules []Rule `yaml:"rules"`
	// Log sets the logger.
	Log Log `yaml:"log"`
	// Webhook, if set, is told of every verified upload whose rule has no
	// webhook of its own.
	Webhook *Webhook `yaml:"webhook"`
	// Staging is where uploads wait until they are verified.
	Staging Staging `yaml:"staging"`
	// Limits caps how often each user and client address may ask.
	Limits Limits `yaml:"limits"`
	// TLS, if set, makes blobvalet serve HTTPS.
	TLS *TLS `yaml:"tls"`

	policy   *authz.Policy
	resolver *blobref.Resolver
}

// Storage names the storage account and its credential.
type Storage struct {
	// Account is the storage account name.
	Account string `yaml:"account"`
	// Endpoint is the Blob service URL: https://ACCOUNT.blob.core.windows.net,
	// or http://127.0.0.1:10000/devstoreaccount1 for Azurite.
	Endpoint string `yaml:"endpoint"`
	// KeyEnv names the environment variable holding the shared key.
	KeyEnv string `yaml:"key_env"`
	// KeyFile names a file holding the shared key.
	KeyFile string `yaml:"key_file"`
	// Keys lists several keys for rotation; the one marked active signs.
	Keys []Key `yaml:"keys"`
	// Credential is shared_key (the default: key_env, key_file or keys) or
	// azuread: no key at all; blobvalet authenticates with Microsoft Entra ID
	// (environment, workload identity, managed identity, Azure CLI) and signs
	// user delegation SAS.
	Credential string `yaml:"credential"`
	// EmulatorCompat is gone: overwrite: false is enforced when an upload
	// is promoted, on Azure and Azurite alike. Kept only to say so.
	EmulatorCompat *bool `yaml:"emulator_compat"`

	keyName string
	key     []byte

	token      azcore.TokenCredential
	clientOpts *service.ClientOptions
}

// Credential types.
const (
	CredentialSharedKey = "shared_key"
	CredentialAzureAD   = "azuread"
)

// UseTokenCredential makes an azuread configuration use cred instead of
// the default Azure credential chain, and opts for its clients. For tests
// and embedding.
func (s *Storage) UseTokenCredential(cred azcore.TokenCredential, opts *service.ClientOptions) {
	s.token, s.clientOpts = cred, opts
}

// Key is one shared key of the storage account.
type Key struct {
	// Name identifies the key in logs, e.g. key1.
	Name string `yaml:"name"`
	// Env names the environment variable holding the key.
	Env string `yaml:"env"`
	// File names a file holding the key.
	File string `yaml:"file"`
	// Active marks the key that signs. Exactly one key is active.
	Active bool `yaml:"active"`
}

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

// Trusts reports whether a connection from ip comes from a trusted proxy.
func (t *TrustedHeader) Trusts(ip net.IP) bool {
	for _, n := range t.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// SAS configures issued SAS URIs.
type SAS struct {
	// Lifetime is how long an issued SAS stays valid. Default 10m, at most 1h.
	Lifetime Duration `yaml:"lifetime"`
}

// Rule is one authorization rule; see package authz.
type Rule struct {
	// Name identifies the rule in logs.
	Name string `yaml:"name"`
	// Users the rule applies to; "*" is any authenticated user.
	Users []string `yaml:"users"`
	// Groups the rule applies to.
	Groups []string `yaml:"groups"`
	// Container is the container the rule covers.
	Container string `yaml:"container"`
	// Blobs is the blob-name pattern: * within a segment, ** across segments,
	// {user} for the user id.
	Blobs string `yaml:"blobs"`
	// Methods are the allowed methods: PUT, DELETE.
	Methods []string `yaml:"methods"`
	// Overwrite lets PUT replace an existing blob.
	Overwrite bool `yaml:"overwrite"`
	// Lifetime overrides sas.lifetime for this rule, at most 1h.
	Lifetime Duration `yaml:"lifetime"`
	// MaxSize is the largest upload allowed, e.g. 10MiB.
	MaxSize ByteSize `yaml:"max_size"`
	// ContentTypes lists allowed media types, e.g. image/* or text/plain.
	ContentTypes []string `yaml:"content_types"`
	// Extensions lists allowed file-name endings, e.g. .jpg.
	Extensions []string `yaml:"extensions"`
	// Thumbnail is the thumbnailUrl answered for a verified upload: "sas"
	// (the default: a short-lived read-only SAS URL of the blob, for images
	// only), "none", or a URL template with {container} and {blob}.
	Thumbnail string `yaml:"thumbnail"`
	// Webhook, if set, is told of this rule's verified uploads instead of
	// the global webhook.
	Webhook *Webhook `yaml:"webhook"`
}

// Webhook receives a signed JSON event for each verified upload.
type Webhook struct {
	// URL receives the POST.
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC secret.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile names a file holding the HMAC secret.
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one delivery. Default 5s, at most 30s.
	Timeout Duration `yaml:"timeout"`

	secret []byte
}

// Secret returns the HMAC secret read at load time.
func (w *Webhook) Secret() []byte { return w.secret }

func (w *Webhook) complete(p *problems, field string, getenv func(string) string) {
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add(field+".url", "want an absolute http(s) URL, got %q", w.URL)
	} else if u.Scheme == "http" && !IsLoopback(w.URL) {
		p.add(field+".url", "%q uses http, which would send uploads' details in the clear; use https (http only on loopback)", w.URL)
	}
	secret, err := readSecret(w.SecretEnv, w.SecretFile, getenv)
	if err != nil {
		p.add(field, "%v", err)
	} else if len(secret) < 16 {
		p.add(field, "the secret in %s is shorter than 16 characters", secretSource(w.SecretEnv, w.SecretFile))
	}
	w.secret = []byte(secret)
	switch t := time.Duration(w.Timeout); {
	case t == 0:
		w.Timeout = Duration(5 * time.Second)
	case t < 100*time.Millisecond || t > 30*time.Second:
		p.add(field+".timeout", "want between 100ms and 30s, got %v", t)
	}
}

// Staging configures the private container where every upload waits until
// the upload-success check has verified it and promoted it to its final
// name.
type Staging struct {
	// Container is the staging container: private, and named by no rule.
	Container string `yaml:"container"`
	// MaxAge is how long an unverified upload may stay before the sweeper
	// removes it. Default 24h.
	MaxAge Duration `yaml:"max_age"`
	// SweepEvery is how often serve sweeps. Default 10m.
	SweepEvery Duration `yaml:"sweep_every"`
}

// Staging defaults and limits.
const (
	DefaultStagingMaxAge = 24 * time.Hour
	DefaultSweepEvery    = 10 * time.Minute
	MinSweepEvery        = time.Minute
)

func (s *Staging) complete(p *problems, policy *authz.Policy, sasLifetime time.Duration) {
	switch {
	case s.Container == "":
		p.add("staging.container", "required: a private container for unverified uploads, e.g. staging: {container: incoming}; create it without public access")
	case !containerName.MatchString(s.Container) || strings.Contains(s.Container, "--"):
		p.add("staging.container", "%q is not a container name (3-63 lowercase letters, digits and single hyphens)", s.Container)
	case slices.Contains(policy.Containers(), s.Container):
		p.add("staging.container", "%q is named by a rule: the staging container must be one that no rule names, so that nobody can sign for it directly", s.Container)
	}
	if s.MaxAge == 0 {
		s.MaxAge = Duration(DefaultStagingMaxAge)
	}
	if a := time.Duration(s.MaxAge); a < MaxSASLifetime || a < sasLifetime {
		p.add("staging.max_age", "want at least %v (the longest SAS lifetime), so that no upload in progress is swept; got %v", max(MaxSASLifetime, sasLifetime), a)
	}
	if s.SweepEvery == 0 {
		s.SweepEvery = Duration(DefaultSweepEvery)
	}
	if e := time.Duration(s.SweepEvery); e < MinSweepEvery || e > time.Duration(s.MaxAge) {
		p.add("staging.sweep_every", "want between %v and staging.max_age (%v), got %v", MinSweepEvery, time.Duration(s.MaxAge), e)
	}
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json (default) or console.
	Format string `yaml:"format"`
}

// Load reads, checks and completes the configuration in path, reading the
// secrets it names.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse checks and completes a configuration. getenv looks up environment
// variables.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	var cfg Config
	var p problems
	if err := decode(data, &cfg, &p); err != nil {
		return nil, err
	}
	err := cfg.complete(getenv)
	if len(p) > 0 {
		// The checks also saw the fields that failed to decode, as left
		// empty: say only what is wrong with the others.
		if err != nil {
			for q := range strings.SplitSeq(err.Error(), "\n") {
				if !p.names(q) {
					p = append(p, q)
				}
			}
		}
		return nil, p.err()
	}
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// problems collects validation errors, one per line.
type problems []string

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, field+": "+fmt.Sprintf(format, args...))
}

// names reports whether q is about a field that has a problem in p, or
// about one inside it.
func (p problems) names(q string) bool {
	field, _, _ := strings.Cut(q, ": ")
	for _, have := range p {
		f, _, _ := strings.Cut(have, ": ")
		if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
			return true
		}
	}
	return false
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "\n"))
}

func (c *Config) complete(getenv func(string) string) error {
	var p problems
	if c.Listen == "" {
		c.Listen = DefaultListen
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", "want host:port such as 127.0.0.1:8080, got %q", c.Listen)
	}
	c.Storage.complete(&p, getenv)
	for i, o := range c.CORSOrigins {
		canon, err := origin.Parse(o)
		if err != nil {
			p.add(fmt.Sprintf("cors_origins[%d]", i), "%v", err)
			continue
		}
		c.CORSOrigins[i] = canon
		if canon != origin.Any {
			c.Auth.cookieOrigins = append(c.Auth.cookieOrigins, canon)
		}
	}
	c.Auth.complete(&p, getenv)
	switch l := time.Duration(c.SAS.Lifetime); {
	case l == 0:
		c.SAS.Lifetime = Duration(DefaultSASLifetime)
	case l < MinSASLifetime || l > MaxSASLifetime:
		p.add("sas.lifetime", "want between %v and %v, got %v", MinSASLifetime, MaxSASLifetime, l)
	}
	if lv := c.Log.Level; lv != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, lv) {
		p.add("log.level", "want debug, info, warn or error, got %q", lv)
	}
	if f := c.Log.Format; f != "" && f != "json" && f != "console" {
		p.add("log.format", "want json or console, got %q", f)
	}
	if c.Webhook != nil {
		c.Webhook.complete(&p, "webhook", getenv)
	}
	c.policy = c.compileRules(&p, getenv)
	c.Staging.complete(&p, c.policy, time.Duration(c.SAS.Lifetime))
	c.Limits.complete(&p)
	if c.TLS != nil {
		c.TLS.complete(&p)
	}
	if len(p) == 0 {
		var err error
		c.resolver, err = blobref.NewResolver(c.Storage.Endpoint, c.policy.Containers())
		if err != nil {
			p.add("storage.endpoint", "%v", err)
		}
	}
	return p.err()
}

// Policy returns the compiled rules.
func (c *Config) Policy() *authz.Policy { return c.policy }

// Resolver returns the resolver for the configured endpoint and the
// containers that rules name.
func (c *Config) Resolver() *blobref.Resolver { return c.resolver }

func (s *Storage) complete(p *problems, getenv func(string) string) {
	if s.Account == "" {
		p.add("storage.account", "required: the storage account name")
	} else if !accountName.MatchString(s.Account) {
		p.add("storage.account", "%q is not a storage account name (3-24 lowercase letters and digits)", s.Account)
	}
	if s.Endpoint == "" {
		if s.Account != "" {
			s.Endpoint = "https://" + s.Account + ".blob.core.windows.net"
		}
	} else {
		s.Endpoint = strings.TrimSuffix(s.Endpoint, "/")
		if err := checkEndpoint(s.Endpoint); err != nil {
			p.add("storage.endpoint", "%v", err)
		}
	}
	if s.EmulatorCompat != nil {
		p.add("storage.emulator_compat", "no longer exists: uploads are staged and overwrite: false is enforced when blobvalet promotes them, on Azure and Azurite alike; remove this line")
	}
	switch s.Credential {
	case "", CredentialSharedKey:
		s.Credential = CredentialSharedKey
	case CredentialAzureAD:
		if s.KeyEnv != "" || s.KeyFile != "" || len(s.Keys) > 0 {
			p.add("storage", "credential azuread uses no account key: remove key_env, key_file and keys")
		}
		s.keyName = "user delegation"
		return
	default:
		p.add("storage.credential", "want shared_key or azuread, got %q", s.Credential)
		return
	}
	keys := s.Keys
	if s.KeyEnv != "" || s.KeyFile != "" {
		if len(keys) > 0 {
			p.add("storage.keys", "set either key_env/key_file or keys, not both")
			return
		}
		keys = []Key{{Name: "key", Env: s.KeyEnv, File: s.KeyFile, Active: true}}
	}
	if len(keys) == 0 {
		p.add("storage", "no credential: set key_env (the name of an environment variable holding the account key) or key_file")
		return
	}
	active, before := 0, len(*p)
	for i, k := range keys {
		field := fmt.Sprintf("storage.keys[%d]", i)
		if s.KeyEnv != "" || s.KeyFile != "" {
			field = "storage"
		}
		secret, err := readSecret(k.Env, k.File, getenv)
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(secret)
		if err != nil || len(raw) == 0 {
			p.add(field, "the key in %s is not base64; use the account key exactly as the portal shows it", secretSource(k.Env, k.File))
			continue
		}
		if k.Active {
			active++
			s.keyName = k.Name
			s.key = raw
		}
	}
	if active != 1 && len(*p) == before {
		p.add("storage.keys", "exactly one key must be active: true, found %d", active)
	}
}

// KeyName returns the name of the key that signs.
func (s *Storage) KeyName() string { return s.keyName }

// SharedKeyCredential returns the credential of the active key.
func (s *Storage) SharedKeyCredential() (*azblob.SharedKeyCredential, error) {
	return azblob.NewSharedKeyCredential(s.Account, base64.StdEncoding.EncodeToString(s.key))
}

// NewServiceClient returns a Blob service client that uses the active key,
// or Entra ID with credential azuread.
func (s *Storage) NewServiceClient() (*service.Client, error) {
	if s.Credential == CredentialAzureAD {
		cred := s.token
		if cred == nil {
			c, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				return nil, fmt.Errorf("storage.credential azuread: %w", err)
			}
			cred = c
		}
		return service.NewClient(s.Endpoint+"/", cred, s.clientOpts)
	}
	cred, err := s.SharedKeyCredential()
	if err != nil {
		return nil, err
	}
	return service.NewClientWithSharedKeyCredential(s.Endpoint+"/", cred, s.clientOpts)
}

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

func (c *Config) compileRules(p *problems, getenv func(string) string) *authz.Policy {
	if len(c.Rules) == 0 {
		p.add("rules", "no rules: nothing would be allowed; add at least one rule")
	}
	names := map[string]bool{}
	var rules []*authz.Rule
	for i, r := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			p.add(field+".name", "required")
		} else if names[r.Name] {
			p.add(field+".name", "%q is used by another rule", r.Name)
		}
		names[r.Name] = true
		if len(r.Users) == 0 && len(r.Groups) == 0 {
			p.add(field, "set users (\"*\" for any authenticated user) or groups")
		}
		if !containerName.MatchString(r.Container) || strings.Contains(r.Container, "--") {
			p.add(field+".container", "%q is not a container name (3-63 lowercase letters, digits and single hyphens)", r.Container)
		}
		pat, err := authz.CompilePattern(r.Blobs)
		if err != nil {
			p.add(field+".blobs", "%v", err)
		}
		var methods []authz.Method
		for j, m := range r.Methods {
			mm, err := authz.ParseMethod(strings.ToUpper(m))
			if err != nil {
				p.add(fmt.Sprintf("%s.methods[%d]", field, j), "%v", err)
			}
			methods = append(methods, mm)
		}
		if len(r.Methods) == 0 {
			p.add(field+".methods", "required: PUT, DELETE or both")
		}
		if l := time.Duration(r.Lifetime); l != 0 && (l < MinSASLifetime || l > MaxSASLifetime) {
			p.add(field+".lifetime", "want between %v and %v, got %v", MinSASLifetime, MaxSASLifetime, l)
		}
		for j, ct := range r.ContentTypes {
			if !mediaRange.MatchString(ct) {
				p.add(fmt.Sprintf("%s.content_types[%d]", field, j), "want a media type such as image/png or image/*, got %q", ct)
			}
		}
		for j, e := range r.Extensions {
			if !strings.HasPrefix(e, ".") || len(e) < 2 {
				p.add(fmt.Sprintf("%s.extensions[%d]", field, j), "want an ending such as .jpg, got %q", e)
			}
		}
		switch th := r.Thumbnail; {
		case th == "", th == "sas", th == "none":
		case strings.HasPrefix(th, "https://") || strings.HasPrefix(th, "http://") || strings.HasPrefix(th, "/"):
			if !strings.Contains(th, "{blob}") {
				p.add(field+".thumbnail", "a URL template needs {blob}, got %q", th)
			}
		default:
			p.add(field+".thumbnail", `want "sas", "none" or a URL template such as https://cdn.example.com/{container}/{blob}, got %q`, th)
		}
		if r.Webhook != nil {
			c.Rules[i].Webhook.complete(p, field+".webhook", getenv)
		}
		rules = append(rules, &authz.Rule{
			Name:      r.Name,
			Users:     r.Users,
			Groups:    r.Groups,
			Container: r.Container,
			Blobs:     pat,
			Methods:   methods,
			Overwrite: r.Overwrite,
			Lifetime:  time.Duration(r.Lifetime),
			Constraints: authz.Constraints{
				MaxSize:      int64(r.MaxSize),
				ContentTypes: r.ContentTypes,
				Extensions:   r.Extensions,
			},
		})
	}
	return authz.NewPolicy(rules)
}

var (
	accountName   = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	containerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	mediaRange    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*/(\*|[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*)$`)
)

func readSecret(env, file string, getenv func(string) string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("set an environment variable or a file for the secret, not both")
	case env != "":
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot read secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return v, nil
	}
	return "", errors.New("no secret: name an environment variable (…_env) or a file (…_file)")
}

func secretSource(env, file string) string {
	if env != "" {
		return "environment variable " + env
	}
	return "file " + file
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("want an absolute URL such as https://ACCOUNT.blob.core.windows.net, got %q", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must have no query, fragment or user info (a SAS or key never goes here)", s)
	}
	if u.Scheme == "http" && !IsLoopback(s) {
		return fmt.Errorf("%q uses http; only a loopback emulator may, use https", s)
	}
	return nil
}

// IsLoopback reports whether an endpoint URL's host is a loopback address or
// localhost.
func IsLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
