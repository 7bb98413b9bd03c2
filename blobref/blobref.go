// Package blobref turns the untrusted blob URIs that Fine Uploader sends into
// checked references: a known container and a blob name that can be signed,
// matched against rules and put in a URL without surprises.
//
// Fine Uploader joins its container URL and the raw blob name without
// encoding the name, so a blob URI is never parsed as a URL: it is matched as
// a string against the configured container URLs and the rest is the name.
package blobref

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength is Azure's limit on a blob name, in characters.
const MaxNameLength = 1024

// Name is a blob name that passed ParseName. The zero value is not valid.
type Name string

// ParseName checks a raw, unencoded blob name. It refuses names that are
// empty or too long, hold control characters, invalid UTF-8 or a backslash,
// have an empty, "." or ".." segment (also when percent-decoded), hide an
// encoded separator, or end in "/" or ".". Everything else is legal: spaces,
// '#', '?', '%', '+' and any Unicode.
func ParseName(s string) (Name, error) {
	if err := checkName(s); err != nil {
		return "", err
	}
	// Some software between the page and the blob may decode the name once.
	// It must not turn into a different path when that happens.
	// Each valid escape is decoded on its own: decoders differ on invalid
	// ones, and an invalid "%zz" must not hide a valid "%2e%2e" elsewhere.
	if dec := decodeValidEscapes(s); dec != s {
		if strings.Count(dec, "/") != strings.Count(s, "/") {
			return "", errors.New("blob name holds an encoded path separator")
		}
		if err := checkName(dec); err != nil {
			return "", fmt.Errorf("blob name decodes to an illegal name: %w", err)
		}
	}
	return Name(s), nil
}

// decodeValidEscapes decodes every "%XX" with two hex digits and leaves any
// other "%" as it is.
func decodeValidEscapes(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("blob name is empty")
	case !utf8.ValidString(s):
		return errors.New("blob name is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxNameLength:
		return fmt.Errorf("blob name is longer than %d characters", MaxNameLength)
	case strings.HasSuffix(s, "/"):
		return errors.New("blob name ends in /")
	case strings.HasSuffix(s, "."):
		return errors.New("blob name ends in a dot")
	case strings.ContainsRune(s, '\\'):
		return errors.New(`blob name contains \`)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("blob name contains control character %U", r)
		}
	}
	for seg := range strings.SplitSeq(s, "/") {
		switch seg {
		case "":
			return errors.New("blob name has an empty segment")
		case ".", "..":
			return fmt.Errorf("blob name has a %q segment", seg)
		}
	}
	return nil
}

// Segments returns the name's "/"-separated segments.
func (n Name) Segments() []string { return strings.Split(string(n), "/") }

// Escaped returns the name for a URL path: each segment path-escaped, the
// separators kept.
func (n Name) Escaped() string {
	segs := n.Segments()
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Ref names one blob in one known container.
type Ref struct {
	Container string
	Name      Name
}

func (r Ref) String() string { return r.Container + "/" + string(r.Name) }

// Resolver maps blob URIs and container URLs to references, for the
// containers of one storage endpoint.
type Resolver struct {
	scheme, host, path string // of the endpoint; scheme and host lowercased
	containers         map[string]bool
}

// NewResolver returns a Resolver for the given endpoint (such as
// https://account.blob.core.windows.net or
// http://127.0.0.1:10000/devstoreaccount1) and container names.
func NewResolver(endpoint string, containers []string) (*Resolver, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q is not of the form scheme://host[/path]", endpoint)
	}
	r := &Resolver{
		scheme:     strings.ToLower(u.Scheme),
		host:       strings.ToLower(u.Host),
		path:       strings.TrimSuffix(u.EscapedPath(), "/"),
		containers: make(map[string]bool, len(containers)),
	}
	for _, c := range containers {
		r.containers[c] = true
	}
	return r, nil
}

// Errors of Resolve and Container. ErrUnknownContainer means the URI is in
// no configured container, so it is not one this service signs for.
var (
	ErrUnknownContainer = errors.New("not a blob of a configured container")
)

// Resolve splits a raw blob URI, as Fine Uploader sends it in bloburi, into a
// known container and a checked name. The container URL must match one that
// the service knows, scheme and host case-insensitively, the rest exactly. A
// container URL ending in "/" on the page gives "//" before the name: that
// one extra slash is accepted.
func (r *Resolver) Resolve(blobURI string) (Ref, error) {
	container, rest, ok := r.splitContainer(blobURI)
	if !ok {
		return Ref{}, ErrUnknownContainer
	}
	if !strings.HasPrefix(rest, "/") {
		return Ref{}, ErrUnknownContainer
	}
	rest = strings.TrimPrefix(rest[1:], "/")
	name, err := ParseName(rest)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Container: container, Name: name}, nil
}

// ResolveContainer checks a container URL, as Fine Uploader sends it in the
// upload-success request, and returns the container's name.
func (r *Resolver) ResolveContainer(containerURL string) (string, error) {
	container, rest, ok := r.splitContainer(containerURL)
	if !ok || (rest != "" && rest != "/") {
		return "", ErrUnknownContainer
	}
	return container, nil
}

// splitContainer matches "scheme://host<path>/<container>" at the start of s
// and returns the container and what follows it.
func (r *Resolver) splitContainer(s string) (container, rest string, ok bool) {
	scheme, after, ok := strings.Cut(s, "://")
	if !ok || !strings.EqualFold(scheme, r.scheme) {
		return "", "", false
	}
	if len(after) < len(r.host) || !strings.EqualFold(after[:len(r.host)], r.host) {
		return "", "", false
	}
	after = after[len(r.host):]
	if !strings.HasPrefix(after, r.path+"/") {
		return "", "", false
	}
	after = after[len(r.path)+1:]
	container, rest, _ = strings.Cut(after, "/")
	if !r.containers[container] {
		return "", "", false
	}
	if rest != "" || strings.HasSuffix(after, "/") {
		rest = "/" + rest
	}
	return container, rest, true
}

// URL returns the blob's URL under the endpoint, with the name escaped.
func (r *Resolver) URL(ref Ref) string {
	return r.scheme + "://" + r.host + r.path + "/" + ref.Container + "/" + ref.Name.Escaped()
}
