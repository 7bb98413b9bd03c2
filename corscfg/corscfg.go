// Package corscfg manages the CORS rule that the upload clients need on
// storage: on an Azure storage account's Blob service (Fine Uploader
// Azure), or on an S3 staging bucket (Fine Uploader S3 and Uppy). It plans
// a change as a diff, checks the service's limits, and writes it while
// leaving every other rule, and every other property, as it was.
package corscfg

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/origin"
)

// Azure's limits on a Blob service's CORS rules.
const (
	MaxRules           = 5
	MaxOriginsPerRule  = 64
	MaxLiteralHeaders  = 64
	MaxPrefixedHeaders = 2
	MaxEntryLength     = 256
	MaxRuleText        = 2048
)

// BaseHeaders are the request headers Fine Uploader Azure sends to storage:
// the blob type on Put Blob, the content type of the file and of the block
// list, and its metadata (qqfilename, request params, scaling headers).
var BaseHeaders = []string{"x-ms-blob-type", "x-ms-blob-content-type", "content-type", "x-ms-meta-*"}

// Methods are the methods Fine Uploader Azure uses on storage: PUT for
// blobs, blocks and block lists; DELETE for deletes and for cleaning up a
// cancelled chunked upload.
var Methods = []string{"PUT", "DELETE"}

// S3Headers are the request headers the clients send to an S3 staging
// bucket: the file's type, Fine Uploader S3's signed Authorization, and
// its x-amz-* headers (acl, content-sha256, date, meta-*). Fine Uploader's
// unprefixed params, such as Cache-Control, need adding as extra headers.
var S3Headers = []string{"content-type", "authorization", "x-amz-*"}

// S3Methods are the methods the clients use on S3: POST for the policy
// form, a multipart upload's initiate and complete; PUT for an object or a
// part; GET for Uppy's ListParts on resume; DELETE for an abort.
var S3Methods = []string{"PUT", "POST", "GET", "DELETE"}

// S3Exposed are the response headers the clients must read: a part's
// ETag, without which a multipart upload completes with empty ETags.
var S3Exposed = []string{"ETag"}

// MaxS3Rules is S3's limit on a bucket's CORS rules.
const MaxS3Rules = 100

// Rule is one CORS rule of the Blob service or the bucket.
type Rule struct {
	// ID names an S3 rule; Azure's rules have none.
	ID              string   `json:"id,omitempty"`
	AllowedOrigins  []string `json:"allowedOrigins"`
	AllowedMethods  []string `json:"allowedMethods"`
	AllowedHeaders  []string `json:"allowedHeaders"`
	ExposedHeaders  []string `json:"exposedHeaders"`
	MaxAgeInSeconds int32    `json:"maxAgeInSeconds"`
}

// Desired is the rule blobvalet should have on the account.
type Desired struct {
	// Origins are the page origins, exact, or "*".
	Origins []string
	// ExtraHeaders are allowed beside BaseHeaders.
	ExtraHeaders []string
	// MaxAge is how long browsers may cache a preflight.
	MaxAge time.Duration
	// S3 makes the rule an S3 staging bucket's, with S3's headers,
	// methods and limits, rather than an Azure Blob service's.
	S3 bool
}

// Rule returns the CORS rule for d.
func (d Desired) Rule() Rule {
	if d.S3 {
		headers := slices.Clone(S3Headers)
		for _, h := range d.ExtraHeaders {
			h = strings.ToLower(strings.TrimSpace(h))
			if !slices.Contains(headers, h) {
				headers = append(headers, h)
			}
		}
		return Rule{
			AllowedOrigins:  normalizeOrigins(d.Origins),
			AllowedMethods:  slices.Clone(S3Methods),
			AllowedHeaders:  headers,
			ExposedHeaders:  slices.Clone(S3Exposed),
			MaxAgeInSeconds: int32(d.MaxAge / time.Second),
		}
	}
	headers := slices.Clone(BaseHeaders)
	for _, h := range d.ExtraHeaders {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(headers, h) {
			headers = append(headers, h)
		}
	}
	return Rule{
		AllowedOrigins:  normalizeOrigins(d.Origins),
		AllowedMethods:  slices.Clone(Methods),
		AllowedHeaders:  headers,
		ExposedHeaders:  []string{},
		MaxAgeInSeconds: int32(d.MaxAge / time.Second),
	}
}

