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
//
// {user} never shares a segment with "*", so one user's names are never
// another's. Matching takes time proportional to the length of the name
// times the length of the pattern, whatever the name.
type Pattern struct {
	src  string
	segs []segment
}

type segment struct {
	any     bool   // "**"
	parts   []part // otherwise
	glob    string // the segment as written, when it has a "*" (and so no {user})
	hasStar bool
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
	seg := segment{glob: s}
	hasUser := false
	for rest := s; rest != ""; {
		switch {
		case strings.HasPrefix(rest, UserPlaceholder):
			seg.parts = append(seg.parts, part{kind: user})
			hasUser = true
			rest = rest[len(UserPlaceholder):]
		case rest[0] == '*':
			seg.parts = append(seg.parts, part{kind: star})
			seg.hasStar = true
			rest = rest[1:]
		case rest[0] == '{' || rest[0] == '}' || rest[0] == '?' || rest[0] == '[':
			return segment{}, fmt.Errorf("unsupported %q (only * and {user} are special)", rest[0])
		default:
			i := strings.IndexAny(rest, "*{}?[")
			if i < 0 {
				i = len(rest)
			}
			seg.parts = append(seg.parts, part{kind: literal, text: rest[:i]})
			rest = rest[i:]
		}
	}
	if hasUser && seg.hasStar {
		return segment{}, fmt.Errorf("segment %q has both {user} and *, so one user would match another's names ({user}.* lets bob write bob.smith.png); give {user} a segment without *", s)
	}
	return seg, nil
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// UsesUser reports whether the pattern contains {user}.
func (p *Pattern) UsesUser() bool { return strings.Contains(p.src, UserPlaceholder) }

// SafeUserID reports whether a user id can stand for {user}: one non-empty
// path segment with no glob character, not "." or "..", no control
// character or backslash, and nothing that means something else once a
// URL is decoded: no "%" (the id "%61lice" would own "users/%61lice/",
// which decodes to "users/alice/") and no "#".
func SafeUserID(id string) bool {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\*?[]{}%#") {
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
	ok, _ := p.match(name.Segments(), userID)
	return ok
}

// maxStackStates is how many pattern segments match keeps its state sets for
// without allocating.
const maxStackStates = 32

// match runs the pattern as a finite automaton over the name's segments:
// state i means "segments before i are matched". Each segment of the name is
// tried once against each live state, so the work is bounded by the length
// of the name times the length of the pattern. It returns the work done, in
// steps of one byte comparison or one state transition.
func (p *Pattern) match(segs []string, userID string) (ok bool, steps int) {
	if p.UsesUser() && !SafeUserID(userID) {
		return false, 0
	}
	n := len(p.segs)
	var buf [2 * maxStackStates]bool
	var cur, next []bool
	if n+1 <= maxStackStates {
		cur, next = buf[:n+1], buf[maxStackStates:maxStackStates+n+1]
	} else {
		cur, next = make([]bool, n+1), make([]bool, n+1)
	}
	cur[0] = true
	p.closure(cur)
	for _, s := range segs {
		clear(next)
		live := false
		for i, on := range cur[:n] {
			if !on {
				continue
			}
			steps++
			seg := &p.segs[i]
			switch {
			case seg.any:
				next[i] = true
				if i == n-1 {
					// A trailing ** has matched one segment or more.
					next[n] = true
				}
				live = true
			case matchSegment(seg, s, userID, &steps):
				next[i+1] = true
				live = true
			}
		}
		if !live {
			return false, steps
		}
		p.closure(next)
		cur, next = next, cur
	}
	return cur[n], steps
}

// closure adds the states reachable without consuming a segment: past a **
// that is not the last segment of the pattern, which may match none.
func (p *Pattern) closure(states []bool) {
	for i := 0; i < len(p.segs)-1; i++ {
		if states[i] && p.segs[i].any {
			states[i+1] = true
		}
	}
}

// matchSegment matches one segment of a name against one of the pattern.
func matchSegment(seg *segment, s, userID string, steps *int) bool {
	if seg.hasStar {
		return matchGlob(seg.glob, s, steps)
	}
	for _, p := range seg.parts {
		text := p.text
		if p.kind == user {
			text = userID
		}
		*steps += min(len(text), len(s)) + 1
		if !strings.HasPrefix(s, text) {
			return false
		}
		s = s[len(text):]
	}
	return s == ""
}

// matchGlob matches s against glob, in which only "*" is special. When a
// literal fails after a "*", only the last "*" takes one more byte: the
// earlier ones cannot do better, because whatever the last one can reach, so
// could they. That bounds the work by len(glob) times len(s). Byte-wise
// matching is safe for UTF-8: a valid literal matches only at rune boundaries.
func matchGlob(glob, s string, steps *int) bool {
	g, i := 0, 0
	starG, starI := -1, 0
	for g < len(glob) || i < len(s) {
		*steps++
		if g < len(glob) {
			if glob[g] == '*' {
				starG, starI = g, i
				g++
				continue
			}
			if i < len(s) && s[i] == glob[g] {
				g++
				i++
				continue
			}
		}
		if starG < 0 || starI >= len(s) {
			return false
		}
		starI++
		g, i = starG+1, starI
	}
	return true
}
