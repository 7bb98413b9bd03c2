package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/blobvalet/blobvalet/authz"
)

// Rule is one authorization rule; see package authz.
type Rule struct {
	// Name identifies the rule in logs.
	Name string `yaml:"name"`
	// Users the rule applies to; "*" is any authenticated user.
	Users []string `yaml:"users"`
	// Groups the rule applies to.
	Groups []string `yaml:"groups"`
	// Container is the container the rule covers: with storage.kind s3,
	// the final bucket.
	Container string `yaml:"container"`
	// Bucket is the S3 spelling of Container (storage.kind s3 only).
	Bucket string `yaml:"bucket"`
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
	Thumbnail Thumbnail `yaml:"thumbnail"`
	// Webhook, if set, is told of this rule's verified uploads instead of
	// the global webhook.
	Webhook *Webhook `yaml:"webhook"`
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
		nameField := containerField(field, r.Container, r.Bucket)
		c.Storage.resolveBucket(p, field, &c.Rules[i].Container, &r.Bucket)
		r.Container = c.Rules[i].Container
		if msg := c.Storage.checkContainerName(r.Container); msg != "" {
			p.add(nameField, "%s", msg)
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
		switch th := r.Thumbnail.written; {
		case th == "", th == "sas":
			c.Rules[i].Thumbnail = Thumbnail{Kind: ThumbnailSAS, written: th}
		case th == "none":
			c.Rules[i].Thumbnail = Thumbnail{Kind: ThumbnailNone, written: th}
		case strings.HasPrefix(th, "https://") || strings.HasPrefix(th, "http://") || strings.HasPrefix(th, "/"):
			if !strings.Contains(th, "{blob}") {
				p.add(field+".thumbnail", "a URL template needs {blob}, got %q", th)
			}
			c.Rules[i].Thumbnail = Thumbnail{Kind: ThumbnailTemplate, Template: th, written: th}
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

// ThumbnailKind says what thumbnailUrl a rule's verified uploads get.
type ThumbnailKind int

const (
	// ThumbnailSAS is a short-lived read-only SAS URL of the blob, for
	// images only: the default.
	ThumbnailSAS ThumbnailKind = iota
	// ThumbnailNone is no thumbnailUrl.
	ThumbnailNone
	// ThumbnailTemplate is Template with {container} and {blob} filled in.
	ThumbnailTemplate
)

// Thumbnail is a rule's thumbnail setting, written "sas", "none" or a URL
// template, and parsed once when the configuration is checked.
type Thumbnail struct {
	Kind ThumbnailKind
	// Template is the URL template of ThumbnailTemplate.
	Template string
	written  string // as in the file, until checked
}

// UnmarshalYAML implements yaml.Unmarshaler: it keeps the text, which the
// checks of the rules parse, so that a wrong value is reported with them.
func (t *Thumbnail) UnmarshalYAML(n *yaml.Node) error {
	return n.Decode(&t.written)
}