// CheckOrigin accepts an exact origin, scheme://host[:port] with no path, or
// "*" when allowAny is set. It is the same check as serve's cors_origins.
func CheckOrigin(o string, allowAny bool) error {
	if o == origin.Any && !allowAny {
		return errors.New(`origin "*" lets any web site upload with your SAS URIs; pass --allow-any-origin if you mean it`)
	}
	_, err := origin.Parse(o)
	return err
}

// normalizeOrigins returns checked origins as browsers send them, without
// duplicates.
func normalizeOrigins(origins []string) []string {
	var out []string
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if c, err := origin.Parse(o); err == nil {
			o = c
		} else {
			o = strings.ToLower(o)
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// Action is what Plan does to blobvalet's rule.
type Action string

// The actions of a plan.
const (
	// Add appends blobvalet's rule after the others.
	Add Action = "add"
	// Update replaces blobvalet's rule in place.
	Update Action = "update"
	// NoChange leaves the rules as they are.
	NoChange Action = "none"
)

// Result is what applying a Desired rule to the current rules gives.
type Result struct {
	Before, After []Rule
	// Index is blobvalet's rule in After.
	Index int
	// Action is what happens to blobvalet's rule.
	Action Action
	// Warnings are things that will not stop a write but may stop uploads.
	Warnings []string
}

// Changed reports whether the rules need writing.
func (r Result) Changed() bool { return r.Action != NoChange }

// Plan merges the desired rule into the current rules. The rule whose
// origin set equals the desired one is blobvalet's, updated in place; if
// there is none it is added last. Every other rule stays as and where it is.
// Plan refuses a result that breaks one of Azure's limits.
func Plan(current []Rule, d Desired) (Result, error) {
	want := d.Rule()
	res := Result{Before: current, After: slices.Clone(current), Index: -1, Action: Add}
	for i, r := range current {
		if sameSet(r.AllowedOrigins, want.AllowedOrigins) {
			res.Index = i
			break
		}
	}
	if res.Index < 0 {
		res.After = append(res.After, want)
		res.Index = len(res.After) - 1
	} else if equalRules(current[res.Index], want) {
		res.Action = NoChange
	} else {
		res.After[res.Index] = want
		res.Action = Update
	}
	check := CheckLimits
	if d.S3 {
		check = CheckS3Limits
	}
	if err := check(res.After); err != nil {
		return res, err
	}
	res.Warnings = warnings(res.After, res.Index, d.S3)
	return res, nil
}

// CheckS3Limits checks rules against S3's limits: at most MaxS3Rules, and
// at most one "*" in each origin and each allowed header.
func CheckS3Limits(rules []Rule) error {
	var probs []string
	if len(rules) > MaxS3Rules {
		probs = append(probs, fmt.Sprintf("%d rules; S3 allows at most %d: remove a rule you no longer need (blobvalet cors show lists them)", len(rules), MaxS3Rules))
	}
	for i, r := range rules {
		for _, list := range [][]string{r.AllowedOrigins, r.AllowedHeaders} {
			for _, e := range list {
				if strings.Count(e, "*") > 1 {
					probs = append(probs, fmt.Sprintf("rule %d has %q; S3 allows one * in each origin and header", i+1, e))
				}
			}
		}
	}
	if len(probs) > 0 {
		return errors.New("refusing to write: " + strings.Join(probs, "; "))
	}
	return nil
}

// CheckLimits checks rules against Azure's limits, which the emulator does
// not enforce.
func CheckLimits(rules []Rule) error {
	var probs []string
	if len(rules) > MaxRules {
		probs = append(probs, fmt.Sprintf("%d rules; Azure allows at most %d: remove a rule you no longer need (blobvalet cors show lists them)", len(rules), MaxRules))
	}
	total := 0
	for i, r := range rules {
		n := i + 1
		if len(r.AllowedOrigins) > MaxOriginsPerRule {
			probs = append(probs, fmt.Sprintf("rule %d has %d origins; at most %d", n, len(r.AllowedOrigins), MaxOriginsPerRule))
		}
		for _, hs := range []struct {
			what string
			list []string
		}{{"allowed headers", r.AllowedHeaders}, {"exposed headers", r.ExposedHeaders}} {
			literal, prefixed := 0, 0
			for _, h := range hs.list {
				if strings.HasSuffix(h, "*") {
					prefixed++
				} else {
					literal++
				}
			}
			if literal > MaxLiteralHeaders {
				probs = append(probs, fmt.Sprintf("rule %d has %d literal %s; at most %d", n, literal, hs.what, MaxLiteralHeaders))
			}
			if prefixed > MaxPrefixedHeaders {
				probs = append(probs, fmt.Sprintf("rule %d has %d prefixed %s; at most %d", n, prefixed, hs.what, MaxPrefixedHeaders))
			}
		}
		for _, list := range [][]string{r.AllowedOrigins, r.AllowedMethods, r.AllowedHeaders, r.ExposedHeaders} {
			for _, e := range list {
				if len(e) > MaxEntryLength {
					probs = append(probs, fmt.Sprintf("rule %d has an entry of %d characters (%.40q…); at most %d", n, len(e), e, MaxEntryLength))
				}
			}
			total += len(strings.Join(list, ","))
		}
	}
	if total > MaxRuleText {
		probs = append(probs, fmt.Sprintf("the rules hold %d characters; Azure allows at most %d in all", total, MaxRuleText))
	}
	if len(probs) > 0 {
		return errors.New("refusing to write: " + strings.Join(probs, "; "))
	}
	return nil
}

// warnings lists what may stop uploads though the rules are valid.
func warnings(rules []Rule, ours int, s3 bool) []string {
	var ws []string
	mine := rules[ours]
	for i := range ours {
		r := rules[i]
		for _, m := range mine.AllowedMethods {
			if !containsFold(r.AllowedMethods, m) {
				continue
			}
			for _, o := range mine.AllowedOrigins {
				if matchesOrigin(r.AllowedOrigins, o) {
					ws = append(ws, fmt.Sprintf("rule %d comes first and also matches %s from %s: %s applies the first matching rule, so blobvalet's rule %d is not used for it; make rule %d allow the uploader's headers too, or remove it", i+1, m, o, serviceName(s3), ours+1, i+1))
				}
			}
		}
	}
	for i, r := range rules {
		for j, o := range r.AllowedOrigins {
			if !s3 && strings.Contains(o, "*") && j < len(r.AllowedOrigins)-1 {
				ws = append(ws, fmt.Sprintf("rule %d lists %q before other origins: the Azurite emulator stops reading origins at the first wildcard, so those after it are ignored there (Azure itself is fine)", i+1, o))
			}
		}
	}
	return ws
}

func serviceName(s3 bool) string {
	if s3 {
		return "S3"
	}
	return "Azure"
}

func matchesOrigin(origins []string, o string) bool {
	for _, x := range origins {
		if x == "*" || strings.EqualFold(x, o) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// sameSet compares two lists as case-insensitive sets.
func sameSet(a, b []string) bool {
	norm := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, s := range l {
			s = strings.ToLower(strings.TrimSpace(s))
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

func equalRules(a, b Rule) bool {
	return sameSet(a.AllowedOrigins, b.AllowedOrigins) &&
		sameSet(a.AllowedMethods, b.AllowedMethods) &&
		sameSet(a.AllowedHeaders, b.AllowedHeaders) &&
		sameSet(a.ExposedHeaders, b.ExposedHeaders) &&
		a.MaxAgeInSeconds == b.MaxAgeInSeconds
}
