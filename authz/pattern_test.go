package authz

import (
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/blobref"
)

// referenceMatch is the obvious backtracking matcher: easy to check by eye,
// exponential on adversarial names, used only to check match on small inputs.
func referenceMatch(p *Pattern, segs []string, userID string) bool {
	if p.UsesUser() && !SafeUserID(userID) {
		return false
	}
	return refSegs(p.segs, segs, userID)
}

func refSegs(pat []segment, segs []string, userID string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0].any {
		if len(pat) == 1 {
			return len(segs) > 0
		}
		for i := 0; i <= len(segs); i++ {
			if refSegs(pat[1:], segs[i:], userID) {
				return true
			}
		}
		return false
	}
	return len(segs) > 0 && refParts(pat[0].parts, segs[0], userID) && refSegs(pat[1:], segs[1:], userID)
}

func refParts(parts []part, s, userID string) bool {
	if len(parts) == 0 {
		return s == ""
	}
	switch p := parts[0]; p.kind {
	case star:
		for i := 0; i <= len(s); i++ {
			if refParts(parts[1:], s[i:], userID) {
				return true
			}
		}
		return false
	default:
		text := p.text
		if p.kind == user {
			text = userID
		}
		return strings.HasPrefix(s, text) && refParts(parts[1:], s[len(text):], userID)
	}
}

// adversarial are names that take a backtracking matcher polynomial or
// exponential time: long runs of the pattern's own separators, and a last
// byte that fails the match.
var adversarial = []struct{ pattern, name string }{
	{"**/*_*_*.jpg", strings.Repeat("_", 1000)},
	{"**/*_*_*_*_*.jpg", strings.Repeat("_", 1000) + ".jpgx"},
	{"**/a/**/a/**/a/**/b", strings.Repeat("a/", 500) + "a"},
	{"**/*a*a*a*a*b", strings.Repeat("a", 1000)},
	{"*/*/*/**/*x*x*x", strings.Repeat("x/", 300) + strings.Repeat("x", 100) + "y"},
}

// stepBound is the most work match may do: a small constant times the
// length of the name times the length of the pattern. Each pair of a name
// segment and a live pattern segment costs at most (len(seg)+2) times
// (len(pattern segment)+1) steps, plus one; summed, that stays under three
// times the product.
func stepBound(pattern, name string) int {
	return 3 * (len(name) + 1) * (len(pattern) + 1)
}

func TestMatchLinearOnAdversarialNames(t *testing.T) {
	for _, tt := range adversarial {
		p := mustPattern(t, tt.pattern)
		ok, steps := p.match(blobref.Name(tt.name).Segments(), "alice")
		if ok {
			t.Errorf("%q matched %.20q…", tt.pattern, tt.name)
		}
		if max := stepBound(tt.pattern, tt.name); steps > max {
			t.Errorf("%q on a %d-byte name: %d steps, want at most %d", tt.pattern, len(tt.name), steps, max)
		}
	}
}

func BenchmarkMatchAdversarial(b *testing.B) {
	for _, tt := range adversarial {
		p := mustPattern(b, tt.pattern)
		name := blobref.Name(tt.name)
		b.Run(tt.pattern, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(name, "alice")
			}
		})
	}
}

// FuzzPatternMatch checks that matching never panics, does work bounded by
// the name's length times the pattern's, and agrees with the reference
// matcher wherever that one is quick enough to run.
func FuzzPatternMatch(f *testing.F) {
	f.Add("users/{user}/**", "users/alice/x.jpg", "alice")
	f.Add("**/*_*_*.jpg", "a/b_c_d.jpg", "")
	f.Add("**/*_*_*.jpg", strings.Repeat("_", 200), "")
	f.Add("a/**/**/b", "a/b", "")
	f.Add("x-{user}/**", "x-bob/y", "bob")
	f.Add("h*é*o", "héllo", "")
	f.Fuzz(func(t *testing.T, pattern, name, userID string) {
		p, err := CompilePattern(pattern)
		if err != nil {
			return
		}
		segs := strings.Split(name, "/")
		ok, steps := p.match(segs, userID)
		if max := stepBound(pattern, name); steps > max {
			t.Fatalf("%q on %q: %d steps, want at most %d", pattern, name, steps, max)
		}
		if len(name) <= 40 && len(pattern) <= 20 {
			if want := referenceMatch(p, segs, userID); ok != want {
				t.Fatalf("%q.match(%q, user %q) = %v, reference says %v", pattern, name, userID, ok, want)
			}
		}
	})
}
