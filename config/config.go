// Package config reads and checks blobvalet's YAML configuration. A file
// that is wrong in any way is refused as a whole, with one line per problem
// naming the field and what to fix. Secrets are never in the file: it names
// the environment variable or file that holds each one.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/origin"
)

// Defaults and limits.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultAdminListen = "127.0.0.1:9090"
	DefaultSASLifetime = 10 * time.Minute
	MaxSASLifetime     = time.Hour
	MinSASLifetime     = 30 * time.Second
)

// Config is the whole configuration of blobvalet serve.
type Config struct {
	// Listen is the address the HTTP server listens on.
	Listen string `yaml:"listen"`
	// AdminListen is the address of /readyz and /metrics, which tell what
	// is degraded and why and so are for the operator, not the public.
	// Default 127.0.0.1:9090; it must differ from Listen.
	AdminListen string `yaml:"admin_listen"`
	// Storage is the storage blobvalet signs for: an Azure storage account
	// or an S3-compatible service.
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
	// EventsQueue chooses where webhook events wait: Azure Queue Storage
	// in the storage account (the default) or Amazon SQS.
	EventsQueue EventsQueue `yaml:"events"`
	// Staging is where uploads wait until they are verified.
	Staging Staging `yaml:"staging"`
	// Limits caps how often each user and client address may ask.
	Limits Limits `yaml:"limits"`
	// TLS, if set, makes blobvalet serve HTTPS.
	TLS *TLS `yaml:"tls"`
	// Success bounds the upload-success check.
	Success Success `yaml:"success"`
	// Shutdown sets how blobvalet stops.
	Shutdown Shutdown `yaml:"shutdown"`
	// Upload configures Fine Uploader's traditional endpoint, off unless
	// enabled.
	Upload Upload `yaml:"upload"`

	policy   *authz.Policy
	resolver *blobref.Resolver
}

// SAS configures issued SAS URIs.
type SAS struct {
	// Lifetime is how long an issued SAS stays valid. Default 10m, at most 1h.
	Lifetime Duration `yaml:"lifetime"`
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
	switch {
	case c.AdminListen == "":
		c.AdminListen = DefaultAdminListen
	case !validHostPort(c.AdminListen):
		p.add("admin_listen", "want host:port such as 127.0.0.1:9090, got %q", c.AdminListen)
	}
	if c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		p.add("admin_listen", "%s is also listen: /readyz and /metrics need an address of their own", c.AdminListen)
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
	c.completeEvents(&p, getenv)
	c.Staging.complete(&p, &c.Storage, c.policy, time.Duration(c.SAS.Lifetime))
	c.Limits.complete(&p)
	c.Success.complete(&p)
	if c.TLS != nil {
		c.TLS.complete(&p)
	}
	c.Shutdown.complete(&p)
	c.Upload.complete(&p, c.policy.Containers())
	c.completeS3Deployment(&p)
	if len(p) == 0 {
		var err error
		c.resolver, err = blobref.NewResolver(c.Storage.Endpoint, c.policy.Containers())
		if err != nil {
			p.add("storage.endpoint", "%v", err)
		}
	}
	return p.err()
}

func validHostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

// Policy returns the compiled rules.
func (c *Config) Policy() *authz.Policy { return c.policy }

// Resolver returns the resolver for the configured endpoint and the
// containers that rules name.
func (c *Config) Resolver() *blobref.Resolver { return c.resolver }
