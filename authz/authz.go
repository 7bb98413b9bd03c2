// Package authz decides who may do what to which blob. Decisions are pure:
// a user, a method and a blob reference go in, a Decision with its reason
// comes out. Nothing is allowed unless a rule allows it.
package authz

import (
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/blobref"
)

// User is an authenticated caller.
type User struct {
	ID     string
	Groups []string
}

// Method is an operation Fine Uploader asks a SAS for.
type Method string

// The methods Fine Uploader asks for.
const (
	Put    Method = "PUT"
	Delete Method = "DELETE"
)

// ParseMethod accepts exactly "PUT" or "DELETE".
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case Put, Delete:
		return m, nil
	}
	return "", fmt.Errorf("method %q is not PUT or DELETE", s)
}

// Rule allows some users to do some methods to some blobs of one container.
type Rule struct {
	// Name identifies the rule in logs and errors.
	Name string
	// Users lists user ids the rule applies to; "*" is any authenticated user.
	Users []string
	// Groups lists groups the rule applies to: a user in any of them matches.
	Groups []string
	// Container is the container the rule covers.
	Container string
	// Blobs is the pattern blob names must match.
	Blobs *Pattern
	// Methods are the allowed methods.
	Methods []Method
	// Overwrite lets PUT replace an existing blob; otherwise PUT only creates.
	Overwrite bool
	// Lifetime, if not zero, replaces the service's SAS lifetime.
	Lifetime time.Duration
	// Constraints is checked on finished uploads by the upload-success check.
	Constraints Constraints
}

// Constraints limit what a finished upload may be. An Azure SAS cannot
// enforce them, so they are checked after the upload.
type Constraints struct {
	// MaxSize is the largest blob allowed, in bytes; 0 means the
	// upload-success check's default limit, never none.
	MaxSize int64
	// ContentTypes lists allowed media types; "image/*" matches a family.
	// Empty allows any.
	ContentTypes []string
	// Extensions lists allowed file-name endings such as ".jpg"; empty allows any.
	Extensions []string
}

// Request is what a caller asks to do.
type Request struct {
	User   User
	Method Method
	Blob   blobref.Ref
}

// Decision is the outcome of Decide.
type Decision struct {
	Allow bool
	// Rule is the rule that allowed the request; nil when denied.
	Rule *Rule
	// Reason says why, for the log.
	Reason string
}

// Policy is an ordered list of rules. The first rule that matches decides.
type Policy struct {
	rules []*Rule
}

// NewPolicy returns a policy of the given rules, in order.
func NewPolicy(rules []*Rule) *Policy {
	return &Policy{rules: rules}
}

// Rules returns the policy's rules in order.
func (p *Policy) Rules() []*Rule { return p.rules }

// Containers returns the containers the rules name, each once, in order.
func (p *Policy) Containers() []string {
	var cs []string
	for _, r := range p.rules {
		if !slices.Contains(cs, r.Container) {
			cs = append(cs, r.Container)
		}
	}
	return cs
}

// Decide allows the request if a rule matches it, and denies it otherwise.
func (p *Policy) Decide(req Request) Decision {
	for _, r := range p.rules {
		if r.Matches(req) {
			return Decision{Allow: true, Rule: r, Reason: "allowed by rule " + r.Name}
		}
	}
	return Decision{Reason: fmt.Sprintf("no rule allows %s of %s for user %q", req.Method, req.Blob, req.User.ID)}
}

// Matches reports whether the rule allows the request.
func (r *Rule) Matches(req Request) bool {
	return r.Container == req.Blob.Container &&
		slices.Contains(r.Methods, req.Method) &&
		r.appliesTo(req.User) &&
		r.Blobs.Match(req.Blob.Name, req.User.ID)
}

func (r *Rule) appliesTo(u User) bool {
	if u.ID == "" {
		return false
	}
	for _, id := range r.Users {
		if id == "*" || id == u.ID {
			return true
		}
	}
	for _, g := range r.Groups {
		if slices.Contains(u.Groups, g) {
			return true
		}
	}
	return false
}

// AllowsContentType reports whether a media type (parameters ignored) is
// allowed. A family such as "image/*" never covers an active type (one a
// browser runs: HTML, SVG, XML, JavaScript): those pass only when named
// exactly.
func (c Constraints) AllowsContentType(mediaType string) bool {
	if len(c.ContentTypes) == 0 {
		return true
	}
	mt := MediaType(mediaType)
	for _, allowed := range c.ContentTypes {
		allowed = strings.ToLower(allowed)
		if family, ok := strings.CutSuffix(allowed, "/*"); ok {
			if f, _, _ := strings.Cut(mt, "/"); f == family && strings.Contains(mt, "/") && !IsActive(mt) {
				return true
			}
		} else if mt == allowed {
			return true
		}
	}
	return false
}

// ParseMediaType parses an untrusted Content-Type value strictly, as RFC 9110
// writes it: one type "/" subtype, both tokens, then parameters only after
// ";". It returns the media type in lower case, without parameters. What
// browsers could read otherwise is refused: a list ("image/x-foo,
// text/html", which a browser takes as text/html), a type without a
// subtype, characters outside tokens (mime.ParseMediaType lets "{" and "}"
// through), control characters and non-ASCII bytes anywhere.
func ParseMediaType(v string) (string, error) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return "", errors.New("media type: control character or non-ASCII byte")
		}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", fmt.Errorf("media type: %w", err)
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return "", errors.New("media type: want type/subtype, both tokens")
	}
	for k := range params {
		if !isToken(k) {
			return "", errors.New("media type: a parameter's name is not a token")
		}
	}
	return mt, nil
}

// isToken reports whether s is an RFC 9110 token: one or more of
// ALPHA, DIGIT and !#$%&'*+-.^_`|~.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// MediaType returns the media type of a Content-Type value: lower case,
// without parameters ("Text/HTML; charset=utf-8" gives "text/html").
func MediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// IsActive reports whether a browser runs content of this media type
// (parameters ignored) when it opens it: HTML, SVG and other XML,
// JavaScript, XSL, Flash.
func IsActive(mediaType string) bool {
	mt := MediaType(mediaType)
	switch mt {
	case "text/html", "text/xml", "application/xml", "text/xsl", "image/svg+xml", "application/xhtml+xml",
		"text/javascript", "application/javascript", "application/x-javascript", "application/ecmascript",
		"text/ecmascript", "text/jscript", "application/x-shockwave-flash", "multipart/x-mixed-replace":
		return true
	}
	return strings.HasSuffix(mt, "+xml")
}

// AllowsName reports whether a file name has an allowed ending.
func (c Constraints) AllowsName(name string) bool {
	if len(c.Extensions) == 0 {
		return true
	}
	lower := strings.ToLower(name)
	for _, ext := range c.Extensions {
		if strings.HasSuffix(lower, strings.ToLower(ext)) {
			return true
		}
	}
	return false
}
