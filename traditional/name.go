package traditional

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/blobvalet/blobvalet/blobref"
)

// DefaultNameTemplate names each upload by its owner and its uuid.
const DefaultNameTemplate = "users/{user}/{uuid}{ext}"

// Template makes an upload's final name from the uploader, the file's
// uuid and the extension of its file name: {user}, {uuid} and {ext}. The
// uuid makes every upload's name its own, so parallel uploads never share
// a staging blob, and a delete finds the file by its uuid.
type Template struct {
	s string
	// prefix is the template up to {uuid}, without it.
	prefix string
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// ParseTemplate checks a name template: {uuid} exactly once, {user} and
// {ext} at most once each, and nothing else in braces.
func ParseTemplate(s string) (Template, error) {
	seen := map[string]int{}
	for _, m := range placeholder.FindAllString(s, -1) {
		switch m {
		case "{user}", "{uuid}", "{ext}":
			seen[m]++
		default:
			return Template{}, fmt.Errorf("unknown placeholder %s: want {user}, {uuid} and {ext}", m)
		}
	}
	if strings.ContainsAny(placeholder.ReplaceAllString(s, ""), "{}") {
		return Template{}, errors.New("unbalanced { or }")
	}
	if seen["{uuid}"] != 1 || seen["{user}"] > 1 || seen["{ext}"] > 1 {
		return Template{}, errors.New("want {uuid} exactly once and {user} and {ext} at most once")
	}
	i := strings.Index(s, "{uuid}")
	if strings.Contains(s[i:], "{user}") {
		return Template{}, errors.New("{user} must come before {uuid}, so that a delete finds the file by its name's beginning")
	}
	if _, err := blobref.ParseName(strings.NewReplacer("{user}", "u", "{uuid}", "0b472b64-1f67-4a58-add2-09137b37f3e4", "{ext}", ".x").Replace(s)); err != nil {
		return Template{}, err
	}
	return Template{s: s, prefix: s[:i]}, nil
}

// String returns the template as written.
func (t Template) String() string { return t.s }

// extRE is what an extension may be once lower-cased.
var extRE = regexp.MustCompile(`^\.[a-z0-9]{1,16}$`)

// Ext returns the normalised extension of a file name: lower case, a dot
// and 1-16 letters and digits; "" when it has none such.
func Ext(fileName string) string {
	e := strings.ToLower(path.Ext(fileName))
	if !extRE.MatchString(e) {
		return ""
	}
	return e
}

// Name returns the final name of user's upload u of fileName.
func (t Template) Name(user string, u UUID, fileName string) (blobref.Name, error) {
	return blobref.ParseName(strings.NewReplacer("{user}", user, "{uuid}", u.String(), "{ext}", Ext(fileName)).Replace(t.s))
}

// Prefix returns the beginning of the names user's upload u can have:
// the template up to and with the uuid.
func (t Template) Prefix(user string, u UUID) string {
	return strings.ReplaceAll(t.prefix, "{user}", user) + u.String()
}
