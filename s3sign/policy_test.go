package s3sign_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/s3sign"
)

// capturedPolicy is the policy Fine Uploader 5.16.2 sent for a simple
// upload (PROTOCOL-s3.md §3.2).
const capturedPolicy = `{"expiration":"2026-12-05T07:06:54.018Z","conditions":[{"acl":"private"},{"bucket":"bv-stage"},{"Content-Type":"text/plain"},{"success_action_status":"200"},{"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"key":"u/alice/9116344b-2173-44c6-a1d9-f8acd8aa3fc6-small note.txt"},{"x-amz-credential":"AKIAEXAMPLE/20261205/us-east-1/s3/aws4_request"},{"x-amz-date":"20261205T070154Z"},{"x-amz-meta-qqfilename":"small%20note.txt"}]}`

// withCondition returns the captured policy with its conditions edited.
func withCondition(t *testing.T, edit func([]any) []any) string {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(capturedPolicy), &p); err != nil {
		t.Fatal(err)
	}
	p["conditions"] = edit(p["conditions"].([]any))
	b, _ := json.Marshal(p)
	return string(b)
}

// without drops the conditions on field.
func without(field string) func([]any) []any {
	return func(cs []any) []any {
		var out []any
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if _, ok := m[field]; ok {
					continue
				}
			}
			out = append(out, c)
		}
		return out
	}
}

func plus(c any) func([]any) []any {
	return func(cs []any) []any { return append(cs, c) }
}

func replacing(field, value string) func([]any) []any {
	return func(cs []any) []any { return append(without(field)(cs), map[string]any{field: value}) }
}

