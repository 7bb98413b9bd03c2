package s3sign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blobvalet/blobvalet/errs"
)

// MaxConditions caps a policy's conditions: Fine Uploader sends about ten,
// and one per request param.
const MaxConditions = 64

// MaxContentType caps the Content-Type condition's value.
const MaxContentType = 256

// Condition is one condition of a POST policy: an exact match of a form
// field (Fine Uploader's {"name": "value"} or ["eq", "$name", "value"]),
// a prefix match (["starts-with", …], never signed), or the
// content-length-range.
type Condition struct {
	// Kind is "eq", "starts-with" or "content-length-range".
	Kind string
	// Name is the form field as written, without "$"; Value its value.
	Name, Value string
	// Min and Max are the range's bounds.
	Min, Max int64
}

// Policy is a parsed POST policy document. It is only parsed; CheckPolicy
// decides whether it is signed.
type Policy struct {
	// Expiration is the client's, as written; blobvalet replaces it.
	Expiration string
	Conditions []Condition
}

// ParsePolicy parses a POST policy document, as Fine Uploader sends it to
// the signature endpoint: {"expiration": "…", "conditions": […]}. Errors
// are *errs.Error values (Invalid).
func ParsePolicy(doc []byte) (Policy, error) {
	bad := func(reason string, err error) (Policy, error) { return Policy{}, malformed(opPolicy, reason, err) }
	var raw struct {
		Expiration *string            `json:"expiration"`
		Conditions *[]json.RawMessage `json:"conditions"`
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(&raw); err != nil {
		return bad("the policy is not a JSON object of expiration and conditions", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return bad("the policy is followed by more data", nil)
	}
	if raw.Conditions == nil {
		return bad("the policy has no conditions", nil)
	}
	if len(*raw.Conditions) > MaxConditions {
		return bad(fmt.Sprintf("the policy has more than %d conditions", MaxConditions), nil)
	}
	var p Policy
	if raw.Expiration != nil {
		p.Expiration = *raw.Expiration
	}
	for _, rc := range *raw.Conditions {
		c, err := parseCondition(rc)
		if err != nil {
			return bad(err.Error(), nil)
		}
		p.Conditions = append(p.Conditions, c)
	}
	return p, nil
}

// parseCondition reads one condition: an object of one string, or an
// array of three.
func parseCondition(rc json.RawMessage) (Condition, error) {
	rc = bytes.TrimSpace(rc)
	switch {
	case len(rc) > 0 && rc[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(rc, &m); err != nil || len(m) != 1 {
			return Condition{}, fmt.Errorf("condition %s is not an object of one field", clipJSON(rc))
		}
		var name string
		for k := range m {
			name = k // the only one
		}
		var value string
		if err := json.Unmarshal(m[name], &value); err != nil {
			return Condition{}, fmt.Errorf("condition %s does not match its field with a string", clipJSON(rc))
		}
		return Condition{Kind: "eq", Name: name, Value: value}, nil
	case len(rc) > 0 && rc[0] == '[':
		var a []json.RawMessage
		if err := json.Unmarshal(rc, &a); err != nil || len(a) != 3 {
			return Condition{}, fmt.Errorf("condition %s is not an array of three", clipJSON(rc))
		}
		var kind string
		if err := json.Unmarshal(a[0], &kind); err != nil {
			return Condition{}, fmt.Errorf("condition %s does not begin with its kind", clipJSON(rc))
		}
		switch strings.ToLower(kind) {
		case "content-length-range":
			lo, err1 := rangeBound(a[1])
			hi, err2 := rangeBound(a[2])
			if err1 != nil || err2 != nil || lo > hi {
				return Condition{}, fmt.Errorf("condition %s is not a range of two sizes", clipJSON(rc))
			}
			return Condition{Kind: "content-length-range", Name: kind, Min: lo, Max: hi}, nil
		case "eq", "starts-with":
			var field, value string
			if json.Unmarshal(a[1], &field) != nil || json.Unmarshal(a[2], &value) != nil || !strings.HasPrefix(field, "$") {
				return Condition{}, fmt.Errorf("condition %s is not [kind, \"$field\", value]", clipJSON(rc))
			}
			return Condition{Kind: strings.ToLower(kind), Name: field[1:], Value: value}, nil
		}
		return Condition{}, fmt.Errorf("condition kind %q is not eq, starts-with or content-length-range", errs.Clip(kind))
	}
	return Condition{}, fmt.Errorf("condition %s is not an object or an array", clipJSON(rc))
}

// rangeBound reads a size of content-length-range: a number, or a string
// of digits as Fine Uploader writes it.
func rangeBound(v json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a size")
	}
	return n, nil
}

func clipJSON(b []byte) string { return errs.Clip(string(b)) }

// CheckedPolicy is a policy that passed a Signer's checks. Key is the
// staging key it uploads to; the caller checks it against the user and
// the rules before signing.
type CheckedPolicy struct {
	Key string
	// Meta are the x-amz-meta-* values, by name without the prefix.
	Meta map[string]string
	// conditions are the checked ones, content-length-range left out.
	conditions []Condition
	// day is the credential's day, whose key signs.
	day string
}

// CheckPolicy accepts a v4 policy whose every condition is one Fine
// Uploader sends and blobvalet allows: the staging bucket, one exact key
// (no ${filename}), the configured ACL, success_action_status 200, 201 or
// 204, this signer's algorithm and credential for the policy's day, an
// x-amz-date within the skew of now, Content-Type, x-amz-meta-* within
// their limits, and content-length-range (which SignPolicy replaces).
// Anything else is refused with the reason: starts-with, redirects,
// storage classes, grants, tokens, unknown fields. A policy without v4's
// fields is refused with V2Message. Errors are *errs.Error values.
func (s *Signer) CheckPolicy(p Policy) (CheckedPolicy, error) {
	no := func(format string, a ...any) (CheckedPolicy, error) {
		return CheckedPolicy{}, refuse(opPolicy, fmt.Sprintf(format, a...))
	}
	seen := map[string]bool{}
	var c CheckedPolicy
	var credential, amzDate string
	metaTotal := 0
	for _, cond := range p.Conditions {
		name := strings.ToLower(cond.Name)
		if cond.Kind == "content-length-range" {
			name = "content-length-range"
		}
		if cond.Kind == "starts-with" {
			return no("condition starts-with on %s is not signed: every field is matched exactly", errs.Clip(cond.Name))
		}
		if seen[name] {
			return no("condition %s is given twice", errs.Clip(cond.Name))
		}
		seen[name] = true
		switch {
		case name == "content-length-range":
			continue // replaced by the rule's
		case name == "bucket":
			if cond.Value != s.bucket {
				return no("bucket %q is not the staging bucket %q: set objectProperties.bucket", errs.Clip(cond.Value), s.bucket)
			}
		case name == "key":
			switch {
			case cond.Value == "" || len(cond.Value) > MaxKeyLength || !utf8.ValidString(cond.Value):
				return no("the key is empty, longer than %d bytes or not UTF-8", MaxKeyLength)
			case strings.Contains(cond.Value, "${filename}"):
				return no("the key may not hold ${filename}: storage would change it after the check")
			}
			c.Key = cond.Value
		case name == "acl":
			if cond.Value != s.acl {
				return no("acl %q is not %q: set objectProperties.acl to %q", errs.Clip(cond.Value), s.acl, s.acl)
			}
		case name == "success_action_status":
			switch cond.Value {
			case "200", "201", "204":
			default:
				return no("success_action_status %q is not 200, 201 or 204", errs.Clip(cond.Value))
			}
		case name == "x-amz-algorithm":
			if cond.Value != Algorithm {
				return no("x-amz-algorithm %q is not %s", errs.Clip(cond.Value), Algorithm)
			}
		case name == "x-amz-credential":
			credential = cond.Value
		case name == "x-amz-date":
			amzDate = cond.Value
		case name == "content-type":
			if cond.Value == "" || len(cond.Value) > MaxContentType || strings.ContainsFunc(cond.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return no("Content-Type is empty, longer than %d bytes or holds a control character", MaxContentType)
			}
		case strings.HasPrefix(name, "x-amz-meta-"):
			meta := cond.Name[len("x-amz-meta-"):]
			if err := checkMeta(meta, cond.Value, &metaTotal); err != nil {
				return CheckedPolicy{}, refuse(opPolicy, err.Error())
			}
			if c.Meta == nil {
				c.Meta = map[string]string{}
			}
			c.Meta[strings.ToLower(meta)] = cond.Value
		default:
			return no("condition %s is not one blobvalet signs", errs.Clip(cond.Name))
		}
		c.conditions = append(c.conditions, cond)
	}
	if !seen["x-amz-algorithm"] && !seen["x-amz-credential"] && !seen["x-amz-date"] {
		return CheckedPolicy{}, v2(opPolicy)
	}
	for _, req := range []string{"bucket", "key", "acl", "x-amz-algorithm", "x-amz-credential", "x-amz-date"} {
		if !seen[req] {
			return no("the policy has no %s condition", req)
		}
	}
	t, err := parseAmzDate(amzDate)
	if err != nil {
		return CheckedPolicy{}, refuse(opPolicy, "x-amz-"+err.Error())
	}
	if err := s.fresh(t); err != nil {
		return CheckedPolicy{}, refuse(opPolicy, err.Error())
	}
	c.day = t.UTC().Format(dayFormat)
	if want := s.accessKey + "/" + s.scope(c.day); credential != want {
		return no("x-amz-credential %q is not this service's key for %s in %s", errs.Clip(credential), c.day, s.region)
	}
	return c, nil
}

// PolicyAnswer is the answer Fine Uploader reads: the policy it posts with
// the file, base64, and its hex signature.
type PolicyAnswer struct {
	Policy    string `json:"policy"`
	Signature string `json:"signature"`
}

// SignPolicy rewrites a checked policy and signs it: its expiration
// becomes now + lifetime, and its content-length-range 0 to maxSize
// (whatever the page asked), the rest as it was checked, so that it still
// covers every field Fine Uploader posts.
func (s *Signer) SignPolicy(c CheckedPolicy, maxSize int64, lifetime time.Duration) (PolicyAnswer, error) {
	if maxSize <= 0 || lifetime <= 0 {
		return PolicyAnswer{}, fmt.Errorf("s3sign: a policy needs a positive size limit and lifetime, not %d and %v", maxSize, lifetime)
	}
	conds := make([]any, 0, len(c.conditions)+1)
	for _, cond := range c.conditions {
		if cond.Kind == "eq" {
			conds = append(conds, map[string]string{cond.Name: cond.Value})
		}
	}
	conds = append(conds, []any{"content-length-range", 0, maxSize})
	doc, err := json.Marshal(struct {
		Expiration string `json:"expiration"`
		Conditions []any  `json:"conditions"`
	}{s.now().UTC().Add(lifetime).Format("2006-01-02T15:04:05.000Z"), conds})
	if err != nil {
		return PolicyAnswer{}, err
	}
	b64 := base64.StdEncoding.EncodeToString(doc)
	return PolicyAnswer{Policy: b64, Signature: s.sign(c.day, b64)}, nil
}
