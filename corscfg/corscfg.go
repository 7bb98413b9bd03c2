// Package corscfg manages the CORS rule that Fine Uploader needs on a storage
// account's Blob service: it plans a change as a diff, checks Azure's limits,
// and writes it while leaving every other rule, and every other service
// property, as it was.
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

// Rule is one CORS rule of the Blob service.
type Rule struct {
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
}

// Rule returns the CORS rule for d.
func (d Desired) Rule() Rule {
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
	if err := CheckLimits(res.After); err != nil {
		return res, err
	}
	res.Warnings = warnings(res.After, res.Index)
	return res, nil
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
func warnings(rules []Rule, ours int) []string {
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
					ws = append(ws, fmt.Sprintf("rule %d comes first and also matches %s from %s: Azure applies the first matching rule, so blobvalet's rule %d is not used for it; make rule %d allow Fine Uploader's headers too, or remove it", i+1, m, o, ours+1, i+1))
				}
			}
		}
	}
	for i, r := range rules {
		for j, o := range r.AllowedOrigins {
			if strings.Contains(o, "*") && j < len(r.AllowedOrigins)-1 {
				ws = append(ws, fmt.Sprintf("rule %d lists %q before other origins: the Azurite emulator stops reading origins at the first wildcard, so those after it are ignored there (Azure itself is fine)", i+1, o))
			}
		}
	}
	return ws
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