func TestPolicyIsRewrittenAndSigned(t *testing.T) {
	s := newSigner(t, capturedAt.Add(time.Minute))
	for _, tc := range []struct{ name, doc string }{
		{"captured", capturedPolicy},
		{"with Fine Uploader's size range", withCondition(t, plus([]any{"content-length-range", "0", "99999999999"}))},
		{"with a numeric range", withCondition(t, plus([]any{"content-length-range", 10, 20}))},
		{"eq as an array", withCondition(t, func(cs []any) []any {
			return append(without("Content-Type")(cs), []any{"eq", "$Content-Type", "image/png"})
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := s3sign.ParseSignRequest([]byte(tc.doc))
			if err != nil || req.Policy == nil {
				t.Fatalf("parse: %+v, %v", req, err)
			}
			c, err := s.CheckPolicy(*req.Policy)
			if err != nil {
				t.Fatal(err)
			}
			if c.Key != "u/alice/9116344b-2173-44c6-a1d9-f8acd8aa3fc6-small note.txt" || c.Meta["qqfilename"] != "small%20note.txt" {
				t.Errorf("checked = %+v", c)
			}
			a, err := s.SignPolicy(c, 20<<20, 15*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := base64.StdEncoding.DecodeString(a.Policy)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Expiration string
				Conditions []any
			}
			if err := json.Unmarshal(doc, &got); err != nil {
				t.Fatal(err)
			}
			if got.Expiration != "2026-12-05T07:17:54.000Z" {
				t.Errorf("expiration %s, want now + 15 min", got.Expiration)
			}
			// Every field Fine Uploader posts is still covered, and the
			// range is the rule's, whatever the page asked.
			fields := map[string]bool{}
			var ranges []string
			for _, c := range got.Conditions {
				switch c := c.(type) {
				case map[string]any:
					for k := range c {
						fields[strings.ToLower(k)] = true
					}
				case []any:
					if c[0] == "content-length-range" {
						b, _ := json.Marshal(c)
						ranges = append(ranges, string(b))
					} else {
						fields[strings.ToLower(strings.TrimPrefix(c[1].(string), "$"))] = true
					}
				}
			}
			for _, f := range []string{"acl", "bucket", "content-type", "success_action_status", "x-amz-algorithm", "key", "x-amz-credential", "x-amz-date", "x-amz-meta-qqfilename"} {
				if !fields[f] {
					t.Errorf("the signed policy lost %s: %s", f, doc)
				}
			}
			if len(ranges) != 1 || ranges[0] != `["content-length-range",0,20971520]` {
				t.Errorf("ranges %v, want the rule's only", ranges)
			}
			k := s3sign.SigningKey([]byte(testSecret), "20261205", "us-east-1", "s3")
			if want := s3sign.Signature(k, a.Policy); a.Signature != want {
				t.Errorf("signature %s, want %s", a.Signature, want)
			}
		})
	}
}

func TestCheckPolicyRefuses(t *testing.T) {
	s := newSigner(t, capturedAt)
	for _, tc := range []struct {
		name, doc string
		kind      errs.Kind
		reason    string
	}{
		{"v2", withCondition(t, func(cs []any) []any {
			return without("x-amz-algorithm")(without("x-amz-credential")(without("x-amz-date")(cs)))
		}), errs.Invalid, s3sign.V2Message},
		{"other bucket", withCondition(t, replacing("bucket", "bv-final")), errs.Forbidden, `bucket "bv-final"`},
		{"public ACL", withCondition(t, replacing("acl", "public-read")), errs.Forbidden, `acl "public-read"`},
		{"no ACL", withCondition(t, without("acl")), errs.Forbidden, "no acl condition"},
		{"no key", withCondition(t, without("key")), errs.Forbidden, "no key condition"},
		{"starts-with key", withCondition(t, func(cs []any) []any { return append(without("key")(cs), []any{"starts-with", "$key", "u/alice/"}) }), errs.Forbidden, "starts-with"},
		{"starts-with content type", withCondition(t, plus([]any{"starts-with", "$Content-Type", ""})), errs.Forbidden, "starts-with"},
		{"two keys", withCondition(t, plus(map[string]any{"key": "u/bob/x"})), errs.Forbidden, "given twice"},
		{"key with ${filename}", withCondition(t, replacing("key", "u/alice/${filename}")), errs.Forbidden, "${filename}"},
		{"redirect", withCondition(t, plus(map[string]any{"success_action_redirect": "https://evil/"})), errs.Forbidden, "success_action_redirect"},
		{"website redirect", withCondition(t, plus(map[string]any{"x-amz-website-redirect-location": "/x"})), errs.Forbidden, "x-amz-website-redirect-location"},
		{"storage class", withCondition(t, plus(map[string]any{"x-amz-storage-class": "REDUCED_REDUNDANCY"})), errs.Forbidden, "x-amz-storage-class"},
		{"grant", withCondition(t, plus(map[string]any{"x-amz-grant-read": "uri=http://acs.amazonaws.com/groups/global/AllUsers"})), errs.Forbidden, "x-amz-grant-read"},
		{"security token", withCondition(t, plus(map[string]any{"x-amz-security-token": "t"})), errs.Forbidden, "x-amz-security-token"},
		{"cache control", withCondition(t, plus(map[string]any{"Cache-Control": "max-age=1"})), errs.Forbidden, "Cache-Control"},
		{"status 302", withCondition(t, replacing("success_action_status", "302")), errs.Forbidden, "success_action_status"},
		{"other algorithm", withCondition(t, replacing("x-amz-algorithm", "AWS4-HMAC-SHA1")), errs.Forbidden, "x-amz-algorithm"},
		{"other access key", withCondition(t, replacing("x-amz-credential", "AKIAOTHER/20261205/us-east-1/s3/aws4_request")), errs.Forbidden, "x-amz-credential"},
		{"other region", withCondition(t, replacing("x-amz-credential", "AKIAEXAMPLE/20261205/eu-west-1/s3/aws4_request")), errs.Forbidden, "x-amz-credential"},
		{"other day", withCondition(t, replacing("x-amz-credential", "AKIAEXAMPLE/20261204/us-east-1/s3/aws4_request")), errs.Forbidden, "x-amz-credential"},
		{"old date", withCondition(t, replacing("x-amz-date", "20261205T065000Z")), errs.Forbidden, "more than 5m0s"},
		{"no date", withCondition(t, without("x-amz-date")), errs.Forbidden, "no x-amz-date"},
		{"long metadata", withCondition(t, plus(map[string]any{"x-amz-meta-a": strings.Repeat("x", 1025)})), errs.Forbidden, "longer than 1024"},
		{"too much metadata", withCondition(t, func(cs []any) []any {
			for i := range 3 {
				cs = append(cs, map[string]any{"x-amz-meta-m" + string(rune('a'+i)): strings.Repeat("x", 600)})
			}
			return cs
		}), errs.Forbidden, "in all"},
		{"number value", withCondition(t, plus(map[string]any{"x-amz-meta-n": 1})), errs.Invalid, "with a string"},
		{"two fields in one", withCondition(t, plus(map[string]any{"x-amz-meta-a": "1", "x-amz-meta-b": "2"})), errs.Invalid, "one field"},
		{"unknown kind", withCondition(t, plus([]any{"ne", "$key", "x"})), errs.Invalid, "not eq"},
		{"bad range", withCondition(t, plus([]any{"content-length-range", "10", "1"})), errs.Invalid, "range of two sizes"},
		{"negative range", withCondition(t, plus([]any{"content-length-range", -1, 1})), errs.Invalid, "range of two sizes"},
		{"unknown top-level", `{"expiration":"x","conditions":[],"extra":1}`, errs.Invalid, "not a JSON object"},
		{"no conditions", `{"expiration":"x"}`, errs.Invalid, "no conditions"},
		{"not JSON", `{"expiration":`, errs.Invalid, "not a JSON object"},
		{"trailing data", capturedPolicy + `{}`, errs.Invalid, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := s3sign.ParseSignRequest([]byte(tc.doc))
			if err == nil {
				_, err = s.CheckPolicy(*req.Policy)
			}
			if err == nil {
				t.Fatalf("accepted %s", tc.doc)
			}
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %v (%v), want %v with %q", err, errs.KindOf(err), tc.kind, tc.reason)
			}
		})
	}
}

func TestSignPolicyNeedsLimits(t *testing.T) {
	s := newSigner(t, capturedAt)
	p, _ := s3sign.ParsePolicy([]byte(capturedPolicy))
	c, err := s.CheckPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignPolicy(c, 0, time.Minute); err == nil {
		t.Error("signed without a size limit")
	}
	if _, err := s.SignPolicy(c, 1, 0); err == nil {
		t.Error("signed without a lifetime")
	}
}

func TestACLOwnerFullControl(t *testing.T) {
	s := newSigner(t, capturedAt, func(c *s3sign.Config) { c.ACL = s3sign.ACLOwnerFullControl })
	p, _ := s3sign.ParsePolicy([]byte(capturedPolicy))
	if _, err := s.CheckPolicy(p); err == nil || !strings.Contains(err.Error(), "bucket-owner-full-control") {
		t.Errorf("private ACL against bucket-owner-full-control: %v", err)
	}
	p, _ = s3sign.ParsePolicy([]byte(withCondition(t, replacing("acl", s3sign.ACLOwnerFullControl))))
	if _, err := s.CheckPolicy(p); err != nil {
		t.Error(err)
	}
}
