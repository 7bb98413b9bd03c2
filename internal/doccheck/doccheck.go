// Package doccheck finds broken links in the repository's Markdown: a
// relative link to a file that does not exist, or an #anchor that names no
// heading of the page it points to. Its test runs it over the whole
// repository, so that moving or renaming a page or a heading cannot leave a
// dead link behind. It checks no link that leaves the repository (http,
// https, mailto), since that would need the network.
package doccheck

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Link is one link found in a Markdown document.
type Link struct {
	Target string // as written: "docs/x.md#anchor", "#anchor"
	Line   int    // 1-based line of the link's target
}

// Problem is one broken link.
type Problem struct {
	File   string // slash-separated, relative to the checked root
	Line   int
	Target string
	Reason string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Target, p.Reason)
}

// skipDirs are directories never walked: other people's Markdown, and
// Go's conventions for files that are not part of the tree's own docs.
var skipDirs = map[string]bool{".git": true, "node_modules": true, "vendor": true, "testdata": true}

var (
	fenceRE    = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	codeSpanRE = regexp.MustCompile("(`+)[^`]*?(`+)")
	// [text](target "title") and ![alt](target); the text may span lines
	// and hold one level of brackets.
	linkRE    = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`)
	refDefRE  = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	headingRE = regexp.MustCompile(`^ {0,3}#{1,6}(?:\s+(.*?))?\s*$`)
	inlineRE  = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlIDRE  = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	schemeRE  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// prose returns the document with fenced code blocks and inline code spans
// blanked out (newlines kept, so offsets still give line numbers).
func prose(md string) string {
	lines := strings.Split(md, "\n")
	var fence string
	for i, l := range lines {
		if m := fenceRE.FindStringSubmatch(l); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence):
				fence = ""
			}
			lines[i] = ""
			continue
		}
		if fence != "" {
			lines[i] = ""
		}
	}
	return codeSpanRE.ReplaceAllStringFunc(strings.Join(lines, "\n"), func(s string) string {
		return strings.Repeat(" ", len(s)-strings.Count(s, "\n")) + strings.Repeat("\n", strings.Count(s, "\n"))
	})
}

// Links returns every link of a Markdown document outside code, inline
// links and reference definitions alike.
func Links(md string) []Link {
	p := prose(md)
	var links []Link
	add := func(target string, at int) {
		target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
		links = append(links, Link{Target: target, Line: 1 + strings.Count(p[:at], "\n")})
	}
	for _, m := range linkRE.FindAllStringSubmatchIndex(p, -1) {
		add(p[m[2]:m[3]], m[2])
	}
	for _, m := range refDefRE.FindAllStringSubmatchIndex(p, -1) {
		add(p[m[2]:m[3]], m[2])
	}
	return links
}

// Anchors returns the set of #anchors a Markdown document has: one per
// heading, as GitHub makes them (see Slug), with "-1", "-2" … on repeats,
// and any <a name> or <a id>.
func Anchors(md string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	p := prose(md)
	for _, l := range strings.Split(md, "\n") {
		for _, m := range htmlIDRE.FindAllStringSubmatch(l, -1) {
			anchors[m[1]] = true
		}
	}
	// Headings are read from the original text, since code spans in a
	// heading count; prose only says which lines are outside fences.
	orig := strings.Split(md, "\n")
	for i, l := range strings.Split(p, "\n") {
		if !headingRE.MatchString(l) {
			continue
		}
		text := headingRE.FindStringSubmatch(orig[i])[1]
		text = strings.TrimRight(strings.TrimRight(text, "#"), " ")
		s := Slug(text)
		if n := seen[s]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			anchors[s] = true
		}
		seen[s]++
	}
	return anchors
}

// Slug is GitHub's anchor for a heading: links are reduced to their text,
// letters are lower-cased, every character that is not a letter, a digit,
// a space, '-' or '_' is dropped, and each space becomes '-'.
func Slug(heading string) string {
	heading = inlineRE.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Check reads every *.md file under root and returns its broken links.
func Check(root string) ([]Problem, error) {
	var problems []Problem
	anchors := map[string]map[string]bool{} // by slash path relative to root
	read := func(rel string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		return string(b), err
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDirs[d.Name()] && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".md") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		md, err := read(rel)
		if err != nil {
			return err
		}
		for _, l := range Links(md) {
			if reason := check(root, rel, l.Target, anchors, read); reason != "" {
				problems = append(problems, Problem{File: rel, Line: l.Line, Target: l.Target, Reason: reason})
			}
		}
		return nil
	})
	return problems, err
}

// check returns why target, a link in the page from, is broken, or "".
func check(root, from, target string, anchors map[string]map[string]bool, read func(string) (string, error)) string {
	if schemeRE.MatchString(target) || strings.HasPrefix(target, "//") {
		return "" // leaves the repository
	}
	file, frag, _ := strings.Cut(target, "#")
	if i := strings.IndexByte(file, '?'); i >= 0 {
		file = file[:i]
	}
	dest := from
	if file != "" {
		if strings.HasPrefix(file, "/") {
			dest = path.Clean(strings.TrimPrefix(file, "/"))
		} else {
			dest = path.Join(path.Dir(from), file)
		}
		if dest == ".." || strings.HasPrefix(dest, "../") {
			return "points outside the repository"
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
			return "no such file or directory"
		}
	}
	if frag == "" || !strings.HasSuffix(dest, ".md") {
		return "" // GitHub's line anchors (#L10) and the like are not checked
	}
	a, ok := anchors[dest]
	if !ok {
		md, err := read(dest)
		if err != nil {
			return err.Error()
		}
		a = Anchors(md)
		anchors[dest] = a
	}
	if !a[frag] {
		return fmt.Sprintf("no heading in %s has the anchor #%s", dest, frag)
	}
	return ""
}
