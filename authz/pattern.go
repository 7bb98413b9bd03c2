package authz

import (
	"fmt"
	"strings"

	"github.com/blobvalet/blobvalet/blobref"
)

// UserPlaceholder in a pattern stands for the authenticated user's id.
const UserPlaceholder = "{user}"

// Pattern matches blob names segment by segment. In a segment, "*" matches
// any run of characters and {user} matches the user id literally; a segment
// that is exactly "**" matches any number of segments, none included, except
// at the end, where it matches one or more: "users/{user}/**" covers what is
// inside the folder, not a blob named like the folder.
type Pattern struct {
	src  string
	segs []segment
}

type segment struct {
	any   bool   // "**"
	parts []part // otherwise
}

type partKind int

const (
	literal partKind = iota
	star
	user
)

type part struct {
	kind partKind
	text string
}

// CompilePattern parses a pattern such as "users/{user}/**".
func CompilePattern(src string) (*Pattern, error) {
	if src == "" {
		return nil, fmt.Errorf("pattern is empty")
	}
	p := &Pattern{src: src}
	for s := range strings.SplitSeq(src, "/") {
		if s == "" {
			return nil, fmt.Errorf("pattern %q has an empty segment", src)
		}
		if s == "**" {
			p.segs = append(p.segs, segment{any: true})
			continue
		}
		if strings.Contains(s, "**") {
			return nil, fmt.Errorf("pattern %q: ** must be a whole segment", src)
		}
		seg, err := compileSegment(s)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", src, err)
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

func compileSegment(s string) (segment, error) {
	var seg segment
	for s != "" {
		switch {
		case strings.HasPrefix(s, UserPlaceholder):
			seg.parts = append(seg.parts, part{kind: user})
			s = s[len(UserPlaceholder):]
		case s[0] == '*':
			seg.parts = append(seg.parts, part{kind: star})
			s = s[1:]
		case s[0] == '{' || s[0] == '}' || s[0] == '?' || s[0] == '[':
			return segment{}, fmt.Errorf("unsupported %q (only * and {user} are special)", s[0])
		default:
			i := strings.IndexAny(s, "*{}?[")
			if i < 0 {
				i = len(s)
			}
			seg.parts = append(seg.parts, part{kind: literal, text: s[:i]})
			s = s[i:]
		}
	}
	return seg, nil
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// UsesUser reports whether the pattern contains {user}.
func (p *Pattern) UsesUser() bool { return strings.Contains(p.src, UserPlaceholder) }

// SafeUserID reports whether a user id can stand for {user}: one non-empty
// path segment with no glob character, not "." or "..", no control
// character or backslash.
func SafeUserID(id string) bool {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\*?[]{}") {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Match reports whether name matches the pattern for the given user. A
// pattern with {user} never matches when the user id is not safe.
func (p *Pattern) Match(name blobref.Name, userID string) bool {
	if p.UsesUser() && !SafeUserID(userID) {
		return false
	}
	return matchSegs(p.segs, name.Segments(), userID)
}

func matchSegs(pat []segment, segs []string, userID string) bool {
	for len(pat) > 0 {
		if pat[0].any {
			if len(pat) == 1 {
				// A trailing ** means "inside": the folder's own name is
				// not in it.
				return len(segs) > 0
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:], userID) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 || !matchParts(pat[0].parts, segs[0], userID) {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

func matchParts(parts []part, s, userID string) bool {
	for len(parts) > 0 {
		switch p := parts[0]; p.kind {
		case literal, user:
			text := p.text
			if p.kind == user {
				text = userID
			}
			if !strings.HasPrefix(s, text) {
				return false
			}
			parts, s = parts[1:], s[len(text):]
		case star:
			for i := 0; i <= len(s); i++ {
				if matchParts(parts[1:], s[i:], userID) {
					return true
				}
			}
			return false
		}
	}
	return s == ""
}
